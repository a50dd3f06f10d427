package main

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/whippet-agent/whippet/pkg/config"
	"github.com/whippet-agent/whippet/pkg/metrics"
)

var update = flag.Bool("update", false, "rewrite README.md's generated sections")

// TestREADMEGenerated keeps README.md's configuration and metric references equal
// to what the code describes (`go test ./cmd/agent -run README -update` rewrites them).
func TestREADMEGenerated(t *testing.T) {
	const path = "../../README.md"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg, met bytes.Buffer
	if err := config.Describe(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := metrics.Markdown(&met); err != nil {
		t.Fatal(err)
	}
	got := string(readme)
	want := got
	for _, sec := range []struct{ name, body string }{{"config", cfg.String()}, {"metrics", met.String()}} {
		begin, end := "<!-- "+sec.name+":begin -->\n", "<!-- "+sec.name+":end -->"
		i, j := strings.Index(want, begin), strings.Index(want, end)
		if i < 0 || j < i {
			t.Fatalf("README.md lacks the %s markers", sec.name)
		}
		want = want[:i+len(begin)] + strings.TrimRight(sec.body, "\n") + "\n" + want[j:]
	}
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's generated sections are stale: go test ./cmd/agent -run README -update")
}
