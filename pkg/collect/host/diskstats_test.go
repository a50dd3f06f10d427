package host

import (
	"strconv"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

const diskstatsModern = `   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 32512 5772 1368818 17722 10170 9255 1532016 4438 0 9572 22604 5130 10 351120 424 1342 19
 254       1 vda1 32000 5000 1300000 17000 10000 9000 1500000 4400 0 9500 22500 5000 9 350000 400 0 0
 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
`

func TestParseDiskstats(t *testing.T) {
	t.Parallel()
	vda := Disk{
		Major: 254, Name: "vda",
		ReadIOs: 32512, ReadMerges: 5772, ReadSectors: 1368818, ReadTicks: 17722,
		WriteIOs: 10170, WriteMerges: 9255, WriteSectors: 1532016, WriteTicks: 4438,
		InFlight: 0, IOTicks: 9572, TimeInQueue: 22604,
		DiscardIOs: 5130, DiscardMerges: 10, DiscardSectors: 351120, DiscardTicks: 424,
		FlushIOs: 1342, FlushTicks: 19, Fields: 17,
	}
	tests := []struct {
		name string
		in   string
		want []Disk
		err  string
	}{
		{
			name: "5.5+ with flush",
			in:   diskstatsModern,
			want: []Disk{
				{Major: 7, Name: "loop0", Fields: 17},
				vda,
				{Major: 254, Minor: 1, Name: "vda1",
					ReadIOs: 32000, ReadMerges: 5000, ReadSectors: 1300000, ReadTicks: 17000,
					WriteIOs: 10000, WriteMerges: 9000, WriteSectors: 1500000, WriteTicks: 4400,
					IOTicks: 9500, TimeInQueue: 22500,
					DiscardIOs: 5000, DiscardMerges: 9, DiscardSectors: 350000, DiscardTicks: 400, Fields: 17},
				{Major: 253, Name: "zram0", Fields: 17},
			},
		},
		{
			name: "4.18 with discard",
			in:   "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n",
			want: []Disk{{Major: 8, Name: "sda", ReadIOs: 1, ReadMerges: 2, ReadSectors: 3, ReadTicks: 4,
				WriteIOs: 5, WriteMerges: 6, WriteSectors: 7, WriteTicks: 8, InFlight: 9, IOTicks: 10, TimeInQueue: 11,
				DiscardIOs: 12, DiscardMerges: 13, DiscardSectors: 14, DiscardTicks: 15, Fields: 15}},
		},
		{
			name: "before 4.18",
			in:   "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n   8       1 sda1 11 10 9 8 7 6 5 4 3 2 1\n",
			want: []Disk{
				{Major: 8, Name: "sda", ReadIOs: 1, ReadMerges: 2, ReadSectors: 3, ReadTicks: 4,
					WriteIOs: 5, WriteMerges: 6, WriteSectors: 7, WriteTicks: 8, InFlight: 9, IOTicks: 10, TimeInQueue: 11, Fields: 11},
				{Major: 8, Minor: 1, Name: "sda1", ReadIOs: 11, ReadMerges: 10, ReadSectors: 9, ReadTicks: 8,
					WriteIOs: 7, WriteMerges: 6, WriteSectors: 5, WriteTicks: 4, InFlight: 3, IOTicks: 2, TimeInQueue: 1, Fields: 11},
			},
		},
		{
			name: "future fields ignored",
			in:   "259 0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n",
			want: []Disk{{Major: 259, Name: "nvme0n1", ReadIOs: 1, ReadMerges: 2, ReadSectors: 3, ReadTicks: 4,
				WriteIOs: 5, WriteMerges: 6, WriteSectors: 7, WriteTicks: 8, InFlight: 9, IOTicks: 10, TimeInQueue: 11,
				DiscardIOs: 12, DiscardMerges: 13, DiscardSectors: 14, DiscardTicks: 15, FlushIOs: 16, FlushTicks: 17, Fields: 17}},
		},
		{
			name: "in-flight between discard and flush counts",
			in:   "8 0 sda 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			want: []Disk{{Major: 8, Name: "sda", Fields: 16}},
		},
		{
			name: "blank lines, no trailing newline, non-UTF-8 name",
			in:   "\n  \n8 16 sd\xffb 0 0 0 0 0 0 0 0 0 0 18446744073709551615",
			want: []Disk{{Major: 8, Minor: 16, Name: "sd\xffb", TimeInQueue: 1<<64 - 1, Fields: 11}},
		},
		{name: "empty", in: "", want: nil},
		{name: "2.6.24 partition line", in: "   8    1 sda1 100 200 300 400\n", err: "diskstats: sda1: write_ios: missing"},
		{name: "truncated", in: diskstatsModern + " 8 0 sda 1 2 3", err: "diskstats: sda: read_ticks: missing"},
		{name: "no name", in: "8 0\n", err: "diskstats: name: missing"},
		{name: "no minor", in: "8\n", err: "diskstats: minor: missing"},
		{name: "garbage", in: "8 0 sda 1 2 x 4 5 6 7 8 9 10 11\n", err: `diskstats: sda: read_sectors: invalid value "x"`},
		{name: "garbage major", in: "a 0 sda 1 2 3 4 5 6 7 8 9 10 11\n", err: `diskstats: major: invalid value "a"`},
		{name: "minor > 32 bits", in: "8 4294967296 sda 1 2 3 4 5 6 7 8 9 10 11\n", err: `diskstats: minor: value out of range "4294967296"`},
		{name: "huge", in: "8 0 sda 1 2 3 4 5 6 7 8 9 10 99999999999999999999\n", err: `diskstats: sda: time_in_queue: value out of range "99999999999999999999"`},
		{name: "huge flush", in: "8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 18446744073709551616\n", err: `diskstats: sda: flush_ticks: value out of range "18446744073709551616"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Diskstats
			err := ParseDiskstats([]byte(tt.in), &got)
			if errText(err) != tt.err {
				t.Fatalf("ParseDiskstats(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got.Disks); diff != "" {
				t.Errorf("ParseDiskstats(%q) = %+v, want %+v; diff (-want +got):\n%s", tt.in, got.Disks, tt.want, diff)
			}
		})
	}
}

func TestDiskPresence(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		fields                 int
		wantDiscard, wantFlush bool
	}{{11, false, false}, {14, false, false}, {15, true, false}, {16, true, false}, {17, true, true}} {
		d := Disk{Fields: tt.fields}
		if d.HasDiscard() != tt.wantDiscard || d.HasFlush() != tt.wantFlush {
			t.Errorf("Disk{Fields: %d}: HasDiscard, HasFlush = %v, %v, want %v, %v",
				tt.fields, d.HasDiscard(), d.HasFlush(), tt.wantDiscard, tt.wantFlush)
		}
	}
}

// TestParseDiskstatsNames checks that names survive devices coming and going
// without being re-made, and that no stale name is handed out.
func TestParseDiskstatsNames(t *testing.T) {
	t.Parallel()
	const line = " 0 0 0 0 0 0 0 0 0 0 0\n"
	var d Diskstats
	parse := func(names ...string) []Disk {
		var b []byte
		for _, n := range names {
			b = append(append(append(b, "8 0 "...), n...), line...)
		}
		if err := ParseDiskstats(b, &d); err != nil {
			t.Fatal(err)
		}
		return d.Disks
	}
	ptr := func(s string) *byte { return unsafe.StringData(s) }
	first := parse("sda", "sdb", "sdc")
	a, b, c := first[0].Name, first[1].Name, first[2].Name
	for _, step := range []struct {
		names []string
		same  []string // the earlier string each name must reuse, "" for new
	}{
		{[]string{"sda", "sdb", "sdc"}, []string{a, b, c}},
		{[]string{"sda", "sdc"}, []string{a, c}},            // removed
		{[]string{"sdd", "sda", "sdc"}, []string{"", a, c}}, // added in front
		{[]string{"sdc", "sda"}, []string{c, a}},            // reordered
	} {
		got := parse(step.names...)
		for i, disk := range got {
			if disk.Name != step.names[i] {
				t.Fatalf("ParseDiskstats(%q): disk %d = %q, want %q", step.names, i, disk.Name, step.names[i])
			}
			if step.same[i] != "" && ptr(disk.Name) != ptr(step.same[i]) {
				t.Errorf("ParseDiskstats(%q): name %q was re-made", step.names, disk.Name)
			}
		}
	}
}

func TestParseDiskstatsAllocs(t *testing.T) {
	b := sample(t, diskstatsModern, "diskstats")
	var d Diskstats
	if err := ParseDiskstats(b, &d); err != nil { // first parse sizes the list and makes names
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := ParseDiskstats(b, &d); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ParseDiskstats allocates %v times per run, want 0", n)
	}
}

func BenchmarkParseDiskstats(b *testing.B) {
	in := sample(b, diskstatsModern, "diskstats")
	var d Diskstats
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if err := ParseDiskstats(in, &d); err != nil {
			b.Fatal(err)
		}
	}
}

func formatDiskstats(d *Diskstats) []byte {
	var b []byte
	for _, x := range d.Disks {
		b = strconv.AppendUint(append(b, "   "...), uint64(x.Major), 10)
		b = strconv.AppendUint(append(b, "   "...), uint64(x.Minor), 10)
		b = append(append(b, ' '), x.Name...)
		v := [...]uint64{x.ReadIOs, x.ReadMerges, x.ReadSectors, x.ReadTicks, x.WriteIOs, x.WriteMerges,
			x.WriteSectors, x.WriteTicks, x.InFlight, x.IOTicks, x.TimeInQueue, x.DiscardIOs, x.DiscardMerges,
			x.DiscardSectors, x.DiscardTicks, x.FlushIOs, x.FlushTicks}
		for _, n := range v[:x.Fields] {
			b = strconv.AppendUint(append(b, ' '), n, 10)
		}
		b = append(b, '\n')
	}
	return b
}

func FuzzParseDiskstats(f *testing.F) {
	for _, b := range samples(f, "diskstats") {
		f.Add(b)
	}
	for _, s := range []string{diskstatsModern, "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n", "8 0 sda 1 2 3", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Diskstats
		if ParseDiskstats(in, &d) != nil {
			return
		}
		for _, x := range d.Disks {
			if x.Fields < 11 || x.Fields > 17 || x.Name == "" {
				t.Fatalf("ParseDiskstats(%q) = %+v: bad disk", in, x)
			}
		}
		out := formatDiskstats(&d)
		var again Diskstats
		if err := ParseDiskstats(out, &again); err != nil || !cmp.Equal(again.Disks, d.Disks) {
			t.Fatalf("ParseDiskstats(%q) = %+v, %v, want %+v (round trip of %q)", out, again.Disks, err, d.Disks, in)
		}
		// Parsing into the used value gives the same result.
		if err := ParseDiskstats(in, &d); err != nil || !cmp.Equal(again.Disks, d.Disks) {
			t.Fatalf("second ParseDiskstats(%q) = %+v, %v, want %+v", in, d.Disks, err, again.Disks)
		}
	})
}
