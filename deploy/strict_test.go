package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// encoding/json matches an object key to a struct field by the field's json tag,
// else by its Go name, and accepts a case-insensitive match when no exact one
// exists. The ECS SDK's types have no json tags, so "mountPoints" decodes into
// MountPoints — as would "MOUNTPOINTS", which ECS itself rejects.
// DisallowUnknownFields refuses keys matching no field at all (a misspelling);
// exactKeys refuses the case-only matches, against the spelling the API uses.

// apiName is the ECS API's JSON spelling of an SDK field: the Smithy member
// name, which the Go field upper-cases at its first letter.
func apiName(goName string) string { return strings.ToLower(goName[:1]) + goName[1:] }

// cfnName is CloudFormation's spelling: the Go field name itself.
func cfnName(goName string) string { return goName }

// decodeStrict decodes one JSON value from b into v (a pointer to an SDK type),
// refusing unknown fields, trailing data and keys that name a field only
// case-insensitively under the spelling name gives.
func decodeStrict(b []byte, v any, name func(string) string) error {
	dec := newStrictDecoder(b)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("decode: trailing data after the value")
	}
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return exactKeys(raw, reflect.TypeOf(v), "", name)
}

// newStrictDecoder is encoding/json's own strictness: unknown fields refused.
func newStrictDecoder(b []byte) *json.Decoder {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec
}

// exactKeys walks raw (decoded into any) beside t and reports the first object
// key that is not exactly name(field) for a field of the struct it decodes into.
func exactKeys(raw any, t reflect.Type, path string, name func(string) string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, _ := raw.(map[string]any) // a type mismatch was json's to report
		for k, v := range obj {
			f, ok := fieldSpelled(t, k, name)
			if !ok {
				return fmt.Errorf("%s.%s: %s has no field spelled %q (case matters)", path, k, t, k)
			}
			if err := exactKeys(v, f.Type, path+"."+k, name); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		arr, _ := raw.([]any)
		for i, v := range arr {
			if err := exactKeys(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i), name); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, _ := raw.(map[string]any)
		for k, v := range obj {
			if err := exactKeys(v, t.Elem(), path+"."+k, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func fieldSpelled(t reflect.Type, key string, name func(string) string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() && name(f.Name) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
