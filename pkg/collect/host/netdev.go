package host

import "bytes"

// Iface is one interface line of /proc/net/dev (net/core/net-procfs.c,
// dev_seq_printf_stats).
type Iface struct {
	// Name is the interface name ("eth0", "veth1a2b3c"). It is the same string from
	// one parse to the next while the interface exists.
	Name string

	RxBytes, RxPackets, RxErrs, RxDrop, RxFIFO, RxFrame, RxCompressed, RxMulticast uint64
	TxBytes, TxPackets, TxErrs, TxDrop, TxFIFO, TxColls, TxCarrier, TxCompressed   uint64
}

// NetDev is /proc/<pid>/net/dev: one Iface per interface of that network
// namespace, in the kernel's order. Reuse one NetDev across parses: Ifaces keeps its
// capacity and names are not re-allocated.
type NetDev struct {
	Ifaces []Iface
	names  names
}

var ifaceNames = []string{
	"rx_bytes", "rx_packets", "rx_errs", "rx_drop", "rx_fifo", "rx_frame", "rx_compressed", "rx_multicast",
	"tx_bytes", "tx_packets", "tx_errs", "tx_drop", "tx_fifo", "tx_colls", "tx_carrier", "tx_compressed",
}

// ParseNetDev parses the content of /proc/net/dev into n. It skips the two header
// lines; every other line is "name: " and the 16 counters every kernel since 2.6
// prints (further fields are ignored). The name ends at the first ':', which
// dev_valid_name forbids inside names; numbers may follow it without a blank. On
// error n.Ifaces holds the lines before the bad one. It keeps nothing of b.
func ParseNetDev(b []byte, n *NetDev) error {
	n.Ifaces = n.Ifaces[:0]
	n.names.begin()
	for range 2 {
		if len(b) == 0 {
			return missing("net/dev", "header")
		}
		var ln []byte
		ln, b = line(b)
		if bytes.IndexByte(ln, '|') < 0 {
			return errAt("net/dev", "header", ln, ErrSyntax)
		}
	}
	for len(b) > 0 {
		var ln []byte
		ln, b = line(b)
		if len(trim(ln)) == 0 {
			continue
		}
		c := bytes.IndexByte(ln, ':')
		if c < 0 {
			return errAt("net/dev", "name", trim(ln), ErrSyntax)
		}
		name := trim(ln[:c])
		if len(name) == 0 {
			return missing("net/dev", "name")
		}
		var v [16]uint64
		k, bad, err := uints(ln[c+1:], v[:])
		if err != nil {
			return errAt("net/dev", string(name)+": "+ifaceNames[k], bad, err)
		}
		if k < 16 {
			return missing("net/dev", string(name)+": "+ifaceNames[k])
		}
		n.Ifaces = append(n.Ifaces, Iface{
			Name:    n.names.get(name),
			RxBytes: v[0], RxPackets: v[1], RxErrs: v[2], RxDrop: v[3],
			RxFIFO: v[4], RxFrame: v[5], RxCompressed: v[6], RxMulticast: v[7],
			TxBytes: v[8], TxPackets: v[9], TxErrs: v[10], TxDrop: v[11],
			TxFIFO: v[12], TxColls: v[13], TxCarrier: v[14], TxCompressed: v[15],
		})
	}
	return nil
}
