package config

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseFile: any file text gives values or an error, never a panic, and
// every value it returns belongs to a known key.
func FuzzParseFile(f *testing.F) {
	for _, name := range []string{"datadog.yaml", "typo.yaml", "bad_values.yaml", "list.yaml"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var warnings []string
		vals, _ := parseFile(b, "fuzz.yaml", &warnings)
		for k := range vals {
			if settingByYAML(k) == nil {
				t.Errorf("parseFile returned unknown key %q", k)
			}
		}
	})
}

// FuzzLoadEnv: any value of any variable loads or fails with an error that
// does not contain the API key.
func FuzzLoadEnv(f *testing.F) {
	const canary = "c4a7a1c4a7a1c4a7a1c4a7a1c4a7f00d"
	f.Add(uint8(0), "verbose")
	f.Add(uint8(3), "http://u:p@h:1")
	f.Add(uint8(20), "name:(")
	f.Fuzz(func(t *testing.T, i uint8, v string) {
		names := allEnvNames()
		env := []string{"DD_API_KEY=" + canary, names[int(i)%len(names)] + "=" + v}
		c, err := Load(Sources{Env: env})
		if err != nil && strings.Contains(err.Error(), canary) {
			t.Errorf("error leaks the key: %v", err)
		}
		if err == nil && c == nil {
			t.Error("Load returned neither a Config nor an error")
		}
	})
}
