package passwd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

type entry struct {
	UID  uint32
	Name string
}

func parseAll(b []byte) ([]entry, int) {
	var es []entry
	n := Parse(b, func(uid uint32, name []byte) { es = append(es, entry{uid, string(name)}) })
	return es, n
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []entry
		skipped int
	}{
		{
			name: "typical",
			in:   "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
			want: []entry{{0, "root"}, {1, "daemon"}, {65534, "nobody"}},
		},
		{
			name: "empty fields, no trailing newline, CRLF",
			in:   "a::10:::: \r\nb:x:11:11:::\r\nc:x:12:12:::",
			want: []entry{{10, "a"}, {11, "b"}, {12, "c"}},
		},
		{
			name: "blank and comment lines are not counted",
			in:   "\n   \n# a comment\nroot:x:0:0:root:/root:/bin/sh\n\t\n",
			want: []entry{{0, "root"}},
		},
		{
			name: "shell with colons, max uid, non-UTF-8 name",
			in:   "x:x:4294967295:0:::/bin/sh:extra\n\xff\xfe:x:7:7:::\n",
			want: []entry{{4294967295, "x"}, {7, "\xff\xfe"}},
		},
		{
			name: "duplicates are all reported",
			in:   "first:x:5:5:::\nsecond:x:5:5:::\n",
			want: []entry{{5, "first"}, {5, "second"}},
		},
		{
			name:    "malformed",
			in:      "short:x:1\nnouid:x::0:::\n:x:2:2:::\nneg:x:-1:0:::\nbig:x:4294967296:0:::\nhex:x:0x10:0:::\nhuge:x:99999999999999999999999:0:::\n+::::::\n-bad::::::\nfive:x:3:3::\nok:x:9:9:::\n",
			want:    []entry{{9, "ok"}},
			skipped: 10,
		},
		{name: "empty", in: "", want: nil},
		{name: "garbage", in: "\x00\x01\x02\nno colons at all\n:::::::\n", skipped: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, skipped := parseAll([]byte(tt.in))
			if !cmp.Equal(got, tt.want) || skipped != tt.skipped {
				t.Errorf("Parse(%q) = %+v, skipped %d, want %+v, skipped %d", tt.in, got, skipped, tt.want, tt.skipped)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"/etc/passwd", "../../../testdata/fakehost/v1/etc/passwd", "../../../testdata/fakehost/v2/etc/passwd"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{"root:x:0:0:root:/root:/bin/bash\n", "a::1:::::\n", "+::::::", "", "x:x:4294967296:0:::\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, skipped := parseAll(in)
		if lines := strings.Count(string(in), "\n") + 1; len(got)+skipped > lines {
			t.Fatalf("Parse(%q) = %d entries + %d skipped from %d lines", in, len(got), skipped, lines)
		}
		// Well-formed entries print back to a file that parses to the same.
		var b []byte
		for _, e := range got {
			if e.Name == "" || strings.ContainsAny(e.Name, ":\n") {
				t.Fatalf("Parse(%q): bad name %q", in, e.Name)
			}
			b = fmt.Appendf(b, "%s:x:%d:0::/:/bin/sh\n", e.Name, e.UID)
		}
		again, skipped := parseAll(b)
		if !cmp.Equal(again, got) || skipped != 0 {
			t.Fatalf("Parse(%q) = %+v, skipped %d, want %+v (round trip of %q)", b, again, skipped, got, in)
		}
	})
}

// writeRoot makes a host root whose etc/passwd holds content.
func writeRoot(t *testing.T, content string) hostfs.Root {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := hostfs.At(dir)
	if err := os.WriteFile(root.Passwd(), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestLookup(t *testing.T) {
	t.Parallel()
	db, err := New(writeRoot(t, "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:::\nfirst:x:5:5:::\nsecond:x:5:5:::\nbroken\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		uid  uint32
		want string
	}{{0, "root"}, {33, "www"}, {5, "first"}, {1000, "1000"}, {4294967295, "4294967295"}} {
		if got := db.Lookup(tt.uid); got != tt.want {
			t.Errorf("Lookup(%d) = %q, want %q", tt.uid, got, tt.want)
		}
		if a, b := db.Lookup(tt.uid), db.Lookup(tt.uid); unsafe.StringData(a) != unsafe.StringData(b) {
			t.Errorf("Lookup(%d) is not interned", tt.uid)
		}
	}
	if db.Len() != 3 || db.Skipped() != 1 {
		t.Errorf("Len, Skipped = %d, %d, want 3, 1", db.Len(), db.Skipped())
	}
}

func TestLookupAllocs(t *testing.T) {
	db, err := New(writeRoot(t, "root:x:0:0:root:/root:/bin/sh\n"))
	if err != nil {
		t.Fatal(err)
	}
	db.Lookup(4242) // makes the decimal name once
	for _, uid := range []uint32{0, 4242} {
		if n := testing.AllocsPerRun(100, func() { db.Lookup(uid) }); n != 0 {
			t.Errorf("Lookup(%d) allocates %v times per run, want 0", uid, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		if changed, err := db.Refresh(); changed || err != nil {
			t.Fatalf("Refresh() = %v, %v, want false, nil", changed, err)
		}
	}); n != 0 {
		t.Errorf("Refresh of an unchanged file allocates %v times per run, want 0", n)
	}
}

func TestLookupUnknownBounded(t *testing.T) {
	t.Parallel()
	db, _ := New(writeRoot(t, ""))
	for uid := range uint32(3 * maxNums) {
		if got, want := db.Lookup(uid), strconv.Itoa(int(uid)); got != want {
			t.Fatalf("Lookup(%d) = %q, want %q", uid, got, want)
		}
	}
	if len(db.nums) > maxNums {
		t.Errorf("%d decimal names kept, want at most %d", len(db.nums), maxNums)
	}
}

func TestNewMissing(t *testing.T) {
	t.Parallel()
	root := hostfs.At(t.TempDir())
	db, err := New(root)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("New(no passwd) error = %v, want not-exist", err)
	}
	if got := db.Lookup(0); got != "0" {
		t.Errorf("Lookup(0) = %q, want \"0\"", got)
	}
	// The file appears later.
	if err := os.MkdirAll(filepath.Dir(root.Passwd()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root.Passwd(), []byte("root:x:0:0:::\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, err := db.Refresh(); !changed || err != nil {
		t.Fatalf("Refresh() = %v, %v, want true, nil", changed, err)
	}
	if got := db.Lookup(0); got != "root" {
		t.Errorf("Lookup(0) = %q, want \"root\"", got)
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	root := writeRoot(t, "root:x:0:0:::\nalice:x:1000:1000:::\n")
	db, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	alice := db.Lookup(1000)
	refresh := func(step string, wantChanged bool) {
		t.Helper()
		if changed, err := db.Refresh(); changed != wantChanged || err != nil {
			t.Fatalf("%s: Refresh() = %v, %v, want %v, nil", step, changed, err, wantChanged)
		}
	}
	refresh("unchanged", false)

	// Edited in place: a user added (size changes).
	if err := os.WriteFile(root.Passwd(), []byte("root:x:0:0:::\nalice:x:1000:1000:::\nbob:x:1001:1001:::\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refresh("user added", true)
	if got := db.Lookup(1001); got != "bob" {
		t.Errorf("after edit: Lookup(1001) = %q, want bob", got)
	}
	if got := db.Lookup(1000); unsafe.StringData(got) != unsafe.StringData(alice) {
		t.Errorf("after edit: Lookup(1000) = %q was re-made, want the same string", got)
	}
	refresh("unchanged again", false)

	// Replaced by rename with content of the same size (useradd, vipw): the
	// inode tells.
	tmp := root.Passwd() + "+"
	if err := os.WriteFile(tmp, []byte("root:x:0:0:::\ncarol:x:1000:1000:::\nbob:x:1001:1001:::\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, root.Passwd()); err != nil {
		t.Fatal(err)
	}
	refresh("replaced", true)
	if got := db.Lookup(1000); got != "carol" {
		t.Errorf("after replace: Lookup(1000) = %q, want carol", got)
	}

	// Same size, same inode, new mtime.
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(root.Passwd(), future, future); err != nil {
		t.Fatal(err)
	}
	refresh("mtime", true)

	// Removed: the names stay, the error says why.
	if err := os.Remove(root.Passwd()); err != nil {
		t.Fatal(err)
	}
	if changed, err := db.Refresh(); changed || err == nil {
		t.Errorf("removed: Refresh() = %v, %v, want false and an error", changed, err)
	}
	if got := db.Lookup(1000); got != "carol" {
		t.Errorf("after removal: Lookup(1000) = %q, want carol", got)
	}
}

// TestFixtures checks the fixture hosts' passwd files against a naive reading.
func TestFixtures(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"v1", "v2"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			root := hostfs.At(filepath.Join("..", "..", "..", "testdata", "fakehost", name))
			b, err := os.ReadFile(root.Passwd())
			if err != nil {
				t.Fatalf("fixture: %v", err)
			}
			db, err := New(root)
			if err != nil {
				t.Fatal(err)
			}
			want := naive(string(b))
			if len(want) != db.Len() {
				t.Errorf("Len() = %d, want %d", db.Len(), len(want))
			}
			for uid, name := range want {
				if got := db.Lookup(uid); got != name {
					t.Errorf("Lookup(%d) = %q, want %q", uid, got, name)
				}
			}
		})
	}
}

// naive reads a passwd file with strings.Split, first entry of a uid winning.
func naive(s string) map[uint32]string {
	m := map[uint32]string{}
	for ln := range strings.Lines(s) {
		f := strings.Split(strings.TrimRight(ln, "\n"), ":")
		if len(f) < 7 || f[0] == "" {
			continue
		}
		uid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := m[uint32(uid)]; !dup {
			m[uint32(uid)] = f[0]
		}
	}
	return m
}

// TestLive compares with os/user on this machine's /etc/passwd.
func TestLive(t *testing.T) {
	t.Parallel()
	root := hostfs.New(hostfs.DefaultProc, hostfs.DefaultSys, hostfs.DefaultEtc, hostfs.DefaultDocker)
	db, err := New(root)
	if err != nil {
		testenv.Skip(t, "no live passwd: %v", err)
	}
	b, _ := os.ReadFile(root.Passwd())
	for uid := range naive(string(b)) {
		u, err := user.LookupId(strconv.Itoa(int(uid)))
		if err != nil {
			t.Errorf("user.LookupId(%d): %v", uid, err)
			continue
		}
		if got := db.Lookup(uid); got != u.Username {
			t.Errorf("Lookup(%d) = %q, os/user says %q", uid, got, u.Username)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	db, _ := New(hostfs.New(hostfs.DefaultProc, hostfs.DefaultSys, hostfs.DefaultEtc, hostfs.DefaultDocker))
	for _, uid := range []uint32{0, 123456} {
		b.Run(strconv.Itoa(int(uid)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				db.Lookup(uid)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	in, err := os.ReadFile("/etc/passwd")
	if err != nil {
		in = []byte("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		Parse(in, func(uint32, []byte) {})
	}
}

func BenchmarkRefreshUnchanged(b *testing.B) {
	db, err := New(hostfs.New(hostfs.DefaultProc, hostfs.DefaultSys, hostfs.DefaultEtc, hostfs.DefaultDocker))
	if err != nil {
		b.Skip(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Refresh(); err != nil {
			b.Fatal(err)
		}
	}
}
