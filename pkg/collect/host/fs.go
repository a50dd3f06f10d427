package host

import (
	"bytes"
	"strings"
)

// Filesystems is one statfs pass over the host's block filesystems, as the
// agent's disk check selects them (DataDog/datadog-agent diskv2 with gopsutil's
// Partitions(all=false)): a mount is kept when its type is a block filesystem
// of <proc>/filesystems (one without "nodev": tmpfs, proc, overlay, nfs, fuse
// are out), its source is neither empty nor "none", its type is not iso9660 or
// tracefs, and its mount point is not binfmt_misc. A filesystem mounted more
// than once (bind mounts) is reported once, under its first mount point.
type Filesystems struct {
	Mounts []Filesystem
	// Unreadable counts the kept mounts statfs failed on in this pass (they are
	// absent from Mounts); Malformed the mountinfo lines that could not be
	// parsed when the mount table was last read.
	Unreadable, Malformed int
}

// Filesystem is one mounted block filesystem and its statfs(2) figures. Byte
// counts are blocks × f_bsize, as gopsutil's disk.Usage (and so the agent)
// computes them.
type Filesystem struct {
	Device     string // the mount source, e.g. /dev/nvme0n1p1
	MountPoint string // as the host sees it
	Type       string // ext4, xfs, ...
	Major      uint32 // st_dev of the filesystem
	Minor      uint32

	Total     uint64 // bytes: f_blocks × f_bsize
	Free      uint64 // bytes: f_bfree × f_bsize (root's reserve included)
	Avail     uint64 // bytes: f_bavail × f_bsize (available to unprivileged users)
	Files     uint64 // inodes; 0 where the filesystem has no fixed count (btrfs)
	FilesFree uint64
}

// MountLine is one line of /proc/<pid>/mountinfo (proc(5)); its byte slices
// point into the parsed line. MountPoint and Root keep the kernel's octal
// escapes ("\040" for a space): see Unescape.
type MountLine struct {
	Major, Minor uint32
	Root         []byte
	MountPoint   []byte
	FSType       []byte
	Source       []byte
}

// ParseMountLine parses one line of mountinfo (without its newline) into m:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// It does not allocate, and m keeps pointers into line.
func ParseMountLine(line []byte, m *MountLine) error {
	const file = "mountinfo"
	*m = MountLine{}
	rest := line
	var f []byte
	for _, name := range [...]string{"mount ID", "parent ID"} {
		if f, rest = field(rest); len(f) == 0 {
			return missing(file, name)
		}
	}
	if f, rest = field(rest); len(f) == 0 {
		return missing(file, "major:minor")
	}
	maj, min, ok := bytes.Cut(f, colon)
	if !ok {
		return errAt(file, "major:minor", f, ErrSyntax)
	}
	var err error
	var v uint64
	if v, err = parseUint(maj); err != nil || v > 1<<32-1 {
		return errAt(file, "major:minor", f, orRange(err))
	}
	m.Major = uint32(v)
	if v, err = parseUint(min); err != nil || v > 1<<32-1 {
		return errAt(file, "major:minor", f, orRange(err))
	}
	m.Minor = uint32(v)
	if m.Root, rest = field(rest); len(m.Root) == 0 {
		return missing(file, "root")
	}
	if m.MountPoint, rest = field(rest); len(m.MountPoint) == 0 {
		return missing(file, "mount point")
	}
	if f, rest = field(rest); len(f) == 0 {
		return missing(file, "mount options")
	}
	// Optional fields ("shared:1 master:2"), ended by a lone "-".
	for {
		if f, rest = field(rest); len(f) == 0 {
			return missing(file, "separator")
		}
		if len(f) == 1 && f[0] == '-' {
			break
		}
	}
	if m.FSType, rest = field(rest); len(m.FSType) == 0 {
		return missing(file, "filesystem type")
	}
	// The source may be empty only if the line ends there; the kernel prints
	// "none" for a sourceless mount, so an empty field is a malformed line.
	if m.Source, _ = field(rest); len(m.Source) == 0 {
		return missing(file, "source")
	}
	return nil
}

// orRange is err, or ErrRange when err is nil (a value too large for its type).
func orRange(err error) error {
	if err == nil {
		return ErrRange
	}
	return err
}

// Unescape appends to dst the text of a mountinfo path with the kernel's octal
// escapes (fs/proc_namespace.c: space, tab, newline and backslash as \ooo)
// decoded, and returns it.
func Unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			c = (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			i += 3
		}
		dst = append(dst, c)
	}
	return dst
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// ParseFilesystems appends to dst the block filesystem types of the content of
// /proc/filesystems (the lines without "nodev") and returns it. It allocates
// the names: call it when the mount table changes, not per cycle.
func ParseFilesystems(b []byte, dst []string) ([]string, error) {
	for len(b) > 0 {
		var ln []byte
		ln, b = line(b)
		if len(trim(ln)) == 0 {
			continue
		}
		first, rest := field(ln)
		if string(first) == "nodev" {
			if name, _ := field(rest); len(name) == 0 {
				return dst, errAt("filesystems", "", ln, ErrSyntax)
			}
			continue
		}
		if extra, _ := field(rest); len(extra) != 0 {
			return dst, errAt("filesystems", "", ln, ErrSyntax)
		}
		dst = append(dst, string(first))
	}
	return dst, nil
}

// keepMount reports whether the agent's disk check reports the mount m of
// block filesystem types blockTypes (see Filesystems). mountPoint is m's
// unescaped mount point.
func keepMount(m *MountLine, mountPoint []byte, blockTypes []string) bool {
	if len(m.Source) == 0 || string(m.Source) == "none" {
		return false
	}
	typ := m.FSType
	// The agent's default file_system_global_exclude: iso9660$, tracefs$
	// (case-insensitive), and mount_point_global_exclude
	// (/host)?/proc/sys/fs/binfmt_misc$.
	if hasSuffixFold(typ, "iso9660") || hasSuffixFold(typ, "tracefs") ||
		bytes.HasSuffix(mountPoint, []byte("/proc/sys/fs/binfmt_misc")) {
		return false
	}
	for _, t := range blockTypes {
		if t == string(typ) {
			return true
		}
	}
	return false
}

func hasSuffixFold(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && strings.EqualFold(string(b[len(b)-len(suffix):]), suffix)
}
