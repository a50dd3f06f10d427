package host

import "bytes"

// SnmpField marks a counter of Snmp that the file had: kernels add columns over
// time (InCsumErrors in 3.10), and a rate needs the counter in both samples.
type SnmpField uint32

const (
	TcpActiveOpens SnmpField = 1 << iota
	TcpPassiveOpens
	TcpAttemptFails
	TcpEstabResets
	TcpCurrEstab
	TcpInSegs
	TcpOutSegs
	TcpRetransSegs
	TcpInErrs
	TcpOutRsts
	UdpInDatagrams
	UdpNoPorts
	UdpInErrors
	UdpOutDatagrams
	UdpRcvbufErrors
	UdpSndbufErrors
	UdpInCsumErrors
)

// Snmp holds the Tcp: and Udp: counters of <proc>/1/net/snmp that the agent's
// network check sends by default (system.net.tcp.*, system.net.udp.*).
type Snmp struct {
	Tcp Tcp
	Udp Udp
	Has SnmpField
}

// Tcp is the Tcp: group (RFC 1213 tcp MIB). CurrEstab is a gauge, the rest are
// cumulative counters.
type Tcp struct {
	ActiveOpens, PassiveOpens, AttemptFails, EstabResets, CurrEstab uint64
	InSegs, OutSegs, RetransSegs, InErrs, OutRsts                   uint64
}

// Udp is the Udp: group, all cumulative counters.
type Udp struct {
	InDatagrams, NoPorts, InErrors, OutDatagrams uint64
	RcvbufErrors, SndbufErrors, InCsumErrors     uint64
}

// tcpField and udpField map a column name to its counter in s. The other
// columns (RtoAlgorithm, MaxConn, which is signed, ...) are skipped unparsed.
func (s *Snmp) tcpField(name []byte) (*uint64, SnmpField) {
	t := &s.Tcp
	switch string(name) {
	case "ActiveOpens":
		return &t.ActiveOpens, TcpActiveOpens
	case "PassiveOpens":
		return &t.PassiveOpens, TcpPassiveOpens
	case "AttemptFails":
		return &t.AttemptFails, TcpAttemptFails
	case "EstabResets":
		return &t.EstabResets, TcpEstabResets
	case "CurrEstab":
		return &t.CurrEstab, TcpCurrEstab
	case "InSegs":
		return &t.InSegs, TcpInSegs
	case "OutSegs":
		return &t.OutSegs, TcpOutSegs
	case "RetransSegs":
		return &t.RetransSegs, TcpRetransSegs
	case "InErrs":
		return &t.InErrs, TcpInErrs
	case "OutRsts":
		return &t.OutRsts, TcpOutRsts
	}
	return nil, 0
}

func (s *Snmp) udpField(name []byte) (*uint64, SnmpField) {
	u := &s.Udp
	switch string(name) {
	case "InDatagrams":
		return &u.InDatagrams, UdpInDatagrams
	case "NoPorts":
		return &u.NoPorts, UdpNoPorts
	case "InErrors":
		return &u.InErrors, UdpInErrors
	case "OutDatagrams":
		return &u.OutDatagrams, UdpOutDatagrams
	case "RcvbufErrors":
		return &u.RcvbufErrors, UdpRcvbufErrors
	case "SndbufErrors":
		return &u.SndbufErrors, UdpSndbufErrors
	case "InCsumErrors":
		return &u.InCsumErrors, UdpInCsumErrors
	}
	return nil, 0
}

// ParseSnmp parses the content of /proc/<pid>/net/snmp into s. Each group is a
// header line of column names and a line of values with the same prefix
// (net/ipv4/proc.c, snmp_seq_show). Missing Tcp: or Udp: groups are an error;
// missing columns are only absent from s.Has. It keeps nothing of b.
func ParseSnmp(b []byte, s *Snmp) error {
	*s = Snmp{}
	names, values, err := group(b, "snmp", "Tcp:")
	if err != nil {
		return err
	}
	for {
		var n, v []byte
		n, names = field(names)
		if len(n) == 0 {
			break
		}
		v, values = field(values)
		if len(v) == 0 {
			return missing("snmp", "Tcp: "+string(n))
		}
		if p, bit := s.tcpField(n); p != nil {
			if *p, err = parseUint(v); err != nil {
				return errAt("snmp", "Tcp: "+string(n), v, err)
			}
			s.Has |= bit
		}
	}
	if names, values, err = group(b, "snmp", "Udp:"); err != nil {
		return err
	}
	for {
		var n, v []byte
		n, names = field(names)
		if len(n) == 0 {
			break
		}
		v, values = field(values)
		if len(v) == 0 {
			return missing("snmp", "Udp: "+string(n))
		}
		if p, bit := s.udpField(n); p != nil {
			if *p, err = parseUint(v); err != nil {
				return errAt("snmp", "Udp: "+string(n), v, err)
			}
			s.Has |= bit
		}
	}
	return nil
}

// group finds the header and value lines of a group such as "Tcp:" in the
// content of net/snmp or net/netstat and returns them without the prefix.
func group(b []byte, file, prefix string) (names, values []byte, err error) {
	for len(b) > 0 {
		var ln []byte
		ln, b = line(b)
		if !bytes.HasPrefix(ln, []byte(prefix)) {
			continue
		}
		vals, _ := line(b)
		if !bytes.HasPrefix(vals, []byte(prefix)) {
			return nil, nil, missing(file, prefix+" values")
		}
		return ln[len(prefix):], vals[len(prefix):], nil
	}
	return nil, nil, missing(file, prefix)
}

// NetstatField marks a counter of Netstat that the file had.
type NetstatField uint8

const (
	NetstatListenOverflows NetstatField = 1 << iota
	NetstatListenDrops
	NetstatTCPBacklogDrop
	NetstatTCPRetransFail
)

// Netstat holds the TcpExt: counters of <proc>/1/net/netstat that the agent's
// network check sends by default; all are cumulative.
type Netstat struct {
	ListenOverflows, ListenDrops, TCPBacklogDrop, TCPRetransFail uint64
	Has                                                          NetstatField
}

// ParseNetstat parses the content of /proc/<pid>/net/netstat into s (TcpExt:
// only; net/ipv4/proc.c, netstat_seq_show). It keeps nothing of b.
func ParseNetstat(b []byte, s *Netstat) error {
	*s = Netstat{}
	names, values, err := group(b, "netstat", "TcpExt:")
	if err != nil {
		return err
	}
	for {
		var n, v []byte
		n, names = field(names)
		if len(n) == 0 {
			return nil
		}
		v, values = field(values)
		if len(v) == 0 {
			return missing("netstat", "TcpExt: "+string(n))
		}
		var p *uint64
		var bit NetstatField
		switch string(n) {
		case "ListenOverflows":
			p, bit = &s.ListenOverflows, NetstatListenOverflows
		case "ListenDrops":
			p, bit = &s.ListenDrops, NetstatListenDrops
		case "TCPBacklogDrop":
			p, bit = &s.TCPBacklogDrop, NetstatTCPBacklogDrop
		case "TCPRetransFail":
			p, bit = &s.TCPRetransFail, NetstatTCPRetransFail
		default:
			continue
		}
		if *p, err = parseUint(v); err != nil {
			return errAt("netstat", "TcpExt: "+string(n), v, err)
		}
		if s.Has |= bit; s.Has == allNetstat {
			return nil // the other hundred-odd columns are not ours
		}
	}
}

const allNetstat = NetstatListenOverflows | NetstatListenDrops | NetstatTCPBacklogDrop | NetstatTCPRetransFail

// FileNr is <proc>/sys/fs/file-nr: the kernel's file handle table
// (Documentation/admin-guide/sysctl/fs.rst). Unused is always 0 since 2.6.
type FileNr struct {
	Allocated, Unused, Max uint64
}

// ParseFileNr parses the content of /proc/sys/fs/file-nr ("1234\t0\t9223372036854775807\n").
func ParseFileNr(b []byte, f *FileNr) error {
	rest := trimNL(b)
	var vals [3]uint64
	for i := range vals {
		v, fld, r, err := nextUint(rest)
		if err != nil {
			return errAt("file-nr", fileNrNames[i], fld, err)
		}
		if len(fld) == 0 {
			return missing("file-nr", fileNrNames[i])
		}
		vals[i], rest = v, r
	}
	if extra := trim(rest); len(extra) > 0 {
		return errAt("file-nr", "", extra, ErrSyntax)
	}
	f.Allocated, f.Unused, f.Max = vals[0], vals[1], vals[2]
	return nil
}

var fileNrNames = [...]string{"allocated", "unused", "max"}

// trimNL drops one trailing newline.
func trimNL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}
