package host

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

// fixtures are the fake hosts of testdata/fakehost, relative to this package.
var fixtures = []string{"v1", "v2"}

func fixtureRoot(name string) hostfs.Root {
	return hostfs.At(filepath.Join("..", "..", "..", "testdata", "fakehost", name))
}

// liveRoot is the machine the tests run on.
var liveRoot = hostfs.New(hostfs.DefaultProc, hostfs.DefaultSys, hostfs.DefaultEtc, hostfs.DefaultDocker)

// roots returns the fixture roots that exist, then the live one when /proc is there.
func roots(tb testing.TB) map[string]hostfs.Root {
	tb.Helper()
	m := map[string]hostfs.Root{}
	for _, name := range fixtures {
		r := fixtureRoot(name)
		if _, err := os.Stat(r.Proc("stat")); err == nil {
			m["fakehost/"+name] = r
		} else {
			tb.Logf("fixture %s absent: %v", name, err)
		}
	}
	if _, err := os.Stat(liveRoot.Proc("stat")); err == nil {
		m["live"] = liveRoot
	}
	return m
}

// samples returns the content of the proc file rel (e.g. "meminfo", "1/net/dev")
// of every root that has it, for seeding fuzzers and benchmarks.
func samples(tb testing.TB, rel ...string) map[string][]byte {
	tb.Helper()
	m := map[string][]byte{}
	for name, r := range roots(tb) {
		b, err := os.ReadFile(r.Proc(rel...))
		if err != nil {
			tb.Logf("%s: %v", name, err)
			continue
		}
		m[name] = b
	}
	return m
}

// sample returns one real content of rel for benchmarks: the live one when there
// is, else a fixture's, else fallback.
func sample(tb testing.TB, fallback string, rel ...string) []byte {
	tb.Helper()
	s := samples(tb, rel...)
	if b, ok := s["live"]; ok {
		return b
	}
	for _, b := range s {
		return b
	}
	return []byte(fallback)
}

// errText is err's text, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
