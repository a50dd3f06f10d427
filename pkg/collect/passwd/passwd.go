// Package passwd names uids from the host's passwd file, as the process check tags
// processes with their user.
//
// The agent runs in a container whose own /etc/passwd knows none of the host's
// users, so the file is the host's (hostfs.Root.Passwd). Names are interned: a
// Lookup returns the same string every time, with no allocation, and a uid the
// file does not know is named by its decimal form, interned the same way.
package passwd

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

// maxNums bounds the decimal names kept for unknown uids; past it they are
// dropped and made again on demand, so random uids cannot grow the DB forever.
const maxNums = 4096

// DB maps uids to user names. It is not safe for concurrent use: one collector
// owns it, calls Refresh once per cycle and Lookup per process.
type DB struct {
	path    string
	names   map[uint32]string // from the file
	nums    map[uint32]string // decimal names of uids the file lacks
	skipped int
	file    file // the file's identity when last parsed, and read buffers
}

// New reads root's passwd file. When the file is missing or unreadable it returns
// the error together with a usable DB whose Lookup names every uid by number, and
// which a later Refresh fills once the file appears.
func New(root hostfs.Root) (*DB, error) {
	db := &DB{
		path:  root.Passwd(),
		names: map[uint32]string{},
		nums:  map[uint32]string{},
	}
	db.file.init(db.path)
	_, err := db.Refresh()
	return db, err
}

// Lookup returns the user name of uid, or its decimal form when the file does
// not name it. Repeated lookups return the same string and do not allocate.
func (db *DB) Lookup(uid uint32) string {
	if s, ok := db.names[uid]; ok {
		return s
	}
	if s, ok := db.nums[uid]; ok {
		return s
	}
	if len(db.nums) >= maxNums {
		clear(db.nums)
	}
	s := strconv.FormatUint(uint64(uid), 10)
	db.nums[uid] = s
	return s
}

// Len is the number of uids the file names.
func (db *DB) Len() int { return len(db.names) }

// Skipped is the number of malformed lines in the file when it was last parsed.
func (db *DB) Skipped() int { return db.skipped }

// Refresh re-reads the file if it changed since it was last parsed: another
// inode (the file was replaced, as useradd and vipw do), another size or another
// mtime. Checking costs open+fstat+close and no allocation. It reports whether
// the file was re-parsed. When the file cannot be read the previous names stay.
func (db *DB) Refresh() (changed bool, err error) {
	b, changed, err := db.file.load()
	if err != nil {
		return false, fmt.Errorf("read %s: %w", db.path, err)
	}
	if !changed {
		return false, nil
	}
	names := make(map[uint32]string, len(db.names))
	db.skipped = Parse(b, func(uid uint32, name []byte) {
		if _, dup := names[uid]; dup {
			return // getpwuid returns the first entry
		}
		// Keep the string of a name that did not change, so consumers that
		// interned it by identity keep matching.
		if old, ok := db.names[uid]; ok && old == string(name) {
			names[uid] = old
			return
		}
		names[uid] = string(name)
	})
	db.names = names
	return true, nil
}

// Parse calls fn with the uid and name of each entry of the passwd file content
// b, in order, and returns how many lines it skipped as malformed. An entry is
// "name:password:uid:gid:gecos:dir:shell" (passwd(5)); like glibc and musl it
// needs all seven fields, a non-empty name and a decimal uid. Blank lines and
// '#' comments are ignored, not counted. name is valid only during the call.
func Parse(b []byte, fn func(uid uint32, name []byte)) (skipped int) {
	for len(b) > 0 {
		var ln []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			ln, b = b[:i], b[i+1:]
		} else {
			ln, b = b, nil
		}
		if len(bytes.TrimSpace(ln)) == 0 || ln[0] == '#' {
			continue
		}
		name, rest, _ := bytes.Cut(ln, colon)
		_, rest, _ = bytes.Cut(rest, colon) // password
		uidText, rest, ok := bytes.Cut(rest, colon)
		if !ok || len(name) == 0 || bytes.Count(rest, colon) < 3 {
			skipped++
			continue
		}
		uid, ok := parseUID(uidText)
		if !ok {
			skipped++
			continue
		}
		fn(uid, name)
	}
	return skipped
}

var colon = []byte{':'}

// parseUID parses a decimal uid up to 2³²-1.
func parseUID(b []byte) (uint32, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c-'0' > 9 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}
