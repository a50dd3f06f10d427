package host

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const statModern = `cpu  4237 0 1130 33822 868 0 52 8 0 0
cpu0 1884 0 464 17656 38 0 16 6 0 0
cpu1 2352 0 665 16166 830 0 36 2 0 0
intr 190593 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 1 15
ctxt 355922
btime 1795694209
processes 4540
procs_running 1
procs_blocked 0
softirq 93315 0 7211 4 2109 40436 0 85 26511 0 16959
`

const statAll = StatCtxt | StatBtime | StatProcesses | StatProcsRunning | StatProcsBlocked

func TestParseStat(t *testing.T) {
	t.Parallel()
	modern := Stat{
		CPU:       CPU{User: 4237, System: 1130, Idle: 33822, Iowait: 868, SoftIRQ: 52, Steal: 8},
		CPUFields: 10, NumCPU: 2,
		Ctxt: 355922, Btime: 1795694209, Processes: 4540, ProcsRunning: 1,
		Has: statAll,
	}
	tests := []struct {
		name string
		in   string
		want Stat
		err  string
	}{
		{name: "modern", in: statModern, want: modern},
		{name: "no trailing newline", in: statModern[:len(statModern)-1], want: modern},
		{
			// Linux 2.6.11–2.6.23: steal but no guest.
			name: "2.6.11 cpu line",
			in:   "cpu  1 2 3 4 5 6 7 8\ncpu0 1 2 3 4 5 6 7 8\nctxt 9\nbtime 10\n",
			want: Stat{CPU: CPU{1, 2, 3, 4, 5, 6, 7, 8, 0, 0}, CPUFields: 8, NumCPU: 1, Ctxt: 9, Btime: 10, Has: StatCtxt | StatBtime},
		},
		{
			name: "2.4 cpu line",
			in:   "cpu  1 2 3 4\ncpu0 1 2 3 4\ncpu1 1 2 3 4\ncpu2 1 2 3 4\n",
			want: Stat{CPU: CPU{User: 1, Nice: 2, System: 3, Idle: 4}, CPUFields: 4, NumCPU: 3},
		},
		{
			name: "extra and unknown fields",
			in:   "cpu  1 2 3 4 5 6 7 8 9 10 11 12\nfuture_key 1 2\ncpu0 x\ncpufreq 7\ncpuX 1\nctxt 5 6\n",
			want: Stat{CPU: CPU{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, CPUFields: 10, NumCPU: 1, Ctxt: 5, Has: StatCtxt},
		},
		{
			name: "tabs and spaces",
			in:   "cpu\t1  2\t3 4 5 6 7\t\nprocs_running\t\t3\n",
			want: Stat{CPU: CPU{1, 2, 3, 4, 5, 6, 7, 0, 0, 0}, CPUFields: 7, ProcsRunning: 3, Has: StatProcsRunning},
		},
		{
			name: "max uint64",
			in:   "cpu  18446744073709551615 0 0 0\nctxt 18446744073709551615\n",
			want: Stat{CPU: CPU{User: 1<<64 - 1}, CPUFields: 4, Ctxt: 1<<64 - 1, Has: StatCtxt},
		},
		{
			name: "non-UTF-8 unknown line",
			in:   "\xff\xfe 1 2\ncpu  1 2 3 4\n",
			want: Stat{CPU: CPU{User: 1, Nice: 2, System: 3, Idle: 4}, CPUFields: 4},
		},
		{name: "empty", in: "", err: "stat: cpu: missing"},
		{name: "only newlines", in: "\n\n\n", err: "stat: cpu: missing"},
		{name: "no aggregate line", in: "cpu0 1 2 3 4\nctxt 1\n", err: "stat: cpu: missing"},
		{name: "truncated cpu line", in: "cpu  1 2", err: "stat: cpu: system: missing"},
		{name: "empty cpu line", in: "cpu\n", err: "stat: cpu: user: missing"},
		{name: "garbage time", in: "cpu  1 x 3 4\n", err: `stat: cpu: nice: invalid value "x"`},
		{name: "negative", in: "cpu  1 2 3 -4\n", err: `stat: cpu: idle: invalid value "-4"`},
		{name: "overflow", in: "cpu  1 2 3 4\nctxt 18446744073709551616\n", err: `stat: ctxt: value out of range "18446744073709551616"`},
		{name: "huge", in: "cpu  1 2 3 4\nbtime 999999999999999999999999999999\n", err: `stat: btime: value out of range "999999999999999999999999999999"`},
		{name: "non-UTF-8 value", in: "cpu  1 2 3 4\nprocesses \xff\xfe\n", err: `stat: processes: invalid value "\xff\xfe"`},
		{name: "missing value", in: "cpu  1 2 3 4\nprocs_blocked\n", err: "stat: procs_blocked: missing"},
		{name: "float", in: "cpu  1.5 2 3 4\n", err: `stat: cpu: user: invalid value "1.5"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Stat
			err := ParseStat([]byte(tt.in), &got)
			if errText(err) != tt.err {
				t.Fatalf("ParseStat(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("ParseStat(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseStatAllocs(t *testing.T) {
	b := sample(t, statModern, "stat")
	var s Stat
	if n := testing.AllocsPerRun(100, func() {
		if err := ParseStat(b, &s); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ParseStat allocates %v times per run, want 0", n)
	}
}

func BenchmarkParseStat(b *testing.B) {
	in := sample(b, statModern, "stat")
	var s Stat
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if err := ParseStat(in, &s); err != nil {
			b.Fatal(err)
		}
	}
}

// formatStat prints s as the kernel would.
func formatStat(s *Stat) []byte {
	v := [...]uint64{s.CPU.User, s.CPU.Nice, s.CPU.System, s.CPU.Idle, s.CPU.Iowait,
		s.CPU.IRQ, s.CPU.SoftIRQ, s.CPU.Steal, s.CPU.Guest, s.CPU.GuestNice}
	b := []byte("cpu ")
	for _, x := range v[:s.CPUFields] {
		b = strconv.AppendUint(append(b, ' '), x, 10)
	}
	b = append(b, '\n')
	for i := range s.NumCPU {
		b = strconv.AppendInt(append(b, "cpu"...), int64(i), 10)
		b = append(b, " 0 0 0 0\n"...)
	}
	for _, kv := range []struct {
		bit StatField
		key string
		v   uint64
	}{
		{StatCtxt, "ctxt", s.Ctxt}, {StatBtime, "btime", s.Btime}, {StatProcesses, "processes", s.Processes},
		{StatProcsRunning, "procs_running", s.ProcsRunning}, {StatProcsBlocked, "procs_blocked", s.ProcsBlocked},
	} {
		if s.Has&kv.bit != 0 {
			b = strconv.AppendUint(append(b, kv.key+" "...), kv.v, 10)
			b = append(b, '\n')
		}
	}
	return b
}

func FuzzParseStat(f *testing.F) {
	for _, b := range samples(f, "stat") {
		f.Add(b)
	}
	for _, s := range []string{statModern, "cpu  1 2 3 4\n", "cpu 1 2 3 4 5 6 7 8 9 10 11\ncpu0\nctxt 1", "", "cpu  18446744073709551616"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var s Stat
		if ParseStat(in, &s) != nil {
			return
		}
		if s.CPUFields < 4 || s.CPUFields > 10 {
			t.Fatalf("ParseStat(%q) = %+v: CPUFields out of [4, 10]", in, s)
		}
		out := formatStat(&s)
		var again Stat
		if err := ParseStat(out, &again); err != nil || again != s {
			t.Fatalf("ParseStat(%q) = %+v, %v, want %+v (round trip of %q)", out, again, err, s, in)
		}
	})
}

func TestFormatStatRoundTrip(t *testing.T) {
	t.Parallel()
	var s Stat
	if err := ParseStat([]byte(statModern), &s); err != nil {
		t.Fatal(err)
	}
	var again Stat
	if err := ParseStat(formatStat(&s), &again); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, again); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}
