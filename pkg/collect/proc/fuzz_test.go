package proc

import (
	"bytes"
	"testing"
)

// The fuzz targets assert no panic, errors of the documented type, and invariants
// of successful parses. Seeds: the table tests' inputs; `make fuzz` also loads the
// fixture's real files through testdata/fuzz.

func FuzzParseStat(f *testing.F) {
	for _, s := range []string{kthreadStat, catStat, "4242 (a) b\nc) (x) S 1 2 3 4 5 6 7 8 9 10 11 12 -13 -14 -2 -20 3 0 99 4096 7 100\n", "", "1 ()"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Stat
		if err := ParseStat(b, &s); err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("ParseStat(%q) error %T, want *ParseError", b, err)
			}
			return
		}
		open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		want := b[open+1 : closing]
		if len(want) > CommSize {
			want = want[:CommSize]
		}
		if !bytes.Equal(s.CommBytes(), want) {
			t.Fatalf("ParseStat(%q) comm = %q, want %q", b, s.CommBytes(), want)
		}
		if s.State == 0 {
			t.Fatalf("ParseStat(%q) accepted without a state", b)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{catStatus, kthreadStatus, "State:\tZ\nUid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\n", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Status
		if err := ParseStatus(b, &s); err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("ParseStatus(%q) error %T, want *ParseError", b, err)
			}
			return
		}
		if s.Has&(StatusState|StatusUID|StatusGID) != StatusState|StatusUID|StatusGID {
			t.Fatalf("ParseStatus(%q) accepted without State/Uid/Gid: %+v", b, s)
		}
	})
}

// FuzzParseStatusSample checks the per-cycle parser against the full one: whenever
// both succeed they agree.
func FuzzParseStatusSample(f *testing.F) {
	for _, s := range []string{catStatus, kthreadStatus, "x\nUid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\nvoluntary_ctxt_switches:\t1\nnonvoluntary_ctxt_switches:\t2"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s StatusSample
		err := ParseStatusSample(b, &s)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("ParseStatusSample(%q) error %T", b, err)
			}
			return
		}
		var full Status
		if ParseStatus(b, &full) != nil || bytes.Count(b, []byte("Uid:")) != 1 || bytes.Count(b, []byte("Gid:")) != 1 ||
			bytes.Count(b, []byte("voluntary_ctxt_switches:")) != 2 || bytes.Count(b, []byte("VmSwap:")) > 1 || b[0] == 'U' || b[0] == 'G' {
			return // only compare unambiguous, well-formed files
		}
		if full.UID != s.UID || full.GID != s.GID || full.VolCtxt != s.VolCtxt || full.NonVolCtxt != s.NonVolCtxt || full.VmSwap != s.VmSwap {
			t.Fatalf("ParseStatusSample(%q) = %+v, ParseStatus = %+v", b, s, full)
		}
	})
}

func FuzzParseStatm(f *testing.F) {
	f.Add([]byte("765 421 393 5 0 123 0\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Statm
		if err := ParseStatm(b, &s); err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("ParseStatm(%q) error %T", b, err)
			}
		}
	})
}

func FuzzParseIO(f *testing.F) {
	f.Add([]byte("rchar: 6976\nwchar: 1\nsyscr: 10\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 3\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s IO
		if err := ParseIO(b, &s); err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("ParseIO(%q) error %T", b, err)
			}
		}
	})
}

func FuzzParseCgroups(f *testing.F) {
	f.Add([]byte("9:name=systemd:/docker/abc\n4:memory:/ecs/t/abc\n0::/system.slice/docker-abc.scope\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Cgroups
		if err := ParseCgroups(b, &c); err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("ParseCgroups(%q) error %T", b, err)
			}
			return
		}
		for _, l := range c.Lines {
			if bytes.IndexByte(l.Path, '\n') >= 0 {
				t.Fatalf("ParseCgroups(%q): path %q spans lines", b, l.Path)
			}
		}
	})
}

func FuzzArgs(f *testing.F) {
	f.Add([]byte("/bin/sh\x00-c\x00sleep 10\x00"))
	f.Add([]byte("nginx: master process /usr/sbin/nginx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		args := Args(b, nil)
		j := AppendJoined(nil, b)
		if bytes.IndexByte(j, 0) >= 0 {
			t.Fatalf("AppendJoined(%q) = %q contains NUL", b, j)
		}
		for _, a := range args {
			if bytes.IndexByte(a, 0) >= 0 {
				t.Fatalf("Args(%q) arg %q contains NUL", b, a)
			}
		}
	})
}

func FuzzParseSchedstat(f *testing.F) {
	f.Add([]byte("112488416 5718439 350\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Schedstat
		if err := ParseSchedstat(b, &s); err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("ParseSchedstat(%q) error %T", b, err)
			}
		}
	})
}
