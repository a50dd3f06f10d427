package cgroup

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Real file contents (testdata/fakehost/v1 and v2, Linux 6.18).
const (
	v1MemoryStat = `cache 512000
rss 225280
rss_huge 0
shmem 0
mapped_file 0
dirty 0
writeback 0
workingset_refault_anon 0
workingset_refault_file 0
swap 0
swapcached 0
pgpgin 1286
pgpgout 1106
pgfault 1457
pgmajfault 5
inactive_anon 221184
active_anon 4096
inactive_file 20480
active_file 491520
unevictable 0
hierarchical_memory_limit 268435456
hierarchical_memsw_limit 536870912
total_cache 512000
total_rss 225280
total_rss_huge 0
total_shmem 0
total_mapped_file 0
total_dirty 0
total_writeback 0
total_workingset_refault_anon 0
total_workingset_refault_file 0
total_swap 0
total_swapcached 0
total_pgpgin 1286
total_pgpgout 1106
total_pgfault 1457
total_pgmajfault 5
total_inactive_anon 221184
total_active_anon 4096
total_inactive_file 20480
total_active_file 491520
total_unevictable 0
`
	v2MemoryStat = `anon 229376
file 0
kernel 507904
kernel_stack 65536
pagetables 53248
sec_pagetables 0
percpu 7680
sock 0
vmalloc 0
shmem 0
zswap 0
zswapped 0
file_mapped 0
file_dirty 0
file_writeback 0
swapcached 0
anon_thp 0
file_thp 0
shmem_thp 0
inactive_anon 204800
active_anon 24576
inactive_file 0
active_file 0
unevictable 0
slab_reclaimable 127146
slab_unreclaimable 254294
slab 381440
workingset_refault_anon 0
pgfault 1347
pgmajfault 0
pgrefill 0
`
	v1Blkio = `254:0 Read 4702208
254:0 Write 4194304
254:0 Sync 8896512
254:0 Async 0
254:0 Discard 0
254:0 Total 8896512
Total 8896512
`
	v1BlkioOps = `254:0 Read 135
254:0 Write 64
254:0 Sync 199
254:0 Async 0
254:0 Discard 0
254:0 Total 199
Total 199
`
	v2IOStat  = "254:0 rbytes=4194304 wbytes=4194304 rios=64 wios=64 dbytes=0 dios=0\n"
	psiFile   = "some avg10=0.00 avg60=0.00 avg300=0.00 total=56575\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=22093\n"
	v1CPUStat = "nr_periods 4\nnr_throttled 1\nthrottled_time 2500\nnr_bursts 0\nburst_time 0\n"
	v2CPUStat = "usage_usec 108710\nuser_usec 101465\nsystem_usec 7245\nnice_usec 0\nnr_periods 3\nnr_throttled 2\nthrottled_usec 41\nnr_bursts 0\nburst_usec 0\n"
)

const unlimited4K = "9223372036854771712" // (MaxInt64/4096)*4096: no limit on 4 KiB pages

func TestParseValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want uint64
		err  error
	}{
		{"27368318\n", 27368318, nil},
		{"0\n", 0, nil},
		{"18446744073709551615\n", 1<<64 - 1, nil},
		{"18446744073709551616\n", 0, errRange},
		{"", 0, errSyntax},
		{"\n", 0, errSyntax},
		{"-1\n", 0, errSyntax},
		{"12 34\n", 0, errSyntax},
		{"max\n", 0, errSyntax},
		{"\xff\n", 0, errSyntax},
	} {
		got, err := ParseValue([]byte(tc.in))
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("ParseValue(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		want   uint64
		wantOK bool
		err    bool
	}{
		{"max\n", 0, false, false},
		{"536870912\n", 536870912, true, false},
		{"0\n", 0, true, false}, // memory.swap.max 0: no swap, a limit
		{unlimited4K + "\n", 0, false, false},
		{"100\n", 100, true, false},
		{"maximum\n", 0, false, true},
		{"", 0, false, true},
		{"-1\n", 0, false, true},
	} {
		got, ok, err := ParseLimit([]byte(tc.in))
		if got != tc.want || ok != tc.wantOK || (err != nil) != tc.err {
			t.Errorf("ParseLimit(%q) = %d, %v, %v; want %d, %v, error %v", tc.in, got, ok, err, tc.want, tc.wantOK, tc.err)
		}
	}
}

func TestParseQuota(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"-1\n", -1, false},
		{"150000\n", 150000, false},
		{"9223372036854775807\n", 1<<63 - 1, false},
		{"9223372036854775808\n", 0, true},
		{"-2\n", 0, true},
		{"\n", 0, true},
	} {
		got, err := ParseQuota([]byte(tc.in))
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseQuota(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// statsCase is a table row for the parsers that fill a Stats.
type statsCase struct {
	name string
	in   string
	want Stats
	err  bool
}

func runStats(t *testing.T, fn string, parse func([]byte, *Stats) error, cases []statsCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s Stats
			err := parse([]byte(tc.in), &s)
			if (err != nil) != tc.err {
				t.Fatalf("%s(%q) error = %v, want error %v", fn, tc.in, err, tc.err)
			}
			if err != nil {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Errorf("%s(%q) error %T, want *ParseError", fn, tc.in, err)
				}
				return
			}
			if diff := cmp.Diff(tc.want, s, cmp.Comparer(devicesEqual)); diff != "" {
				t.Errorf("%s(%q) = %+v, want %+v (-want +got):\n%s", fn, tc.in, s, tc.want, diff)
			}
		})
	}
}

// devicesEqual treats a nil and an empty device list alike.
func devicesEqual(a, b []IODevice) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseCPUAcctStat(t *testing.T) {
	t.Parallel()
	runStats(t, "ParseCPUAcctStat", ParseCPUAcctStat, []statsCase{
		{"real", "user 11\nsystem 1\n", Stats{CPU: CPUStats{User: 110_000_000, System: 10_000_000}, Has: CPUUser | CPUSystem}, false},
		{"empty", "", Stats{}, false},
		{"only user, no newline", "user 3", Stats{CPU: CPUStats{User: 30_000_000}, Has: CPUUser}, false},
		{"unknown key", "guest 5\nuser 1\n", Stats{CPU: CPUStats{User: 10_000_000}, Has: CPUUser}, false},
		{"no value", "user\n", Stats{}, true},
		{"bad value", "user x\n", Stats{}, true},
		{"overflow on conversion", "user 1844674407371\n", Stats{}, true},
	})
}

func TestParseCPUStat(t *testing.T) {
	t.Parallel()
	runStats(t, "ParseCPUStat", ParseCPUStat, []statsCase{
		{"v1", v1CPUStat, Stats{CPU: CPUStats{Periods: 4, Throttled: 1, ThrottledTime: 2500},
			Has: CPUPeriods | CPUThrottled | CPUThrottledTime}, false},
		{"v2", v2CPUStat, Stats{CPU: CPUStats{Usage: 108_710_000, User: 101_465_000, System: 7_245_000, Periods: 3, Throttled: 2, ThrottledTime: 41_000},
			Has: CPUUsage | CPUUser | CPUSystem | CPUPeriods | CPUThrottled | CPUThrottledTime}, false},
		{"v2 without cpu controller", "usage_usec 5\nuser_usec 3\nsystem_usec 2\n", Stats{CPU: CPUStats{Usage: 5000, User: 3000, System: 2000},
			Has: CPUUsage | CPUUser | CPUSystem}, false},
		{"empty", "", Stats{}, false},
		{"usec overflow", "usage_usec 18446744073709552\n", Stats{}, true},
		{"garbage", "nr_periods\xff 1\n", Stats{}, false}, // an unknown key
		{"bad value", "nr_periods -1\n", Stats{}, true},
		{"no space", "nr_periods\n", Stats{}, true},
	})
}

func TestParseCPUMax(t *testing.T) {
	t.Parallel()
	runStats(t, "ParseCPUMax", ParseCPUMax, []statsCase{
		{"none", "max 100000\n", Stats{CPU: CPUStats{Quota: -1, Period: 100000}, Has: CPUQuota}, false},
		{"1.5 CPUs", "150000 100000\n", Stats{CPU: CPUStats{Quota: 150000, Period: 100000}, Has: CPUQuota}, false},
		{"one field", "max\n", Stats{}, true},
		{"bad period", "max max\n", Stats{}, true},
		{"bad quota", "-5 100000\n", Stats{}, true},
		{"empty", "", Stats{}, true},
	})
}

func TestParseCPUSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want uint32
		err  bool
	}{
		{"0-1\n", 2, false},
		{"0\n", 1, false},
		{"0-3,8,10-11\n", 7, false},
		{"\n", 0, false},
		{"", 0, false},
		{"3-1\n", 0, true},
		{"0-65536\n", 0, true},
		{"0-1,\n", 0, true},
		{",1\n", 0, true},
		{"a-b\n", 0, true},
		{"1--2\n", 0, true},
		{"0-65535,0-65535\n", 0, true},
	} {
		got, err := ParseCPUSet([]byte(tc.in))
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseCPUSet(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseMemoryStatV1(t *testing.T) {
	t.Parallel()
	unlimited := strings.NewReplacer("268435456", unlimited4K, "536870912", unlimited4K).Replace(v1MemoryStat)
	base := MemoryStats{RSS: 225280, Cache: 512000, InactiveFile: 20480, PgFault: 1457, PgMajFault: 5}
	has := MemoryRSS | MemoryCache | MemorySwap | MemoryInactiveFile | MemoryPgFault | MemoryPgMajFault | MemoryLimit | MemorySwapLimit
	limited := base
	limited.Limit, limited.SwapLimit = 268435456, 536870912
	runStats(t, "ParseMemoryStatV1", ParseMemoryStatV1, []statsCase{
		{"real", v1MemoryStat, Stats{Memory: limited, Has: has}, false},
		{"unlimited", unlimited, Stats{Memory: base, Has: has}, false},
		{"no swap accounting", "total_rss 1\nhierarchical_memory_limit 5\n", Stats{Memory: MemoryStats{RSS: 1, Limit: 5}, Has: MemoryRSS | MemoryLimit}, false},
		{"empty", "", Stats{}, false},
		{"truncated", "total_rss", Stats{}, true},
		{"bad value", "total_cache 1x\n", Stats{}, true},
	})
}

func TestParseMemoryStatV2(t *testing.T) {
	t.Parallel()
	has := MemoryRSS | MemoryCache | MemoryInactiveFile | MemoryKernel | MemoryPgFault | MemoryPgMajFault
	runStats(t, "ParseMemoryStatV2", ParseMemoryStatV2, []statsCase{
		{"real", v2MemoryStat, Stats{Memory: MemoryStats{RSS: 229376, Kernel: 507904, PgFault: 1347}, Has: has}, false},
		{"before 5.18: kernel_stack + slab", "anon 1\nkernel_stack 16384\nslab 1000\n",
			Stats{Memory: MemoryStats{RSS: 1, Kernel: 17384}, Has: MemoryRSS | MemoryKernel}, false},
		{"kernel_stack alone", "kernel_stack 16384\n", Stats{}, false},
		{"empty", "", Stats{}, false},
		{"bad value", "anon \n", Stats{}, true},
	})
}

func TestParseMemoryEvents(t *testing.T) {
	t.Parallel()
	runStats(t, "ParseMemoryEvents", ParseMemoryEvents, []statsCase{
		{"v1 oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", Stats{Memory: MemoryStats{OOMKills: 3}, Has: MemoryOOMKills}, false},
		{"v2 memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\nsock_throttled 0\n",
			Stats{Memory: MemoryStats{OOMEvents: 2, OOMKills: 1}, Has: MemoryOOMEvents | MemoryOOMKills}, false},
		{"empty", "", Stats{}, false},
		{"bad", "oom x\n", Stats{}, true},
	})
}

func TestParseBlkio(t *testing.T) {
	t.Parallel()
	bytes := func(b []byte, s *Stats) error { return ParseBlkio(b, false, s) }
	ops := func(b []byte, s *Stats) error { return ParseBlkio(b, true, s) }
	runStats(t, "ParseBlkio(bytes)", bytes, []statsCase{
		{"real", v1Blkio, Stats{IO: IOStats{Devices: []IODevice{{Major: 254, ReadBytes: 4702208, WriteBytes: 4194304}}}, Has: IOBytes}, false},
		{"no throttle rule", "Total 0\n", Stats{Has: IOBytes}, false},
		{"empty", "", Stats{Has: IOBytes}, false},
		{"two devices", "8:0 Read 1\n8:16 Write 2\n8:0 Write 3\nTotal 6\n",
			Stats{IO: IOStats{Devices: []IODevice{{Major: 8, ReadBytes: 1, WriteBytes: 3}, {Major: 8, Minor: 16, WriteBytes: 2}}}, Has: IOBytes}, false},
		{"bad device", "8-0 Read 1\n", Stats{}, true},
		{"truncated", "8:0 Read\n", Stats{}, true},
		{"bad value", "8:0 Read x\n", Stats{}, true},
	})
	runStats(t, "ParseBlkio(ops)", ops, []statsCase{
		{"real", v1BlkioOps, Stats{IO: IOStats{Devices: []IODevice{{Major: 254, ReadOps: 135, WriteOps: 64}}}, Has: IOOps}, false},
	})
	// Both files into one Stats merge per device.
	var s Stats
	if err := ParseBlkio([]byte(v1Blkio), false, &s); err != nil {
		t.Fatal(err)
	}
	if err := ParseBlkio([]byte(v1BlkioOps), true, &s); err != nil {
		t.Fatal(err)
	}
	want := []IODevice{{Major: 254, ReadBytes: 4702208, WriteBytes: 4194304, ReadOps: 135, WriteOps: 64}}
	if diff := cmp.Diff(want, s.IO.Devices); diff != "" {
		t.Errorf("ParseBlkio both files: (-want +got):\n%s", diff)
	}
}

func TestParseIOStat(t *testing.T) {
	t.Parallel()
	runStats(t, "ParseIOStat", ParseIOStat, []statsCase{
		{"real", v2IOStat, Stats{IO: IOStats{Devices: []IODevice{{Major: 254, ReadBytes: 4194304, WriteBytes: 4194304, ReadOps: 64, WriteOps: 64}}}, Has: IOBytes | IOOps}, false},
		{"blkg without I/O", "254:0 \n", Stats{Has: IOBytes | IOOps}, false},
		{"bare device", "254:0\n", Stats{Has: IOBytes | IOOps}, false},
		{"empty", "", Stats{Has: IOBytes | IOOps}, false},
		{"iocost keys", "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0 cost.vrate=100.00 cost.usage=5\n",
			Stats{IO: IOStats{Devices: []IODevice{{Major: 8, ReadBytes: 1, WriteBytes: 2, ReadOps: 3, WriteOps: 4}}}, Has: IOBytes | IOOps}, false},
		{"double space", "8:0  rbytes=1\n", Stats{IO: IOStats{Devices: []IODevice{{Major: 8, ReadBytes: 1}}}, Has: IOBytes | IOOps}, false},
		{"bad device", "x rbytes=1\n", Stats{}, true},
		{"no =", "8:0 rbytes\n", Stats{}, true},
		{"bad value", "8:0 rbytes=-1\n", Stats{}, true},
	})
}

func TestParsePSI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in         string
		some, full uint64
		hasFull    bool
		err        bool
	}{
		{psiFile, 56575, 22093, true, false},
		{"some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n", 7, 0, false, false},
		{"some avg10=1.50 avg60=0.00 avg300=0.00 total=18446744073709551615", 1<<64 - 1, 0, false, false},
		{"", 0, 0, false, true},
		{"full avg10=0.00 total=1\n", 0, 0, false, true},
		{"some avg10=0.00\n", 0, 0, false, true},
		{"some total=x\n", 0, 0, false, true},
		{"some\n", 0, 0, false, true},
	} {
		some, full, hasFull, err := ParsePSI([]byte(tc.in))
		if some != tc.some || full != tc.full || hasFull != tc.hasFull || (err != nil) != tc.err {
			t.Errorf("ParsePSI(%q) = %d, %d, %v, %v; want %d, %d, %v, error %v", tc.in, some, full, hasFull, err, tc.some, tc.full, tc.hasFull, tc.err)
		}
	}
}

func TestWorkingSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		usage, inactive, want uint64
	}{{100, 30, 70}, {30, 100, 0}, {5, 5, 0}} {
		s := Stats{Memory: MemoryStats{Usage: tc.usage, InactiveFile: tc.inactive}, Has: MemoryUsage | MemoryInactiveFile}
		s.finish()
		if s.Memory.WorkingSet != tc.want || !s.Has.Has(MemoryWorkingSet) {
			t.Errorf("working set of usage %d, inactive_file %d = %d (has %v), want %d", tc.usage, tc.inactive, s.Memory.WorkingSet, s.Has.Has(MemoryWorkingSet), tc.want)
		}
	}
	var s Stats
	s.Has = MemoryUsage
	s.finish()
	if s.Has.Has(MemoryWorkingSet) {
		t.Errorf("working set without inactive_file is present")
	}
}

func TestWeightToShares(t *testing.T) {
	t.Parallel()
	// runc converts shares to weight as 1 + (shares-2)*9999/262142; back again.
	for _, tc := range []struct{ weight, shares uint64 }{{0, 0}, {1, 2}, {10, 238}, {100, 2597}, {10000, 262144}} {
		if got := WeightToShares(tc.weight); got != tc.shares {
			t.Errorf("WeightToShares(%d) = %d, want %d", tc.weight, got, tc.shares)
		}
	}
}

// TestParsersNoAllocs: no parser allocates on valid input (IO.Devices at capacity).
func TestParsersNoAllocs(t *testing.T) {
	var (
		in0  = []byte("27368318\n")
		in1  = []byte("max\n")
		in2  = []byte("-1\n")
		in3  = []byte("user 11\nsystem 1\n")
		in4  = []byte(v2CPUStat)
		in5  = []byte("max 100000\n")
		in6  = []byte("0-3,8,10-11\n")
		in7  = []byte(v1MemoryStat)
		in8  = []byte(v2MemoryStat)
		in9  = []byte("oom 1\noom_kill 2\n")
		in10 = []byte(v1Blkio)
		in11 = []byte(v2IOStat)
		in12 = []byte(psiFile)
	)
	var s Stats
	s.IO.Devices = make([]IODevice, 0, 4)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"ParseValue", func() { _, _ = ParseValue(in0) }},
		{"ParseLimit", func() { _, _, _ = ParseLimit(in1) }},
		{"ParseQuota", func() { _, _ = ParseQuota(in2) }},
		{"ParseCPUAcctStat", func() { _ = ParseCPUAcctStat(in3, &s) }},
		{"ParseCPUStat", func() { _ = ParseCPUStat(in4, &s) }},
		{"ParseCPUMax", func() { _ = ParseCPUMax(in5, &s) }},
		{"ParseCPUSet", func() { _, _ = ParseCPUSet(in6) }},
		{"ParseMemoryStatV1", func() { _ = ParseMemoryStatV1(in7, &s) }},
		{"ParseMemoryStatV2", func() { _ = ParseMemoryStatV2(in8, &s) }},
		{"ParseMemoryEvents", func() { _ = ParseMemoryEvents(in9, &s) }},
		{"ParseBlkio", func() { s.IO.Devices = s.IO.Devices[:0]; _ = ParseBlkio(in10, false, &s) }},
		{"ParseIOStat", func() { s.IO.Devices = s.IO.Devices[:0]; _ = ParseIOStat(in11, &s) }},
		{"ParsePSI", func() { _, _, _, _ = ParsePSI(in12) }},
	} {
		if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tc.name, n)
		}
	}
}
