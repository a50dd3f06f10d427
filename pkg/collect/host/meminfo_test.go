package host

import (
	"strconv"
	"testing"
)

const meminfoModern = `MemTotal:       24683652 kB
MemFree:        23768908 kB
MemAvailable:   24321808 kB
Buffers:           16848 kB
Cached:           713608 kB
SwapCached:            0 kB
Active:           217708 kB
Inactive(file):   505320 kB
SwapTotal:       2097148 kB
SwapFree:        2097000 kB
Shmem:              8956 kB
KReclaimable:      77060 kB
Slab:             100780 kB
SReclaimable:      77060 kB
SUnreclaim:        23720 kB
PageTables:         2272 kB
CommitLimit:    12341824 kB
Committed_AS:     327332 kB
VmallocTotal:   34359738367 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`

func TestParseMeminfo(t *testing.T) {
	t.Parallel()
	const k = 1024
	modern := Meminfo{
		Total: 24683652 * k, Free: 23768908 * k, Available: 24321808 * k,
		Buffers: 16848 * k, Cached: 713608 * k, Shmem: 8956 * k,
		Slab: 100780 * k, SReclaimable: 77060 * k, PageTables: 2272 * k,
		CommitLimit: 12341824 * k, CommittedAS: 327332 * k,
		SwapTotal: 2097148 * k, SwapFree: 2097000 * k,
		Has: memAll,
	}
	tests := []struct {
		name string
		in   string
		want Meminfo
		err  string
	}{
		{name: "modern", in: meminfoModern, want: modern},
		{
			// Before 3.14 there is no MemAvailable.
			name: "3.10 without MemAvailable",
			in:   "MemTotal:  100 kB\nMemFree:  50 kB\nBuffers: 1 kB\nCached: 2 kB\n",
			want: Meminfo{Total: 100 * k, Free: 50 * k, Buffers: k, Cached: 2 * k, Has: MemTotal | MemFree | MemBuffers | MemCached},
		},
		{
			name: "no unit is bytes",
			in:   "MemTotal: 100\nMemFree: 7\n",
			want: Meminfo{Total: 100, Free: 7, Has: MemTotal | MemFree},
		},
		{
			name: "unknown and malformed unknown lines skipped",
			in:   "Future(x):  zz kB\nno colon here\nMemTotal: 1 kB\n:\nMemFree: 2 kB extra\n",
			want: Meminfo{Total: k, Free: 2 * k, Has: MemTotal | MemFree},
		},
		{
			name: "max kB",
			in:   "MemTotal: 18014398509481983 kB\nMemFree: 0 kB\n",
			want: Meminfo{Total: 18014398509481983 * k, Has: MemTotal | MemFree},
		},
		{name: "empty", in: "", err: "meminfo: MemTotal: missing"},
		{name: "no MemFree", in: "MemTotal: 1 kB\n", err: "meminfo: MemFree: missing"},
		{name: "garbage", in: "MemTotal: x kB\n", err: `meminfo: MemTotal: invalid value "x"`},
		{name: "truncated", in: "MemTotal: 1 kB\nMemFree:", err: "meminfo: MemFree: missing"},
		{name: "bad unit", in: "MemTotal: 1 MB\n", err: `meminfo: MemTotal: unit: invalid value "MB"`},
		{name: "kB overflow", in: "MemTotal: 18014398509481984 kB\n", err: `meminfo: MemTotal: value out of range "18014398509481984"`},
		{name: "huge", in: "SwapFree: 123456789012345678901234567890 kB\n", err: `meminfo: SwapFree: value out of range "123456789012345678901234567890"`},
		{name: "non-UTF-8", in: "MemTotal: 1 kB\nMemFree: \xc3\x28 kB\n", err: `meminfo: MemFree: invalid value "\xc3("`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Meminfo
			err := ParseMeminfo([]byte(tt.in), &got)
			if errText(err) != tt.err {
				t.Fatalf("ParseMeminfo(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("ParseMeminfo(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseMeminfoAllocs(t *testing.T) {
	b := sample(t, meminfoModern, "meminfo")
	var m Meminfo
	if n := testing.AllocsPerRun(100, func() {
		if err := ParseMeminfo(b, &m); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ParseMeminfo allocates %v times per run, want 0", n)
	}
}

func BenchmarkParseMeminfo(b *testing.B) {
	in := sample(b, meminfoModern, "meminfo")
	var m Meminfo
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if err := ParseMeminfo(in, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// formatMeminfo prints m as the kernel would; values that are not whole kB are
// printed without a unit.
func formatMeminfo(m *Meminfo) []byte {
	var b []byte
	for _, kv := range []struct {
		bit MemField
		key string
		v   uint64
	}{
		{MemTotal, "MemTotal", m.Total}, {MemFree, "MemFree", m.Free}, {MemAvailable, "MemAvailable", m.Available},
		{MemBuffers, "Buffers", m.Buffers}, {MemCached, "Cached", m.Cached}, {MemSwapCached, "SwapCached", m.SwapCached},
		{MemShmem, "Shmem", m.Shmem}, {MemSlab, "Slab", m.Slab}, {MemSReclaimable, "SReclaimable", m.SReclaimable},
		{MemPageTables, "PageTables", m.PageTables}, {MemCommitLimit, "CommitLimit", m.CommitLimit},
		{MemCommittedAS, "Committed_AS", m.CommittedAS}, {MemSwapTotal, "SwapTotal", m.SwapTotal},
		{MemSwapFree, "SwapFree", m.SwapFree},
	} {
		if m.Has&kv.bit == 0 {
			continue
		}
		b = append(b, kv.key+":    "...)
		if kv.v%1024 == 0 {
			b = append(strconv.AppendUint(b, kv.v/1024, 10), " kB\n"...)
		} else {
			b = append(strconv.AppendUint(b, kv.v, 10), '\n')
		}
	}
	return b
}

func FuzzParseMeminfo(f *testing.F) {
	for _, b := range samples(f, "meminfo") {
		f.Add(b)
	}
	for _, s := range []string{meminfoModern, "MemTotal: 1 kB\nMemFree: 2\n", "MemTotal: 18014398509481984 kB", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var m Meminfo
		if ParseMeminfo(in, &m) != nil {
			return
		}
		out := formatMeminfo(&m)
		var again Meminfo
		if err := ParseMeminfo(out, &again); err != nil || again != m {
			t.Fatalf("ParseMeminfo(%q) = %+v, %v, want %+v (round trip of %q)", out, again, err, m, in)
		}
	})
}
