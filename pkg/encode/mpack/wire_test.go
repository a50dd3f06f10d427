package mpack

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

func TestCodes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		ours, lib byte
	}{
		{"PosFixedNumHigh", codePosFixHigh, msgpcode.PosFixedNumHigh}, {"NegFixedNumLow", codeNegFixLow, msgpcode.NegFixedNumLow},
		{"FixedArrayLow", codeFixArray, msgpcode.FixedArrayLow}, {"FixedStrLow", codeFixStr, msgpcode.FixedStrLow},
		{"Bin8", codeBin8, msgpcode.Bin8}, {"Bin16", codeBin16, msgpcode.Bin16}, {"Bin32", codeBin32, msgpcode.Bin32},
		{"Float", codeFloat32, msgpcode.Float}, {"Double", codeFloat64, msgpcode.Double},
		{"Uint8", codeUint8, msgpcode.Uint8}, {"Uint16", codeUint16, msgpcode.Uint16},
		{"Uint32", codeUint32, msgpcode.Uint32}, {"Uint64", codeUint64, msgpcode.Uint64},
		{"Int8", codeInt8, msgpcode.Int8}, {"Int16", codeInt16, msgpcode.Int16},
		{"Int32", codeInt32, msgpcode.Int32}, {"Int64", codeInt64, msgpcode.Int64},
		{"Str8", codeStr8, msgpcode.Str8}, {"Str16", codeStr16, msgpcode.Str16}, {"Str32", codeStr32, msgpcode.Str32},
		{"Array16", codeArray16, msgpcode.Array16}, {"Array32", codeArray32, msgpcode.Array32},
	} {
		if c.ours != c.lib {
			t.Errorf("code %s = 0x%02x, msgpcode has 0x%02x", c.name, c.ours, c.lib)
		}
	}
}

var (
	wireInts = []int64{0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	wireLens    = []int{0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536}
	wireFloats  = []float64{0, math.Copysign(0, -1), 1.5, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64}
	wireStrings = []string{"", "a", strings.Repeat("é", 20), strings.Repeat("x", 255), strings.Repeat("y", 256), strings.Repeat("z", 65536)}
)

// TestWireMatchesLibrary: the append functions write what msgpack.Encoder
// writes, and the reader reads back what either wrote.
func TestWireMatchesLibrary(t *testing.T) {
	t.Parallel()
	var lib bytes.Buffer
	enc := msgpack.NewEncoder(&lib)
	var ours []byte
	check := func(what string) {
		t.Helper()
		if !bytes.Equal(ours, lib.Bytes()) {
			t.Fatalf("%s: wrote % x, msgpack.Encoder wrote % x", what, ours, lib.Bytes())
		}
	}
	for _, v := range wireInts {
		ours = appendInt(ours, v)
		_ = enc.EncodeInt(v)
		if v >= 0 {
			ours = appendUint(ours, uint64(v))
			_ = enc.EncodeUint(uint64(v))
		}
	}
	ours = appendUint(ours, math.MaxUint64)
	_ = enc.EncodeUint(math.MaxUint64)
	check("integers")
	for _, n := range wireLens {
		ours = appendArrayLen(ours, n)
		_ = enc.EncodeArrayLen(n)
	}
	check("array lengths")
	for _, f := range wireFloats {
		ours = appendF64(ours, f)
		_ = enc.EncodeFloat64(f)
		ours = appendF32(ours, float32(f))
		_ = enc.EncodeFloat32(float32(f))
	}
	check("floats")
	for _, s := range wireStrings {
		ours = appendText(ours, s)
		_ = enc.EncodeString(s)
		ours = appendText(ours, s+"\xff")
		_ = enc.EncodeBytes([]byte(s + "\xff"))
	}
	check("strings")

	// Read back, including the full-width forms the library writes without
	// compaction: a reader accepts any integer encoding.
	r := reader{b: ours}
	for _, v := range wireInts {
		if got, err := r.int(math.MinInt64, math.MaxInt64); err != nil || got != v {
			t.Fatalf("int: read %d, %v; want %d", got, err, v)
		}
		if v >= 0 {
			if got, err := r.uint(math.MaxUint64); err != nil || got != uint64(v) {
				t.Fatalf("uint: read %d, %v; want %d", got, err, v)
			}
		}
	}
	if got, err := r.uint(math.MaxUint64); err != nil || got != math.MaxUint64 {
		t.Fatalf("uint: read %d, %v; want MaxUint64", got, err)
	}
	for _, n := range wireLens {
		if got, err := r.arrayLen(); err != nil || got != n {
			t.Fatalf("arrayLen: read %d, %v; want %d", got, err, n)
		}
	}
	for _, f := range wireFloats {
		g64, err64 := r.f64()
		g32, err32 := r.f32()
		if err64 != nil || err32 != nil || math.Float64bits(g64) != math.Float64bits(f) || math.Float32bits(g32) != math.Float32bits(float32(f)) {
			t.Fatalf("floats: read %v, %v, %v, %v; want %v", g64, err64, g32, err32, f)
		}
	}
	for _, s := range wireStrings {
		for _, want := range []string{s, s + "\xff"} {
			if got, err := r.text(); err != nil || string(got) != want {
				t.Fatalf("text: read %d bytes, %v; want %d", len(got), err, len(want))
			}
		}
	}
	if r.left() != 0 {
		t.Fatalf("%d bytes left", r.left())
	}

	var full bytes.Buffer
	enc = msgpack.NewEncoder(&full)
	for _, v := range []int64{5, -5, math.MaxInt32} {
		_ = enc.EncodeInt64(v)
		r = reader{b: full.Bytes()}
		if got, err := r.int(math.MinInt64, math.MaxInt64); err != nil || got != v {
			t.Errorf("full-width int64 %d: read %d, %v", v, got, err)
		}
		full.Reset()
	}
}

func TestReaderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		read func(r *reader) error
	}{
		{"uint of negative", "\xff", func(r *reader) error { _, err := r.uint(math.MaxUint64); return err }},
		{"uint above bound", "\xcc\x80", func(r *reader) error { _, err := r.uint(127); return err }},
		{"int of huge uint64", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", func(r *reader) error { _, err := r.int(math.MinInt64, math.MaxInt64); return err }},
		{"int below bound", "\xd0\x80", func(r *reader) error { _, err := r.int(-1, 10); return err }},
		{"int of string", "\xa1x", func(r *reader) error { _, err := r.int(math.MinInt64, math.MaxInt64); return err }},
		{"f64 of f32", "\xca\x00\x00\x00\x00", func(r *reader) error { _, err := r.f64(); return err }},
		{"f32 of int", "\x01", func(r *reader) error { _, err := r.f32(); return err }},
		{"truncated f64", "\xcb\x00", func(r *reader) error { _, err := r.f64(); return err }},
		{"text of nil", "\xc0", func(r *reader) error { _, err := r.text(); return err }},
		{"text longer than input", "\xdb\xff\xff\xff\xffabc", func(r *reader) error { _, err := r.text(); return err }},
		{"array of map", "\x80", func(r *reader) error { _, err := r.arrayLen(); return err }},
		{"truncated array32", "\xdd\x00\x00", func(r *reader) error { _, err := r.arrayLen(); return err }},
		{"empty", "", func(r *reader) error { _, _, err := r.integer(); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &reader{b: []byte(tt.in)}
			if err := tt.read(r); !errors.Is(err, ErrCorrupt) {
				t.Errorf("read %q = %v, want ErrCorrupt", tt.in, err)
			}
		})
	}
}
