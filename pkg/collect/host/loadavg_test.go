package host

import (
	"strconv"
	"testing"
)

func TestParseLoadavg(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Loadavg
		err  string
	}{
		{name: "typical", in: "0.28 0.18 0.07 1/102 4540\n", want: Loadavg{0.28, 0.18, 0.07, 1, 102, 4540}},
		{name: "busy", in: "123.45 99.00 7.10 64/10523 4194303\n", want: Loadavg{123.45, 99, 7.1, 64, 10523, 4194303}},
		{name: "no newline, extra field", in: "1.00 2.00 3.00 4/5 6 extra", want: Loadavg{1, 2, 3, 4, 5, 6}},
		{name: "integers", in: "1 2 3 4/5 6\n", want: Loadavg{1, 2, 3, 4, 5, 6}},
		{name: "only first line", in: "1.00 2.00 3.00 4/5 6\ngarbage\n", want: Loadavg{1, 2, 3, 4, 5, 6}},
		{name: "empty", in: "", err: "loadavg: load1: missing"},
		{name: "truncated loads", in: "0.28 0.18", err: "loadavg: load15: missing"},
		{name: "truncated tasks", in: "0.28 0.18 0.07 1/", err: `loadavg: total: invalid value ""`},
		{name: "no pid", in: "0.28 0.18 0.07 1/102\n", err: "loadavg: last_pid: missing"},
		{name: "no slash", in: "0.28 0.18 0.07 1 102\n", err: `loadavg: running/total: invalid value "1"`},
		{name: "garbage load", in: "0.2x 0.18 0.07 1/102 4540\n", err: `loadavg: load1: invalid value "0.2x"`},
		{name: "two dots", in: "0.2.8 0.18 0.07 1/102 4540\n", err: `loadavg: load1: invalid value "0.2.8"`},
		{name: "lone dot", in: ". 0.18 0.07 1/102 4540\n", err: `loadavg: load1: invalid value "."`},
		{name: "negative", in: "-1.00 0.18 0.07 1/102 4540\n", err: `loadavg: load1: invalid value "-1.00"`},
		{name: "exponent", in: "1e3 0.18 0.07 1/102 4540\n", err: `loadavg: load1: invalid value "1e3"`},
		{name: "huge pid", in: "0.28 0.18 0.07 1/102 18446744073709551616\n", err: `loadavg: last_pid: value out of range "18446744073709551616"`},
		{name: "non-UTF-8", in: "0.28 0.18 0.07 \xff/102 4540\n", err: `loadavg: running: invalid value "\xff"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Loadavg
			err := ParseLoadavg([]byte(tt.in), &got)
			if errText(err) != tt.err {
				t.Fatalf("ParseLoadavg(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("ParseLoadavg(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseLoadavgAllocs(t *testing.T) {
	b := sample(t, "0.28 0.18 0.07 1/102 4540\n", "loadavg")
	var l Loadavg
	if n := testing.AllocsPerRun(100, func() {
		if err := ParseLoadavg(b, &l); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ParseLoadavg allocates %v times per run, want 0", n)
	}
}

func BenchmarkParseLoadavg(b *testing.B) {
	in := sample(b, "0.28 0.18 0.07 1/102 4540\n", "loadavg")
	var l Loadavg
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseLoadavg(in, &l); err != nil {
			b.Fatal(err)
		}
	}
}

func fmtFloat(b []byte, f float64) []byte { return strconv.AppendFloat(b, f, 'f', -1, 64) }

func formatLoadavg(l *Loadavg) []byte {
	b := fmtFloat(nil, l.Load1)
	b = fmtFloat(append(b, ' '), l.Load5)
	b = fmtFloat(append(b, ' '), l.Load15)
	b = strconv.AppendUint(append(b, ' '), l.Running, 10)
	b = strconv.AppendUint(append(b, '/'), l.Total, 10)
	b = strconv.AppendUint(append(b, ' '), l.LastPID, 10)
	return append(b, '\n')
}

func FuzzParseLoadavg(f *testing.F) {
	for _, b := range samples(f, "loadavg") {
		f.Add(b)
	}
	for _, s := range []string{"0.28 0.18 0.07 1/102 4540\n", "1 2 3 4/5 6", "12345678901234567890.5 0 0 0/0 0", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var l Loadavg
		if ParseLoadavg(in, &l) != nil {
			return
		}
		// Every load we accept is the value strconv gives for the same text.
		first, _ := line(in)
		rest := first
		for i, want := range []float64{l.Load1, l.Load5, l.Load15} {
			var f []byte
			f, rest = field(rest)
			if v, err := strconv.ParseFloat(string(f), 64); err != nil || v != want {
				t.Fatalf("ParseLoadavg(%q): load %d = %v, strconv.ParseFloat(%q) = %v, %v", in, i, want, f, v, err)
			}
		}
		out := formatLoadavg(&l)
		var again Loadavg
		if err := ParseLoadavg(out, &again); err != nil || again != l {
			t.Fatalf("ParseLoadavg(%q) = %+v, %v, want %+v (round trip of %q)", out, again, err, l, in)
		}
	})
}
