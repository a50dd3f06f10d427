package host

import (
	"strconv"
	"testing"
)

const vmstatModern = `nr_free_pages 5942227
nr_zone_inactive_anon 9194
pgpgin 684409
pgpgout 766008
pswpin 12
pswpout 34
pgalloc_dma 0
pgfault 3386231
pgmajfault 1585
pgrefill 0
`

func TestParseVmstat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Vmstat
		err  string
	}{
		{name: "modern", in: vmstatModern, want: Vmstat{12, 34, 684409, 766008, 3386231, 1585, vmAll}},
		{
			name: "no event counters",
			in:   "nr_free_pages 1\nnr_dirty 2\n",
			want: Vmstat{},
		},
		{
			name: "unknown garbage lines skipped",
			in:   "nr_future x y z\n\n   \npgfault 7",
			want: Vmstat{Pgfault: 7, Has: VmPgfault},
		},
		{name: "max", in: "pswpin 18446744073709551615\n", want: Vmstat{Pswpin: 1<<64 - 1, Has: VmPswpin}},
		{name: "empty", in: "", err: "vmstat: empty"},
		{name: "blank lines", in: "\n \n", err: "vmstat: empty"},
		{name: "truncated", in: "pgpgin 1\npgpgout", err: "vmstat: pgpgout: missing"},
		{name: "garbage", in: "pgmajfault 12a\n", err: `vmstat: pgmajfault: invalid value "12a"`},
		{name: "overflow", in: "pgfault 18446744073709551616\n", err: `vmstat: pgfault: value out of range "18446744073709551616"`},
		{name: "non-UTF-8", in: "pswpout \xe2\x82\n", err: `vmstat: pswpout: invalid value "\xe2\x82"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Vmstat
			err := ParseVmstat([]byte(tt.in), &got)
			if errText(err) != tt.err {
				t.Fatalf("ParseVmstat(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("ParseVmstat(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseVmstatAllocs(t *testing.T) {
	b := sample(t, vmstatModern, "vmstat")
	var v Vmstat
	if n := testing.AllocsPerRun(100, func() {
		if err := ParseVmstat(b, &v); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ParseVmstat allocates %v times per run, want 0", n)
	}
}

func BenchmarkParseVmstat(b *testing.B) {
	in := sample(b, vmstatModern, "vmstat")
	var v Vmstat
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if err := ParseVmstat(in, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func formatVmstat(v *Vmstat) []byte {
	b := []byte("nr_free_pages 1\n")
	for _, kv := range []struct {
		bit VmField
		key string
		v   uint64
	}{
		{VmPswpin, "pswpin", v.Pswpin}, {VmPswpout, "pswpout", v.Pswpout}, {VmPgpgin, "pgpgin", v.Pgpgin},
		{VmPgpgout, "pgpgout", v.Pgpgout}, {VmPgfault, "pgfault", v.Pgfault}, {VmPgmajfault, "pgmajfault", v.Pgmajfault},
	} {
		if v.Has&kv.bit != 0 {
			b = append(strconv.AppendUint(append(b, kv.key+" "...), kv.v, 10), '\n')
		}
	}
	return b
}

func FuzzParseVmstat(f *testing.F) {
	for _, b := range samples(f, "vmstat") {
		f.Add(b)
	}
	for _, s := range []string{vmstatModern, "pgfault 1", "x\n", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var v Vmstat
		if ParseVmstat(in, &v) != nil {
			return
		}
		out := formatVmstat(&v)
		var again Vmstat
		if err := ParseVmstat(out, &again); err != nil || again != v {
			t.Fatalf("ParseVmstat(%q) = %+v, %v, want %+v (round trip of %q)", out, again, err, v, in)
		}
	})
}
