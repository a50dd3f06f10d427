package proc

// Args splits the content of /proc/<pid>/cmdline into arguments, appending
// sub-slices of b to dst[:0] (no copy, no allocation once dst has capacity).
//
// Normally arguments are NUL-terminated. A process that rewrote its argv in place
// (nginx "master process …", postgres, setproctitle) leaves one space-separated
// string with no NUL, or a NUL only at the end: then the text is split on spaces, as
// the Datadog process agent does. Kernel threads have an empty cmdline: no args.
func Args(b []byte, dst [][]byte) [][]byte {
	dst = dst[:0]
	// Drop trailing NULs (and the padding some rewriters leave).
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return dst
	}
	sep := byte(0)
	if indexByte(b, 0) < 0 {
		sep = ' '
	}
	start := 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == sep {
			if sep == 0 || i > start { // keep empty NUL-separated args, collapse repeated spaces
				dst = append(dst, b[start:i])
			}
			start = i + 1
		}
	}
	return dst
}

// AppendJoined appends the arguments of a cmdline to dst separated by single
// spaces: the "command" shown in the process list.
func AppendJoined(dst, cmdline []byte) []byte {
	for len(cmdline) > 0 && cmdline[len(cmdline)-1] == 0 {
		cmdline = cmdline[:len(cmdline)-1]
	}
	for _, c := range cmdline {
		if c == 0 {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

// Cgroup is one line of /proc/<pid>/cgroup: "hierarchy-ID:controller-list:path".
// Controllers and Path point into the Cgroups' own storage.
type Cgroup struct {
	ID          uint32
	Controllers []byte // comma-separated; empty for the v2 unified hierarchy
	Path        []byte
}

// Cgroups holds a parsed /proc/<pid>/cgroup in storage reused across parses.
type Cgroups struct {
	Lines []Cgroup
	buf   []byte
}

// MaxCgroupFile bounds /proc/<pid>/cgroup: a larger file is rejected rather than
// copied (real files are well under 1 KiB; paths are at most PATH_MAX each).
const MaxCgroupFile = 64 << 10

// ParseCgroups parses the content of /proc/<pid>/cgroup into c, copying b into c's
// reused storage so c stays valid after b is overwritten.
func ParseCgroups(b []byte, c *Cgroups) error {
	if len(b) > MaxCgroupFile {
		return perr("cgroup", "file", errRange)
	}
	c.buf = append(c.buf[:0], b...)
	c.Lines = c.Lines[:0]
	rest := c.buf
	for len(rest) > 0 {
		var line []byte
		if i := indexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		if len(line) == 0 {
			continue
		}
		c1 := indexByte(line, ':')
		if c1 < 0 {
			return perr("cgroup", "hierarchy-ID", errSyntax)
		}
		c2 := indexByte(line[c1+1:], ':')
		if c2 < 0 {
			return perr("cgroup", "controllers", errSyntax)
		}
		c2 += c1 + 1
		id, err := parseUint(line[:c1])
		if err != nil || id > 1<<32-1 {
			return perr("cgroup", "hierarchy-ID", errOr(err, errRange))
		}
		c.Lines = append(c.Lines, Cgroup{
			ID:          uint32(id),
			Controllers: line[c1+1 : c2 : c2],
			Path:        line[c2+1:],
		})
	}
	return nil
}

// Unified returns the cgroup v2 path (the "0::" line), if any.
func (c *Cgroups) Unified() ([]byte, bool) {
	for _, l := range c.Lines {
		if l.ID == 0 && len(l.Controllers) == 0 {
			return l.Path, true
		}
	}
	return nil, false
}

// Controller returns the v1 path of the hierarchy that has controller name
// (e.g. "memory", "cpuacct"; "name=systemd" for named hierarchies).
func (c *Cgroups) Controller(name string) ([]byte, bool) {
	for _, l := range c.Lines {
		ctl := l.Controllers
		for len(ctl) > 0 {
			var one []byte
			if i := indexByte(ctl, ','); i >= 0 {
				one, ctl = ctl[:i], ctl[i+1:]
			} else {
				one, ctl = ctl, nil
			}
			if string(one) == name {
				return l.Path, true
			}
		}
	}
	return nil, false
}
