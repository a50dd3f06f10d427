package host

import (
	"fmt"
	"path/filepath"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/pfile"
)

// single says whether a file is generated in one piece, so that a read which does
// not fill the buffer returned all of it (see pfile.ReadFD):
//   - stat: fs/proc/stat.c stat_open → single_open_size
//   - meminfo, loadavg, uptime: fs/proc/{meminfo,loadavg,uptime}.c → proc_create_single
//   - vmstat: mm/vmstat.c → proc_create_seq(vmstat_op), one record per counter
//   - diskstats: block/genhd.c → proc_create_seq(diskstats_op), one record per disk
//   - net/dev: net/core/net-procfs.c → proc_create_net(dev_seq_ops), one per device
//   - net/snmp, net/netstat: net/ipv4/proc.c → proc_create_net_single
//   - sys/fs/file-nr: a sysctl (fs/proc/proc_sysctl.c, proc_sys_call_handler),
//     whose handler formats the whole value on a read at offset 0
var single = [NumFiles]bool{
	FileStat: true, FileMeminfo: true, FileLoadavg: true, FileUptime: true,
	FileSnmp: true, FileNetstat: true, FileFileNr: true,
}

// Reader holds the host files open and re-reads them each cycle.
//
// Every one of them is a seq_file, and a read at offset 0 of a seq_file restarts
// its iterator and regenerates the text (fs/seq_file.c, seq_read_iter: "if request
// is to read from zero offset, reset iterator to first record"), so one pread(2)
// at 0 on a held fd returns fresh values: one syscall per file per cycle instead
// of openat+read(s)+close. The net/dev fd stays bound to the network namespace of
// pid 1 at open time (proc_net's seq_open_net takes the namespace reference then),
// i.e. the host's for the life of the agent.
//
// A Reader is not safe for concurrent use; one collector owns it.
type Reader struct {
	fds   [NumFiles]int
	open  [NumFiles]error // why a file could not be opened; nil while its fd is held
	paths [NumFiles]string
	buf   []byte
	done  bool
	root  hostfs.Root
	fs    *fsReader // opened by the first ReadFS
}

// NewReader opens the host files of root. A file the kernel does not have (or
// that cannot be opened) is recorded and reported in each Snapshot's Err instead
// of failing; only a root without <proc>/stat, which every procfs has, is an error.
func NewReader(root hostfs.Root) (*Reader, error) {
	r := &Reader{buf: make([]byte, pfile.MinBuf), root: root}
	r.paths = [NumFiles]string{
		FileStat:      root.Proc("stat"),
		FileMeminfo:   root.Proc("meminfo"),
		FileLoadavg:   root.Proc("loadavg"),
		FileUptime:    root.Proc("uptime"),
		FileVmstat:    root.Proc("vmstat"),
		FileDiskstats: root.Proc("diskstats"),
		FileNetDev:    filepath.Join(root.HostNetProc(), "net", "dev"),
		FileSnmp:      filepath.Join(root.HostNetProc(), "net", "snmp"),
		FileNetstat:   filepath.Join(root.HostNetProc(), "net", "netstat"),
		FileFileNr:    root.Proc("sys", "fs", "file-nr"),
	}
	var p pfile.Path
	for f := range NumFiles {
		fd, err := pfile.Open(pfile.AtCWD, p.Reset().Str(r.paths[f]))
		r.fds[f] = fd
		if err != nil {
			r.open[f] = fmt.Errorf("open %s: %w", r.paths[f], err)
		}
	}
	if err := r.open[FileStat]; err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Read re-reads every file into s. Files that could not be opened keep their
// error in s.Err; a file that fails to read or parse this time gets its error
// there too and the other files are still read. Read returns the first read or
// parse error of this cycle (nil when all held files were read and parsed), or
// ErrClosed. It clears s.HasFS: the filesystems are read by ReadFS only. In
// steady state it does not allocate.
func (r *Reader) Read(s *Snapshot) error {
	if r.done {
		return ErrClosed
	}
	var first error
	s.HasFS, s.FSErr = false, nil
	for f := range NumFiles {
		err := r.open[f]
		if err == nil {
			err = r.read(f, s)
			if first == nil {
				first = err
			}
		}
		s.Err[f] = err
	}
	return first
}

func (r *Reader) read(f File, s *Snapshot) error {
	b, err := pfile.PreadFD(r.fds[f], &r.buf, single[f])
	if err != nil {
		return fmt.Errorf("read %s: %w", r.paths[f], err)
	}
	return s.parse(f, b)
}

// Close releases the files. It is idempotent.
func (r *Reader) Close() error {
	if r.done {
		return nil
	}
	r.done = true
	for f, fd := range r.fds {
		pfile.Close(fd)
		r.fds[f] = -1
	}
	if r.fs != nil {
		r.fs.close()
	}
	return nil
}
