package host

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const netDevHeader = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
`

const netDevModern = netDevHeader +
	`    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  eth0: 114246400    2598    1    2    3     4          5         6   145856    1435    7    8    9    10      11         12
`

func TestParseNetDev(t *testing.T) {
	t.Parallel()
	lo := Iface{Name: "lo", RxBytes: 3193, RxPackets: 29, TxBytes: 3193, TxPackets: 29}
	eth0 := Iface{Name: "eth0",
		RxBytes: 114246400, RxPackets: 2598, RxErrs: 1, RxDrop: 2, RxFIFO: 3, RxFrame: 4, RxCompressed: 5, RxMulticast: 6,
		TxBytes: 145856, TxPackets: 1435, TxErrs: 7, TxDrop: 8, TxFIFO: 9, TxColls: 10, TxCarrier: 11, TxCompressed: 12}
	tests := []struct {
		name string
		in   string
		want []Iface
		err  string
	}{
		{name: "modern", in: netDevModern, want: []Iface{lo, eth0}},
		{name: "no interfaces", in: netDevHeader, want: nil},
		{
			// "%6s:%8llu": a long name runs into the first number.
			name: "long name without blank",
			in:   netDevHeader + "veth1a2b3c4d5e6:18446744073709551615 1 0 0 0 0 0 0 2 3 0 0 0 0 0 0\n",
			want: []Iface{{Name: "veth1a2b3c4d5e6", RxBytes: 1<<64 - 1, RxPackets: 1, TxBytes: 2, TxPackets: 3}},
		},
		{
			name: "extra fields, blank line, no trailing newline",
			in:   netDevHeader + "\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18",
			want: []Iface{{Name: "eth0", RxBytes: 1, RxPackets: 2, RxErrs: 3, RxDrop: 4, RxFIFO: 5, RxFrame: 6, RxCompressed: 7, RxMulticast: 8,
				TxBytes: 9, TxPackets: 10, TxErrs: 11, TxDrop: 12, TxFIFO: 13, TxColls: 14, TxCarrier: 15, TxCompressed: 16}},
		},
		{
			name: "non-UTF-8 name",
			in:   netDevHeader + "et\xffh: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			want: []Iface{{Name: "et\xffh"}},
		},
		{name: "empty", in: "", err: "net/dev: header: missing"},
		{name: "one header line", in: "Inter-|   Receive  |  Transmit\n", err: "net/dev: header: missing"},
		{name: "no header", in: "  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", err: `net/dev: header: invalid value "  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"`},
		{name: "no colon", in: netDevHeader + "eth0 1 2 3\n", err: `net/dev: name: invalid value "eth0 1 2 3"`},
		{name: "empty name", in: netDevHeader + "   : 1 2 3\n", err: "net/dev: name: missing"},
		{name: "truncated", in: netDevModern + "  eth1: 1 2 3 4 5 6 7 8 9", err: "net/dev: eth1: tx_packets: missing"},
		{name: "garbage", in: netDevHeader + "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 -15 16\n", err: `net/dev: eth0: tx_carrier: invalid value "-15"`},
		{name: "huge", in: netDevHeader + "eth0: 18446744073709551616 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", err: `net/dev: eth0: rx_bytes: value out of range "18446744073709551616"`},
		{name: "non-UTF-8 value", in: netDevHeader + "eth0: 1 \xfe 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", err: `net/dev: eth0: rx_packets: invalid value "\xfe"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got NetDev
			err := ParseNetDev([]byte(tt.in), &got)
			if errText(err) != tt.err {
				t.Fatalf("ParseNetDev(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got.Ifaces); diff != "" {
				t.Errorf("ParseNetDev(%q) = %+v, want %+v; diff (-want +got):\n%s", tt.in, got.Ifaces, tt.want, diff)
			}
		})
	}
}

func TestParseNetDevAllocs(t *testing.T) {
	b := sample(t, netDevModern, "1", "net", "dev")
	var n NetDev
	if err := ParseNetDev(b, &n); err != nil { // first parse sizes the list and makes names
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(100, func() {
		if err := ParseNetDev(b, &n); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("ParseNetDev allocates %v times per run, want 0", a)
	}
}

func BenchmarkParseNetDev(b *testing.B) {
	in := sample(b, netDevModern, "1", "net", "dev")
	var n NetDev
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if err := ParseNetDev(in, &n); err != nil {
			b.Fatal(err)
		}
	}
}

func formatNetDev(n *NetDev) []byte {
	b := []byte(netDevHeader)
	for _, x := range n.Ifaces {
		b = append(append(b, x.Name...), ':')
		for _, v := range [...]uint64{x.RxBytes, x.RxPackets, x.RxErrs, x.RxDrop, x.RxFIFO, x.RxFrame, x.RxCompressed, x.RxMulticast,
			x.TxBytes, x.TxPackets, x.TxErrs, x.TxDrop, x.TxFIFO, x.TxColls, x.TxCarrier, x.TxCompressed} {
			b = strconv.AppendUint(append(b, ' '), v, 10)
		}
		b = append(b, '\n')
	}
	return b
}

func FuzzParseNetDev(f *testing.F) {
	for _, b := range samples(f, "1", "net", "dev") {
		f.Add(b)
	}
	for _, s := range []string{netDevModern, netDevHeader, netDevHeader + "a:1 2", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var n NetDev
		if ParseNetDev(in, &n) != nil {
			return
		}
		out := formatNetDev(&n)
		var again NetDev
		if err := ParseNetDev(out, &again); err != nil || !cmp.Equal(again.Ifaces, n.Ifaces) {
			t.Fatalf("ParseNetDev(%q) = %+v, %v, want %+v (round trip of %q)", out, again.Ifaces, err, n.Ifaces, in)
		}
		if err := ParseNetDev(in, &n); err != nil || !cmp.Equal(again.Ifaces, n.Ifaces) {
			t.Fatalf("second ParseNetDev(%q) = %+v, %v, want %+v", in, n.Ifaces, err, again.Ifaces)
		}
	})
}
