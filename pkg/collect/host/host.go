// Package host reads the host-wide /proc files behind Datadog's system.* metrics:
// stat, meminfo, loadavg, uptime, vmstat, diskstats, the host namespace's
// net/dev, net/snmp and net/netstat, sys/fs/file-nr, and on request the host's
// filesystems (mountinfo and statfs, see ReadFS).
//
// Each file has a pure parser (ParseStat, ParseMeminfo, ...) that fills a caller's
// struct from bytes without allocating, and a Reader holds the files open and
// re-reads them all with one pread each per cycle into one reused buffer.
package host

import "errors"

var (
	// ErrNotSupported is returned by NewReader where there is no procfs.
	ErrNotSupported = errors.New("host: not supported on this platform")
	// ErrClosed is returned by Read after Close.
	ErrClosed = errors.New("host: reader closed")
)

// File names one of the files a Reader reads.
type File uint8

const (
	FileStat      File = iota // <proc>/stat
	FileMeminfo               // <proc>/meminfo
	FileLoadavg               // <proc>/loadavg
	FileUptime                // <proc>/uptime
	FileVmstat                // <proc>/vmstat
	FileDiskstats             // <proc>/diskstats
	FileNetDev                // <proc>/1/net/dev: the host network namespace's
	FileSnmp                  // <proc>/1/net/snmp: the host namespace's Tcp: and Udp: counters
	FileNetstat               // <proc>/1/net/netstat: the host namespace's TcpExt: counters
	FileFileNr                // <proc>/sys/fs/file-nr: the file handle table
	NumFiles
)

var fileNames = [NumFiles]string{"stat", "meminfo", "loadavg", "uptime", "vmstat", "diskstats", "net/dev", "net/snmp", "net/netstat", "sys/fs/file-nr"}

func (f File) String() string {
	if f < NumFiles {
		return fileNames[f]
	}
	return "unknown"
}

// Snapshot is one read of every file. Reuse it across reads: the device and
// interface lists keep their capacity and names.
type Snapshot struct {
	Stat      Stat
	Meminfo   Meminfo
	Loadavg   Loadavg
	Uptime    Uptime
	Vmstat    Vmstat
	Diskstats Diskstats
	NetDev    NetDev
	Snmp      Snmp
	Netstat   Netstat
	FileNr    FileNr

	// FS is the host's block filesystems, read by Reader.ReadFS only on the
	// cycles that ask for it (statfs per mount). HasFS says FS was read into
	// this snapshot: Read clears it, so a reused snapshot never passes an old
	// read off as new. FSErr is why ReadFS failed as a whole (mountinfo
	// unreadable); single unusable mounts are counted in FS instead.
	FS    Filesystems
	HasFS bool
	FSErr error

	// Err holds, per file, why it is not in this snapshot (absent on this kernel,
	// unreadable, malformed); nil when it was read and parsed.
	// errors.Is(err, fs.ErrNotExist) tells a file this kernel does not have.
	Err [NumFiles]error
}

// Has reports whether file f was read and parsed into s.
func (s *Snapshot) Has(f File) bool { return s.Err[f] == nil }

// parse fills the part of s that file f holds from its content b.
func (s *Snapshot) parse(f File, b []byte) error {
	switch f {
	case FileStat:
		return ParseStat(b, &s.Stat)
	case FileMeminfo:
		return ParseMeminfo(b, &s.Meminfo)
	case FileLoadavg:
		return ParseLoadavg(b, &s.Loadavg)
	case FileUptime:
		return ParseUptime(b, &s.Uptime)
	case FileVmstat:
		return ParseVmstat(b, &s.Vmstat)
	case FileDiskstats:
		return ParseDiskstats(b, &s.Diskstats)
	case FileNetDev:
		return ParseNetDev(b, &s.NetDev)
	case FileSnmp:
		return ParseSnmp(b, &s.Snmp)
	case FileNetstat:
		return ParseNetstat(b, &s.Netstat)
	case FileFileNr:
		return ParseFileNr(b, &s.FileNr)
	}
	return nil
}
