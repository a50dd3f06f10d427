// Package spool is a crash-safe, capped, ordered record store on local disk:
// the shipper appends each encoded cycle before it tries the intake and acks it
// once delivered, so an intake outage or a crash loses nothing the disk held.
//
// Layout: one file per record in one directory, named
// "<16 hex digits of id>-<progress mark>.rec", holding a 16-byte header (magic
// "WSPL", version, data length, CRC-32C of the data) and the data. Ids grow by
// one per Append and resume after the largest id found at Open (so after a full
// drain they start again at 1: an id names a record only while it exists).
//
// Durability (Options.Sync, on in DefaultOptions): Append writes a temporary
// file, fsyncs it, renames it into place and fsyncs the directory before it
// returns, so a record Append reported is on disk after a power loss, and a
// crash mid-Append leaves only a temporary file that the next Open removes.
// Mark (a rename) and Ack (an unlink) do not fsync: a process crash sees them
// at once (they are in the kernel), so at most the payload in flight is
// replayed; after a power loss those since the last Append's directory fsync
// (one cycle's) may be undone, and their payloads are sent again. Either way
// delivery is at least once, and a directory fsync per payload was most of the
// shipper's cost. With Sync off the same renames keep records whole across a
// process crash, but the kernel decides when they reach the disk.
//
// Integrity: Open checks every record's header and length (a truncated, empty or
// foreign-magic file is removed and counted in Stats.Corrupt) and keeps only
// ids and sizes in memory; Read checks the CRC and removes a record that fails
// it. Files that are not ours are left alone.
//
// The cap (Options.MaxBytes, counted in file bytes) is never exceeded once
// Append returns: Append evicts the oldest records first and counts them.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("spool: record not found")
	ErrCorrupt  = errors.New("spool: record corrupt")
	ErrTooLarge = errors.New("spool: record larger than the spool cap")
	ErrClosed   = errors.New("spool: closed")
)

// DefaultMaxBytes is the cap used when Options.MaxBytes is 0.
const DefaultMaxBytes = 128 << 20

const (
	headerSize = 16
	version    = 1
	recExt     = ".rec"
	tmpExt     = ".tmp"
	// maxData bounds a record's data so that a corrupt header cannot make Read
	// allocate more than the header's 32-bit length allows.
	maxData = 1<<32 - 1
)

var (
	magic  = [4]byte{'W', 'S', 'P', 'L'}
	crcTab = crc32.MakeTable(crc32.Castagnoli)
)

// Options configure a Spool.
type Options struct {
	// MaxBytes caps the bytes of all record files; 0 means DefaultMaxBytes.
	MaxBytes int64
	// Sync makes Append durable before it returns (fsync of the file and the
	// directory, which also commits earlier Marks and Acks).
	Sync bool
	// Log receives warnings (corrupt records, a fixed directory mode); nil
	// discards them.
	Log *slog.Logger
}

// DefaultOptions are the production settings: a 128 MiB cap, fsync on.
func DefaultOptions() Options { return Options{MaxBytes: DefaultMaxBytes, Sync: true} }

// Stats are the spool's gauges (Records, Bytes) and its counters since Open.
type Stats struct {
	Records      int   // records held
	Bytes        int64 // bytes of the record files held
	Appended     uint64
	Acked        uint64
	Evicted      uint64 // records removed to respect MaxBytes
	EvictedBytes uint64
	Corrupt      uint64 // records removed because they failed a check
}

// entry is all the spool keeps in memory per record.
type entry struct {
	id   uint64
	size int64 // file bytes: header + data
	done uint32
}

// Spool is a directory of records. Its methods are safe for concurrent use.
type Spool struct {
	path string
	opt  Options
	log  *slog.Logger

	mu     sync.RWMutex
	dir    *os.File // for fsync of the directory; nil once closed
	index  []entry  // sorted by id
	next   uint64
	closed bool
	stats  Stats
}

// Open opens the spool in dir, creating it with mode 0700. An existing
// directory that group or others may write is tightened to 0700 (a warning is
// logged); Open refuses it if that chmod fails. Open removes temporary files
// left by a crash and corrupt records, and keeps the rest in id order.
func Open(dir string, o Options) (*Spool, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := prepareDir(dir, log); err != nil {
		return nil, err
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	s := &Spool{path: dir, opt: o, log: log, dir: d, next: 1}
	if err := s.scan(); err != nil {
		d.Close()
		return nil, err
	}
	return s, nil
}

func prepareDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create spool %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("stat spool %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("spool %s: not a directory", dir)
	}
	// Owner only: the records hold the host's command lines (scrubbed) and
	// container inventory; other users may not even list them.
	if perm := fi.Mode().Perm(); perm != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("spool %s is %v, not owner-only, and chmod failed: %w", dir, perm, err)
		}
		log.Warn("spool directory was not owner-only; set to 0700", "dir", dir, "was", perm.String())
	}
	return nil
}

// scan rebuilds the index from the directory.
func (s *Spool) scan() error {
	des, err := s.dir.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("list spool %s: %w", s.path, err)
	}
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() {
			continue
		}
		if strings.HasSuffix(name, tmpExt) {
			if _, ok := parseTmpName(name); ok {
				s.removeFile(name, "stale temporary file")
			}
			continue
		}
		id, done, ok := parseName(name)
		if !ok {
			continue // not ours
		}
		size, err := checkFile(filepath.Join(s.path, name))
		if err != nil {
			if errors.Is(err, ErrCorrupt) {
				s.stats.Corrupt++
				s.log.Warn("spool record corrupt; removed", "file", name, "err", err)
				s.removeFile(name, "corrupt record")
				continue
			}
			return err
		}
		s.index = append(s.index, entry{id: id, size: size, done: done})
	}
	slices.SortFunc(s.index, func(a, b entry) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return int(int64(b.done) - int64(a.done)) // highest mark first
	})
	// The same id twice (two marks) cannot come from our renames; keep the
	// furthest progress so no payload is resent twice more than needed.
	kept := s.index[:0]
	for _, e := range s.index {
		if len(kept) > 0 && e.id == kept[len(kept)-1].id {
			s.removeFile(recName(e.id, e.done), "duplicate record")
			continue
		}
		kept = append(kept, e)
	}
	s.index = kept
	for _, e := range s.index {
		s.stats.Bytes += e.size
	}
	s.stats.Records = len(s.index)
	if n := len(s.index); n > 0 {
		s.next = s.index[n-1].id + 1
	}
	return nil
}

func (s *Spool) removeFile(name, why string) {
	if err := os.Remove(filepath.Join(s.path, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("spool: remove "+why, "file", name, "err", err)
	}
}

// checkFile validates a record's header against its file size.
func checkFile(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	var h [headerSize]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return 0, fmt.Errorf("read header of %s (%d bytes): %w", path, fi.Size(), ErrCorrupt)
	}
	n, _, err := parseHeader(h[:])
	if err != nil {
		return 0, err
	}
	if want := headerSize + int64(n); fi.Size() != want {
		return 0, fmt.Errorf("%s has %d bytes, header says %d: %w", path, fi.Size(), want, ErrCorrupt)
	}
	return fi.Size(), nil
}

func parseHeader(h []byte) (n uint32, sum uint32, err error) {
	if len(h) < headerSize {
		return 0, 0, fmt.Errorf("header of %d bytes: %w", len(h), ErrCorrupt)
	}
	if [4]byte(h[:4]) != magic {
		return 0, 0, fmt.Errorf("bad magic %q: %w", h[:4], ErrCorrupt)
	}
	if h[4] != version {
		return 0, 0, fmt.Errorf("unknown version %d: %w", h[4], ErrCorrupt)
	}
	return binary.LittleEndian.Uint32(h[8:]), binary.LittleEndian.Uint32(h[12:]), nil
}

func putHeader(h []byte, data []byte) {
	copy(h, magic[:])
	h[4] = version
	h[5], h[6], h[7] = 0, 0, 0
	binary.LittleEndian.PutUint32(h[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(data, crcTab))
}

// decode checks a whole record file's bytes and returns its data.
// Decode returns the data of a record file's content (header checked, CRC
// verified): for tools that read a spool file directly (`whippet decode`).
func Decode(b []byte) ([]byte, error) { return decode(b) }

func decode(b []byte) ([]byte, error) {
	n, sum, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	if uint64(len(b)-headerSize) != uint64(n) {
		return nil, fmt.Errorf("%d data bytes, header says %d: %w", len(b)-headerSize, n, ErrCorrupt)
	}
	data := b[headerSize:]
	if got := crc32.Checksum(data, crcTab); got != sum {
		return nil, fmt.Errorf("crc32c %08x, header says %08x: %w", got, sum, ErrCorrupt)
	}
	return data, nil
}

func recName(id uint64, done uint32) string {
	return fmt.Sprintf("%016x-%d%s", id, done, recExt)
}

func tmpName(id uint64) string {
	return fmt.Sprintf("%016x%s", id, tmpExt)
}

// parseName parses "<16 hex>-<decimal>.rec".
func parseName(name string) (id uint64, done uint32, ok bool) {
	base, found := strings.CutSuffix(name, recExt)
	if !found {
		return 0, 0, false
	}
	hex, dec, found := strings.Cut(base, "-")
	if !found || len(hex) != 16 || dec == "" || (len(dec) > 1 && dec[0] == '0') {
		return 0, 0, false
	}
	id, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || id == 0 {
		return 0, 0, false
	}
	d, err := strconv.ParseUint(dec, 10, 32)
	if err != nil {
		return 0, 0, false
	}
	return id, uint32(d), true
}

func parseTmpName(name string) (uint64, bool) {
	hex, found := strings.CutSuffix(name, tmpExt)
	if !found || len(hex) != 16 {
		return 0, false
	}
	id, err := strconv.ParseUint(hex, 16, 64)
	return id, err == nil
}

// find returns the index position of id. Callers hold s.mu.
func (s *Spool) find(id uint64) (int, bool) {
	return slices.BinarySearchFunc(s.index, id, func(e entry, id uint64) int {
		switch {
		case e.id < id:
			return -1
		case e.id > id:
			return 1
		}
		return 0
	})
}

// Append stores data as a new record and returns its id. With Sync the record
// is on disk when Append returns. Older records are evicted (and counted) so
// that the spool stays within MaxBytes; data that alone exceeds the cap is
// refused with ErrTooLarge.
func (s *Spool) Append(data []byte) (uint64, error) {
	size := int64(headerSize) + int64(len(data))
	if size > s.opt.MaxBytes || uint64(len(data)) > maxData {
		return 0, fmt.Errorf("append %d bytes (cap %d): %w", len(data), s.opt.MaxBytes, ErrTooLarge)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	id := s.next
	s.next++
	s.mu.Unlock()

	// The file is written and synced outside the lock so that readers and
	// other appenders are not held up by the disk.
	tmp := filepath.Join(s.path, tmpName(id))
	if err := s.writeTmp(tmp, data); err != nil {
		os.Remove(tmp)
		return 0, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		os.Remove(tmp)
		return 0, ErrClosed
	}
	s.evictLocked(size)
	if err := os.Rename(tmp, filepath.Join(s.path, recName(id, 0))); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("append record %d: %w", id, err)
	}
	if err := s.syncDirLocked(); err != nil {
		// The rename happened; keep the record indexed so it is not orphaned.
		s.insertLocked(entry{id: id, size: size})
		return id, err
	}
	s.insertLocked(entry{id: id, size: size})
	return id, nil
}

func (s *Spool) writeTmp(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	var h [headerSize]byte
	putHeader(h[:], data)
	_, err = f.Write(h[:])
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil && s.opt.Sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func (s *Spool) insertLocked(e entry) {
	i, _ := s.find(e.id)
	s.index = slices.Insert(s.index, i, e)
	s.stats.Records = len(s.index)
	s.stats.Bytes += e.size
	s.stats.Appended++
}

// evictLocked removes the oldest records until size more bytes fit the cap.
func (s *Spool) evictLocked(size int64) {
	n := 0
	for n < len(s.index) && s.stats.Bytes+size > s.opt.MaxBytes {
		e := s.index[n]
		s.removeFile(recName(e.id, e.done), "evicted record")
		s.stats.Bytes -= e.size
		s.stats.Evicted++
		s.stats.EvictedBytes += uint64(e.size)
		n++
	}
	if n > 0 {
		s.index = slices.Delete(s.index, 0, n)
		s.stats.Records = len(s.index)
		s.log.Debug("spool full; evicted oldest records", "records", n, "cap", s.opt.MaxBytes)
	}
}

func (s *Spool) syncDirLocked() error {
	if !s.opt.Sync {
		return nil
	}
	if err := s.dir.Sync(); err != nil {
		return fmt.Errorf("fsync spool %s: %w", s.path, err)
	}
	return nil
}

// IDs appends the ids of the records held, oldest first, to dst[:0].
func (s *Spool) IDs(dst []uint64) []uint64 {
	dst = dst[:0]
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range s.index {
		dst = append(dst, e.id)
	}
	return dst
}

// Read returns record id's data, read into buf (grown if too small), and its
// progress mark. A record that fails its checks is removed, counted, and
// reported as ErrCorrupt.
func (s *Spool) Read(id uint64, buf []byte) (data []byte, done uint32, err error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, 0, ErrClosed
	}
	i, ok := s.find(id)
	if !ok {
		s.mu.RUnlock()
		return nil, 0, fmt.Errorf("read record %d: %w", id, ErrNotFound)
	}
	e := s.index[i]
	data, err = s.readFile(e, buf)
	s.mu.RUnlock()
	if err == nil {
		return data, e.done, nil
	}
	if errors.Is(err, ErrCorrupt) || errors.Is(err, fs.ErrNotExist) {
		s.dropCorrupt(e, err)
		return nil, 0, fmt.Errorf("read record %d: %w", id, ErrCorrupt)
	}
	return nil, 0, fmt.Errorf("read record %d: %w", id, err)
}

// readFile reads e's file into buf. Callers hold s.mu for reading, so the file
// cannot be renamed or removed meanwhile.
func (s *Spool) readFile(e entry, buf []byte) ([]byte, error) {
	f, err := os.Open(filepath.Join(s.path, recName(e.id, e.done)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if int64(cap(buf)) < e.size {
		// With headroom: callers keep the returned data (past the header) as
		// the next buffer, which must still hold a record of this size.
		buf = make([]byte, e.size, e.size+e.size/4+headerSize)
	}
	b := buf[:e.size]
	n, err := io.ReadFull(f, b)
	if err != nil {
		return nil, fmt.Errorf("%d of %d bytes (%v): %w", n, e.size, err, ErrCorrupt)
	}
	// A file that grew since Open is as suspect as a short one.
	var extra [1]byte
	if m, _ := f.Read(extra[:]); m != 0 {
		return nil, fmt.Errorf("file longer than %d bytes: %w", e.size, ErrCorrupt)
	}
	return decode(b)
}

func (s *Spool) dropCorrupt(e entry, cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.find(e.id)
	if !ok || s.index[i] != e || s.closed {
		return // acked, marked or evicted meanwhile
	}
	s.removeFile(recName(e.id, e.done), "corrupt record")
	s.index = slices.Delete(s.index, i, i+1)
	s.stats.Records = len(s.index)
	s.stats.Bytes -= e.size
	s.stats.Corrupt++
	s.log.Warn("spool record corrupt; removed", "id", e.id, "err", cause)
}

// Mark records that the first done payloads of record id were delivered, so a
// restart resumes after them.
func (s *Spool) Mark(id uint64, done uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	i, ok := s.find(id)
	if !ok {
		return fmt.Errorf("mark record %d: %w", id, ErrNotFound)
	}
	e := &s.index[i]
	if e.done == done {
		return nil
	}
	if err := os.Rename(filepath.Join(s.path, recName(id, e.done)), filepath.Join(s.path, recName(id, done))); err != nil {
		return fmt.Errorf("mark record %d: %w", id, err)
	}
	e.done = done
	return nil
}

// Ack removes record id once it is delivered.
func (s *Spool) Ack(id uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	i, ok := s.find(id)
	if !ok {
		return fmt.Errorf("ack record %d: %w", id, ErrNotFound)
	}
	e := s.index[i]
	if err := os.Remove(filepath.Join(s.path, recName(id, e.done))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ack record %d: %w", id, err)
	}
	s.index = slices.Delete(s.index, i, i+1)
	s.stats.Records = len(s.index)
	s.stats.Bytes -= e.size
	s.stats.Acked++
	return nil
}

// Dir returns the spool's directory.
func (s *Spool) Dir() string { return s.path }

// Stats returns the current figures.
func (s *Spool) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.stats
}

// Close releases the directory. Records stay on disk for the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.dir.Close()
	s.dir = nil
	if err != nil {
		return fmt.Errorf("close spool %s: %w", s.path, err)
	}
	return nil
}
