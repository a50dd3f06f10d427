package host

import (
	"strconv"
	"strings"
	"testing"
)

// snmpLive is /proc/1/net/snmp of the machine the fixtures were captured on
// (Linux 6.18; MaxConn is -1, a signed column we must skip unparsed).
const snmpLive = `Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits
Ip: 1 64 266768 0 0 0 0 0 266768 264574 0 0 0 0 0 0 0 0 0 264574
Icmp: InMsgs InErrors InCsumErrors InDestUnreachs
Icmp: 2 0 0 2
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 1406 934 360 191 7 23354 21316 4 0 507 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 200288 3 42917 243414 42916 5 6 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 9 9 9 9 9 9 9 9 9
`

var snmpLiveWant = Snmp{
	Tcp: Tcp{ActiveOpens: 1406, PassiveOpens: 934, AttemptFails: 360, EstabResets: 191, CurrEstab: 7,
		InSegs: 23354, OutSegs: 21316, RetransSegs: 4, InErrs: 0, OutRsts: 507},
	Udp: Udp{InDatagrams: 200288, NoPorts: 3, InErrors: 42917, OutDatagrams: 243414, RcvbufErrors: 42916,
		SndbufErrors: 5, InCsumErrors: 6},
	Has: allSnmp,
}

const allSnmp = UdpInCsumErrors<<1 - 1

func TestParseSnmp(t *testing.T) {
	t.Parallel()
	// Kernels before 3.10 have no InCsumErrors columns.
	old := strings.NewReplacer(" InCsumErrors", "", " 507 0\n", " 507\n", " 5 6 0 0\n", " 5 0 0\n").Replace(snmpLive)
	oldWant := snmpLiveWant
	oldWant.Udp.InCsumErrors, oldWant.Has = 0, allSnmp&^UdpInCsumErrors
	tests := []struct {
		name string
		in   string
		want Snmp
		err  string
	}{
		{name: "live", in: snmpLive, want: snmpLiveWant},
		{name: "no InCsumErrors", in: old, want: oldWant},
		{name: "minimal", in: "Tcp: CurrEstab\nTcp: 3\nUdp: NoPorts\nUdp: 4", want: Snmp{Tcp: Tcp{CurrEstab: 3}, Udp: Udp{NoPorts: 4}, Has: TcpCurrEstab | UdpNoPorts}},
		{name: "empty", in: "", err: "snmp: Tcp:: missing"},
		{name: "no udp", in: "Tcp: CurrEstab\nTcp: 3\n", err: "snmp: Udp:: missing"},
		{name: "header only", in: "Tcp: CurrEstab\n", err: "snmp: Tcp: values: missing"},
		{name: "values of another group", in: "Tcp: CurrEstab\nUdp: 3\n", err: "snmp: Tcp: values: missing"},
		{name: "short values", in: "Tcp: InSegs OutSegs\nTcp: 1\nUdp: NoPorts\nUdp: 4\n", err: "snmp: Tcp: OutSegs: missing"},
		{name: "bad value", in: "Tcp: InSegs\nTcp: 1x\nUdp: NoPorts\nUdp: 4\n", err: `snmp: Tcp: InSegs: invalid value "1x"`},
		{name: "negative counter", in: "Tcp: InSegs\nTcp: -1\nUdp: NoPorts\nUdp: 4\n", err: `snmp: Tcp: InSegs: invalid value "-1"`},
		{name: "overflow", in: "Tcp: InSegs\nTcp: 1\nUdp: NoPorts\nUdp: 18446744073709551616\n", err: `snmp: Udp: NoPorts: value out of range "18446744073709551616"`},
		{name: "TcpExt is not Tcp", in: "TcpExt: InSegs\nTcpExt: 1\n", err: "snmp: Tcp:: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Snmp
			err := ParseSnmp([]byte(tt.in), &got)
			if errText(err) != tt.err {
				t.Fatalf("ParseSnmp(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("ParseSnmp(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

const netstatLive = `TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPBacklogCoalesce TCPBacklogDrop TCPRetransFail TCPRcvCoalesce
TcpExt: 0 12 13 4 5 6 7
IpExt: InNoRoutes InTruncatedPkts
IpExt: 0 0
MPTcpExt: MPCapableSYNRX
MPTcpExt: 0
`

func TestParseNetstat(t *testing.T) {
	t.Parallel()
	all := NetstatListenOverflows | NetstatListenDrops | NetstatTCPBacklogDrop | NetstatTCPRetransFail
	tests := []struct {
		name string
		in   string
		want Netstat
		err  string
	}{
		{name: "live", in: netstatLive, want: Netstat{ListenOverflows: 12, ListenDrops: 13, TCPBacklogDrop: 5, TCPRetransFail: 6, Has: all}},
		{name: "some columns", in: "TcpExt: ListenDrops\nTcpExt: 9\n", want: Netstat{ListenDrops: 9, Has: NetstatListenDrops}},
		{name: "empty", in: "", err: "netstat: TcpExt:: missing"},
		{name: "short", in: "TcpExt: ListenDrops TCPRetransFail\nTcpExt: 9\n", err: "netstat: TcpExt: TCPRetransFail: missing"},
		{name: "bad", in: "TcpExt: ListenDrops\nTcpExt: nine\n", err: `netstat: TcpExt: ListenDrops: invalid value "nine"`},
		{name: "unknown columns ignored even if odd", in: "TcpExt: Odd ListenDrops\nTcpExt: -5 9\n", want: Netstat{ListenDrops: 9, Has: NetstatListenDrops}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Netstat
			err := ParseNetstat([]byte(tt.in), &got)
			if errText(err) != tt.err {
				t.Fatalf("ParseNetstat(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("ParseNetstat(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseFileNr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want FileNr
		err  string
	}{
		{name: "live", in: "127144\t0\t2466165\n", want: FileNr{127144, 0, 2466165}},
		{name: "max long", in: "1\t0\t9223372036854775807\n", want: FileNr{1, 0, 9223372036854775807}},
		{name: "spaces, no newline", in: "1 2 3", want: FileNr{1, 2, 3}},
		{name: "empty", in: "", err: "file-nr: allocated: missing"},
		{name: "two", in: "1\t0\n", err: "file-nr: max: missing"},
		{name: "four", in: "1\t0\t3\t4\n", err: `file-nr: invalid value "4"`},
		{name: "bad", in: "1\tx\t3\n", err: `file-nr: unused: invalid value "x"`},
		{name: "two lines", in: "1\t0\t3\n\n", err: `file-nr: max: invalid value "3\n"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got FileNr
			err := ParseFileNr([]byte(tt.in), &got)
			if errText(err) != tt.err {
				t.Fatalf("ParseFileNr(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("ParseFileNr(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseSnmpAllocs(t *testing.T) {
	snmp := sample(t, snmpLive, "1", "net", "snmp")
	netstat := sample(t, netstatLive, "1", "net", "netstat")
	fileNr := sample(t, "1\t0\t3\n", "sys", "fs", "file-nr")
	var s Snmp
	var n Netstat
	var f FileNr
	if a := testing.AllocsPerRun(100, func() {
		if ParseSnmp(snmp, &s) != nil || ParseNetstat(netstat, &n) != nil || ParseFileNr(fileNr, &f) != nil {
			t.Fatal("parse failed")
		}
	}); a != 0 {
		t.Errorf("ParseSnmp+ParseNetstat+ParseFileNr allocate %v times per run, want 0", a)
	}
}

func BenchmarkParseSnmp(b *testing.B) {
	in := sample(b, snmpLive, "1", "net", "snmp")
	var s Snmp
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseSnmp(in, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseNetstat(b *testing.B) {
	in := sample(b, netstatLive, "1", "net", "netstat")
	var s Netstat
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseNetstat(in, &s); err != nil {
			b.Fatal(err)
		}
	}
}

// refGroup is a plain parse of group prefix: the columns whose value is a
// decimal, by name.
func refGroup(in []byte, prefix string) (map[string]uint64, bool) {
	var lines []string
	for ln := range strings.Lines(string(in)) {
		if strings.HasPrefix(ln, prefix) {
			lines = append(lines, strings.TrimSuffix(ln, "\n"))
		}
	}
	if len(lines) < 2 {
		return nil, false
	}
	blank := func(r rune) bool { return r == ' ' || r == '\t' } // the kernel's separators
	names, values := strings.FieldsFunc(lines[0][len(prefix):], blank), strings.FieldsFunc(lines[1][len(prefix):], blank)
	m := map[string]uint64{}
	for i, n := range names {
		if i < len(values) {
			if v, err := strconv.ParseUint(values[i], 10, 64); err == nil {
				m[n] = v
			}
		}
	}
	return m, true
}

func FuzzParseSnmp(f *testing.F) {
	for _, b := range samples(f, "1", "net", "snmp") {
		f.Add(b)
	}
	f.Add([]byte(snmpLive))
	f.Add([]byte("Tcp: CurrEstab\nTcp: 3\nUdp: NoPorts\nUdp: 4"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var s Snmp
		if ParseSnmp(in, &s) != nil {
			return
		}
		// Every counter we accept is the reference parse's value for its column.
		tcp, ok1 := refGroup(in, "Tcp:")
		udp, ok2 := refGroup(in, "Udp:")
		if !ok1 || !ok2 {
			t.Fatalf("ParseSnmp(%q) accepted a file without Tcp: and Udp: pairs", in)
		}
		check := func(m map[string]uint64, name string, got uint64, bit SnmpField) {
			want, ok := m[name]
			if ok != (s.Has&bit != 0) || got != want {
				t.Fatalf("ParseSnmp(%q): %s = %d (present %v), reference %d (%v)", in, name, got, s.Has&bit != 0, want, ok)
			}
		}
		check(tcp, "CurrEstab", s.Tcp.CurrEstab, TcpCurrEstab)
		check(tcp, "RetransSegs", s.Tcp.RetransSegs, TcpRetransSegs)
		check(udp, "InDatagrams", s.Udp.InDatagrams, UdpInDatagrams)
		check(udp, "InCsumErrors", s.Udp.InCsumErrors, UdpInCsumErrors)
	})
}

func FuzzParseNetstat(f *testing.F) {
	for _, b := range samples(f, "1", "net", "netstat") {
		f.Add(b)
	}
	f.Add([]byte(netstatLive))
	f.Fuzz(func(t *testing.T, in []byte) {
		var s Netstat
		if ParseNetstat(in, &s) != nil {
			return
		}
		m, ok := refGroup(in, "TcpExt:")
		if !ok {
			t.Fatalf("ParseNetstat(%q) accepted a file without a TcpExt: pair", in)
		}
		if want, ok := m["ListenDrops"]; ok != (s.Has&NetstatListenDrops != 0) || want != s.ListenDrops {
			t.Fatalf("ParseNetstat(%q): ListenDrops = %d, reference %d (%v)", in, s.ListenDrops, want, ok)
		}
	})
}

func FuzzParseFileNr(f *testing.F) {
	for _, b := range samples(f, "sys", "fs", "file-nr") {
		f.Add(b)
	}
	f.Add([]byte("1\t0\t9223372036854775807\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var n FileNr
		if ParseFileNr(in, &n) != nil {
			return
		}
		out := strconv.AppendUint(nil, n.Allocated, 10)
		out = strconv.AppendUint(append(out, '\t'), n.Unused, 10)
		out = strconv.AppendUint(append(out, '\t'), n.Max, 10)
		var again FileNr
		if err := ParseFileNr(append(out, '\n'), &again); err != nil || again != n {
			t.Fatalf("ParseFileNr(%q) = %+v, %v, want %+v (round trip of %q)", out, again, err, n, in)
		}
	})
}
