package host

import (
	"strconv"
	"testing"
)

func TestParseUptime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Uptime
		err  string
	}{
		{name: "typical", in: "201.30 338.23\n", want: Uptime{201.3, 338.23}},
		{name: "long", in: "31536000.99 126144000.01\n", want: Uptime{31536000.99, 126144000.01}},
		{name: "no newline", in: "1.00 2.00", want: Uptime{1, 2}},
		{name: "extra field", in: "1.00 2.00 3.00\n", want: Uptime{1, 2}},
		{name: "many digits", in: "0.1234567890123456789 1\n", want: Uptime{0.1234567890123456789, 1}},
		{name: "empty", in: "", err: "uptime: uptime: missing"},
		{name: "no idle", in: "201.30\n", err: "uptime: idle: missing"},
		{name: "garbage", in: "201.30 abc\n", err: `uptime: idle: invalid value "abc"`},
		{name: "non-UTF-8", in: "\x80 1\n", err: `uptime: uptime: invalid value "\x80"`},
		{name: "leading dot", in: ".5 .25\n", want: Uptime{0.5, 0.25}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Uptime
			err := ParseUptime([]byte(tt.in), &got)
			if errText(err) != tt.err {
				t.Fatalf("ParseUptime(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("ParseUptime(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseUptimeAllocs(t *testing.T) {
	b := sample(t, "201.30 338.23\n", "uptime")
	var u Uptime
	if n := testing.AllocsPerRun(100, func() {
		if err := ParseUptime(b, &u); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ParseUptime allocates %v times per run, want 0", n)
	}
}

func BenchmarkParseUptime(b *testing.B) {
	in := sample(b, "201.30 338.23\n", "uptime")
	var u Uptime
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseUptime(in, &u); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseUptime(f *testing.F) {
	for _, b := range samples(f, "uptime") {
		f.Add(b)
	}
	for _, s := range []string{"201.30 338.23\n", "1 2", "99999999999999999999999.1 0", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var u Uptime
		if ParseUptime(in, &u) != nil {
			return
		}
		first, _ := line(in)
		up, rest := field(first)
		idle, _ := field(rest)
		for _, c := range []struct {
			text []byte
			got  float64
		}{{up, u.Uptime}, {idle, u.Idle}} {
			if v, err := strconv.ParseFloat(string(c.text), 64); err != nil || v != c.got {
				t.Fatalf("ParseUptime(%q) = %+v, strconv.ParseFloat(%q) = %v, %v", in, u, c.text, v, err)
			}
		}
		out := fmtFloat(append(fmtFloat(nil, u.Uptime), ' '), u.Idle)
		var again Uptime
		if err := ParseUptime(out, &again); err != nil || again != u {
			t.Fatalf("ParseUptime(%q) = %+v, %v, want %+v (round trip of %q)", out, again, err, u, in)
		}
	})
}
