package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/whippet-agent/whippet/pkg/collect/proc"
)

// The fuzz targets assert no panic, errors of the documented type, invariants of
// successful parses and, where a plain strconv/strings version is short, agreement
// with it. Seeds: the table tests' inputs and every file of both fixture hosts that
// the parser reads (`make fuzz` runs each target).

// fixtureFiles returns the contents of every fixture file named name.
func fixtureFiles(f *testing.F, name string) [][]byte {
	f.Helper()
	var out [][]byte
	for _, host := range []string{"v1", "v2"} {
		root := filepath.Join("..", "..", "..", "testdata", "fakehost", host, "sys", "fs", "cgroup")
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && d.Name() == name {
				if b, err := os.ReadFile(path); err == nil {
					out = append(out, b)
				}
			}
			return nil
		})
	}
	return out
}

func seed(f *testing.F, files []string, extra ...string) {
	f.Helper()
	for _, name := range files {
		for _, b := range fixtureFiles(f, name) {
			f.Add(b)
		}
	}
	for _, s := range append(extra, "", "\n", "\xff\xfe", strings.Repeat("9", 40)) {
		f.Add([]byte(s))
	}
}

func isParseError(err error) bool {
	var pe *ParseError
	return errors.As(err, &pe)
}

func trimRef(b []byte) string { return strings.Trim(string(b), " \t\n") }

func FuzzParseValue(f *testing.F) {
	seed(f, []string{"cpuacct.usage", "memory.usage_in_bytes", "memory.current", "pids.current"}, "27368318\n", "-1\n", "18446744073709551616\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseValue(b)
		want, werr := strconv.ParseUint(trimRef(b), 10, 64)
		if (err != nil) != (werr != nil) || (err == nil && got != want) {
			t.Fatalf("ParseValue(%q) = %d, %v; strconv says %d, %v", b, got, err, want, werr)
		}
	})
}

func FuzzParseLimit(f *testing.F) {
	seed(f, []string{"memory.max", "memory.swap.max", "memory.low", "pids.max", "memory.soft_limit_in_bytes"}, "max\n", unlimited4K+"\n", "0\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok, err := ParseLimit(b)
		s := trimRef(b)
		if s == "max" {
			if got != 0 || ok || err != nil {
				t.Fatalf("ParseLimit(%q) = %d, %v, %v; want no limit", b, got, ok, err)
			}
			return
		}
		want, werr := strconv.ParseUint(s, 10, 64)
		if (err != nil) != (werr != nil) {
			t.Fatalf("ParseLimit(%q) error %v; strconv says %v", b, err, werr)
		}
		if err == nil && (ok != (want < unlimitedV1) || (ok && got != want) || (!ok && got != 0)) {
			t.Fatalf("ParseLimit(%q) = %d, %v; strconv says %d", b, got, ok, want)
		}
	})
}

func FuzzParseQuota(f *testing.F) {
	seed(f, []string{"cpu.cfs_quota_us"}, "-1\n", "150000\n", "-2\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseQuota(b)
		s := trimRef(b)
		want, werr := strconv.ParseInt(s, 10, 64)
		if werr == nil && want < -1 || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") && s != "-1" {
			werr = strconv.ErrSyntax // only -1 and non-negative counts are valid
		}
		if (err != nil) != (werr != nil) || (err == nil && got != want) {
			t.Fatalf("ParseQuota(%q) = %d, %v; want %d, %v", b, got, err, want, werr)
		}
	})
}

// refKV parses a flat "key value" file the slow way: the last value of each key.
// Lines for which skip is true are ignored.
func refKV(b []byte, skip func(string) bool) (map[string]string, bool) {
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || skip != nil && skip(line) {
			continue
		}
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			return nil, false
		}
		m[k] = v
	}
	return m, true
}

// fuzzKV checks a flat-keyed parser against refKV: for every key it knows, the
// field holds strconv's value of the last line (times mul), or the parse failed.
func fuzzKV(f *testing.F, name string, parse func([]byte, *Stats) error, fields map[string]func(*Stats) uint64, mul map[string]uint64, skip func(string) bool) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Stats
		err := parse(b, &s)
		if err != nil && !isParseError(err) {
			t.Fatalf("%s(%q) error %T, want *ParseError", name, b, err)
		}
		m, ok := refKV(b, skip)
		if !ok {
			if err == nil {
				t.Fatalf("%s(%q) accepted a line without a space", name, b)
			}
			return
		}
		if err != nil {
			return // a known key with a bad value: the reference agrees below only on success
		}
		for k, get := range fields {
			v, present := m[k]
			if !present {
				continue
			}
			want, werr := strconv.ParseUint(v, 10, 64)
			if werr != nil {
				t.Fatalf("%s(%q) accepted %s %q", name, b, k, v)
			}
			if x := mul[k]; x != 0 {
				want *= x
			}
			if got := get(&s); got != want && !(name == "ParseMemoryStatV1" && strings.HasPrefix(k, "hierarchical_") && want >= unlimitedV1 && got == 0) {
				t.Fatalf("%s(%q) %s = %d, want %d", name, b, k, got, want)
			}
		}
	})
}

func FuzzParseCPUAcctStat(f *testing.F) {
	seed(f, []string{"cpuacct.stat"}, "user 11\nsystem 1\n", "user 1844674407371\n")
	fuzzKV(f, "ParseCPUAcctStat", ParseCPUAcctStat, map[string]func(*Stats) uint64{
		"user":   func(s *Stats) uint64 { return s.CPU.User },
		"system": func(s *Stats) uint64 { return s.CPU.System },
	}, map[string]uint64{"user": userHZNS, "system": userHZNS}, nil)
}

func FuzzParseCPUStat(f *testing.F) {
	seed(f, []string{"cpu.stat"}, v1CPUStat, v2CPUStat)
	fuzzKV(f, "ParseCPUStat", ParseCPUStat, map[string]func(*Stats) uint64{
		"usage_usec":   func(s *Stats) uint64 { return s.CPU.Usage },
		"user_usec":    func(s *Stats) uint64 { return s.CPU.User },
		"system_usec":  func(s *Stats) uint64 { return s.CPU.System },
		"nr_periods":   func(s *Stats) uint64 { return s.CPU.Periods },
		"nr_throttled": func(s *Stats) uint64 { return s.CPU.Throttled },
	}, map[string]uint64{"usage_usec": 1000, "user_usec": 1000, "system_usec": 1000}, nil)
}

func FuzzParseMemoryStatV1(f *testing.F) {
	seed(f, []string{"memory.stat"}, v1MemoryStat)
	fuzzKV(f, "ParseMemoryStatV1", ParseMemoryStatV1, map[string]func(*Stats) uint64{
		"total_rss":                 func(s *Stats) uint64 { return s.Memory.RSS },
		"total_cache":               func(s *Stats) uint64 { return s.Memory.Cache },
		"total_swap":                func(s *Stats) uint64 { return s.Memory.Swap },
		"total_inactive_file":       func(s *Stats) uint64 { return s.Memory.InactiveFile },
		"total_pgfault":             func(s *Stats) uint64 { return s.Memory.PgFault },
		"total_pgmajfault":          func(s *Stats) uint64 { return s.Memory.PgMajFault },
		"hierarchical_memory_limit": func(s *Stats) uint64 { return s.Memory.Limit },
		"hierarchical_memsw_limit":  func(s *Stats) uint64 { return s.Memory.SwapLimit },
	}, nil, func(line string) bool { return line[0] != 't' && line[0] != 'h' })
}

func FuzzParseMemoryStatV2(f *testing.F) {
	seed(f, []string{"memory.stat"}, v2MemoryStat)
	fuzzKV(f, "ParseMemoryStatV2", ParseMemoryStatV2, map[string]func(*Stats) uint64{
		"anon":          func(s *Stats) uint64 { return s.Memory.RSS },
		"file":          func(s *Stats) uint64 { return s.Memory.Cache },
		"inactive_file": func(s *Stats) uint64 { return s.Memory.InactiveFile },
		"kernel":        func(s *Stats) uint64 { return s.Memory.Kernel },
		"pgfault":       func(s *Stats) uint64 { return s.Memory.PgFault },
		"pgmajfault":    func(s *Stats) uint64 { return s.Memory.PgMajFault },
	}, nil, nil)
}

func FuzzParseMemoryEvents(f *testing.F) {
	seed(f, []string{"memory.events", "memory.oom_control"})
	fuzzKV(f, "ParseMemoryEvents", ParseMemoryEvents, map[string]func(*Stats) uint64{
		"oom":      func(s *Stats) uint64 { return s.Memory.OOMEvents },
		"oom_kill": func(s *Stats) uint64 { return s.Memory.OOMKills },
	}, nil, nil)
}

func FuzzParseCPUMax(f *testing.F) {
	seed(f, []string{"cpu.max"}, "max 100000\n", "150000 100000\n", "max\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Stats
		err := ParseCPUMax(b, &s)
		if err != nil {
			if !isParseError(err) {
				t.Fatalf("ParseCPUMax(%q) error %T", b, err)
			}
			return
		}
		q, p, _ := strings.Cut(trimRef(b), " ")
		wantP, perr := strconv.ParseUint(p, 10, 64)
		wantQ := int64(-1)
		var qerr error
		if q != "max" {
			var u uint64
			u, qerr = strconv.ParseUint(q, 10, 63)
			wantQ = int64(u)
		}
		if perr != nil || qerr != nil || s.CPU.Period != wantP || s.CPU.Quota != wantQ || !s.Has.Has(CPUQuota) {
			t.Fatalf("ParseCPUMax(%q) = %d %d; strconv says %d (%v) %d (%v)", b, s.CPU.Quota, s.CPU.Period, wantQ, qerr, wantP, perr)
		}
	})
}

func FuzzParseCPUSet(f *testing.F) {
	seed(f, []string{"cpuset.cpus", "cpuset.cpus.effective"}, "0-3,8,10-11\n", "3-1\n", "0-65535,0-65535\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseCPUSet(b)
		if err != nil && !isParseError(err) {
			t.Fatalf("ParseCPUSet(%q) error %T", b, err)
		}
		// The reference: split on commas, each a number or a range.
		want, ok := uint64(0), true
		if s := trimRef(b); s != "" {
			for _, part := range strings.Split(s, ",") {
				lo, hi, isRange := strings.Cut(part, "-")
				if !isRange {
					hi = lo
				}
				l, err1 := strconv.ParseUint(lo, 10, 64)
				h, err2 := strconv.ParseUint(hi, 10, 64)
				if err1 != nil || err2 != nil || l > h || h >= maxCPU {
					ok = false
					break
				}
				want += h - l + 1
			}
		}
		if want > maxCPU {
			ok = false
		}
		if ok != (err == nil) || (ok && uint64(got) != want) {
			t.Fatalf("ParseCPUSet(%q) = %d, %v; reference %d, valid %v", b, got, err, want, ok)
		}
	})
}

func FuzzParseBlkio(f *testing.F) {
	seed(f, []string{"blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced"}, v1Blkio, v1BlkioOps)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, ops := range []bool{false, true} {
			var s Stats
			if err := ParseBlkio(b, ops, &s); err != nil {
				if !isParseError(err) {
					t.Fatalf("ParseBlkio(%q) error %T", b, err)
				}
				continue
			}
			checkDevices(t, b, &s)
		}
	})
}

func FuzzParseIOStat(f *testing.F) {
	seed(f, []string{"io.stat"}, v2IOStat, "254:0 \n", "8:0 rbytes=1 cost.vrate=100.00\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Stats
		if err := ParseIOStat(b, &s); err != nil {
			if !isParseError(err) {
				t.Fatalf("ParseIOStat(%q) error %T", b, err)
			}
			return
		}
		checkDevices(t, b, &s)
	})
}

// checkDevices: one entry per device, each named in the input.
func checkDevices(t *testing.T, b []byte, s *Stats) {
	t.Helper()
	seen := map[[2]uint32]bool{}
	for _, d := range s.IO.Devices {
		k := [2]uint32{d.Major, d.Minor}
		if seen[k] {
			t.Fatalf("%q: device %d:%d twice", b, d.Major, d.Minor)
		}
		seen[k] = true
		if !strings.Contains(string(b), ":") {
			t.Fatalf("%q: device %d:%d from no major:minor", b, d.Major, d.Minor)
		}
	}
}

func FuzzParsePSI(f *testing.F) {
	seed(f, []string{"cpu.pressure", "memory.pressure", "io.pressure"}, psiFile, "some total=1", "full total=1\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		some, full, hasFull, err := ParsePSI(b)
		if err != nil {
			if !isParseError(err) {
				t.Fatalf("ParsePSI(%q) error %T", b, err)
			}
			return
		}
		// The reference: the last total= of the last some and full lines.
		var wantSome, wantFull uint64
		var sawSome, sawFull bool
		for _, line := range strings.Split(string(b), "\n") {
			kind, rest, _ := strings.Cut(line, " ")
			if kind != "some" && kind != "full" {
				continue
			}
			var v uint64
			for _, kv := range strings.Split(rest, " ") {
				if t, ok := strings.CutPrefix(kv, "total="); ok && t != "" {
					v, _ = strconv.ParseUint(t, 10, 64)
				}
			}
			if kind == "some" {
				wantSome, sawSome = v, true
			} else {
				wantFull, sawFull = v, true
			}
		}
		if !sawSome || some != wantSome || hasFull != sawFull || full != wantFull {
			t.Fatalf("ParsePSI(%q) = %d, %d, %v; reference %d, %d, %v", b, some, full, hasFull, wantSome, wantFull, sawFull)
		}
	})
}

// FuzzLocate feeds /proc/<pid>/cgroup contents to the container path finder.
func FuzzLocate(f *testing.F) {
	for _, host := range []string{"v1", "v2"} {
		dirs, _ := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "fakehost", host, "proc", "*", "cgroup"))
		for _, d := range dirs {
			if b, err := os.ReadFile(d); err == nil {
				f.Add(b)
			}
		}
	}
	for _, tc := range locateCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c proc.Cgroups
		if proc.ParseCgroups(b, &c) != nil {
			return
		}
		for _, m := range []Mode{ModeV1, ModeHybrid, ModeV2} {
			var p Paths
			if err := locate(&c, m, &p); err != nil {
				if !errors.Is(err, ErrNotContainer) && err != ErrNamespace && err != ErrGone {
					t.Fatalf("locate(%q, %v) error %v", b, m, err)
				}
				continue
			}
			if !isID([]byte(p.ID())) || !strings.Contains(p.String(), p.ID()) {
				t.Fatalf("locate(%q, %v) id %q not in %q", b, m, p.ID(), p.String())
			}
			parent := p.Parent()
			for ctl := Controller(0); ctl < NumControllers; ctl++ {
				if d := p.Path(ctl); d != "" && !strings.HasPrefix(d, parent.Path(ctl)) {
					t.Fatalf("locate(%q, %v): parent %q of %q", b, m, parent.Path(ctl), d)
				}
			}
		}
	})
}
