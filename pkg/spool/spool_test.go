package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func open(t *testing.T, dir string, o Options) *Spool {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustAppend(t *testing.T, s *Spool, data []byte) uint64 {
	t.Helper()
	id, err := s.Append(data)
	if err != nil {
		t.Fatalf("Append(%d bytes) = %v", len(data), err)
	}
	return id
}

// files lists the directory's names, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	sort.Strings(names)
	return names
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func TestAppendReadMarkAck(t *testing.T) {
	t.Parallel()
	for _, sync := range []bool{true, false} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			t.Parallel()
			s := open(t, t.TempDir(), Options{Sync: sync})
			var ids []uint64
			for i := range 4 {
				ids = append(ids, mustAppend(t, s, []byte(fmt.Sprintf("record %d", i))))
			}
			if diff := cmp.Diff([]uint64{1, 2, 3, 4}, ids); diff != "" {
				t.Errorf("Append ids (-want +got):\n%s", diff)
			}
			if got := s.IDs(nil); !slices.Equal(got, ids) {
				t.Errorf("IDs() = %v, want %v", got, ids)
			}
			buf := make([]byte, 0, 64)
			for i, id := range ids {
				data, done, err := s.Read(id, buf)
				if err != nil || string(data) != fmt.Sprintf("record %d", i) || done != 0 {
					t.Errorf("Read(%d) = %q, %d, %v", id, data, done, err)
				}
			}
			if err := s.Mark(2, 3); err != nil {
				t.Fatalf("Mark(2, 3) = %v", err)
			}
			if _, done, err := s.Read(2, nil); done != 3 || err != nil {
				t.Errorf("Read(2) after Mark = done %d, %v; want 3", done, err)
			}
			if err := s.Ack(1); err != nil {
				t.Fatalf("Ack(1) = %v", err)
			}
			if err := s.Ack(3); err != nil {
				t.Fatalf("Ack(3) = %v", err)
			}
			if got, want := s.IDs(nil), []uint64{2, 4}; !slices.Equal(got, want) {
				t.Errorf("IDs() after Ack = %v, want %v", got, want)
			}
			if err := s.Ack(1); !errors.Is(err, ErrNotFound) {
				t.Errorf("Ack(1) twice = %v, want ErrNotFound", err)
			}
			if _, _, err := s.Read(3, nil); !errors.Is(err, ErrNotFound) {
				t.Errorf("Read(acked) = %v, want ErrNotFound", err)
			}
			if err := s.Mark(99, 1); !errors.Is(err, ErrNotFound) {
				t.Errorf("Mark(99) = %v, want ErrNotFound", err)
			}
			st := s.Stats()
			want := Stats{Records: 2, Bytes: 2 * (headerSize + 8), Appended: 4, Acked: 2}
			if diff := cmp.Diff(want, st); diff != "" {
				t.Errorf("Stats() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		mustAppend(t, s, bytes.Repeat([]byte{byte(i)}, 100+i))
	}
	if err := s.Ack(1); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(5); err != nil {
		t.Fatal(err)
	}
	if err := s.Mark(3, 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
	if _, err := s.Append([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}

	s = open(t, dir, DefaultOptions())
	if s.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
	}
	if got, want := s.IDs(nil), []uint64{2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("IDs() after restart = %v, want %v", got, want)
	}
	for _, id := range []uint64{2, 3, 4} {
		data, done, err := s.Read(id, nil)
		i := int(id - 1)
		wantDone := uint32(0)
		if id == 3 {
			wantDone = 7
		}
		if err != nil || !bytes.Equal(data, bytes.Repeat([]byte{byte(i)}, 100+i)) || done != wantDone {
			t.Errorf("Read(%d) after restart = %d bytes, done %d, %v; want %d bytes, done %d", id, len(data), done, err, 100+i, wantDone)
		}
	}
	st := s.Stats()
	if st.Records != 3 || st.Bytes != 3*headerSize+101+102+103 {
		t.Errorf("Stats() after restart = %+v", st)
	}
	// Ids continue after the largest one found, not after the largest ever
	// (5 was acked), and never reuse a live id.
	if id := mustAppend(t, s, []byte("next")); id != 5 {
		t.Errorf("Append after restart = id %d, want 5", id)
	}
}

func TestEviction(t *testing.T) {
	t.Parallel()
	const rec = headerSize + 100
	dir := t.TempDir()
	s := open(t, dir, Options{MaxBytes: 3*rec + 50, Sync: false})
	for i := range 7 {
		mustAppend(t, s, bytes.Repeat([]byte{byte(i)}, 100))
		st := s.Stats()
		if st.Bytes > 3*rec+50 || dirBytes(t, dir) != st.Bytes {
			t.Fatalf("after Append %d: Stats().Bytes = %d, on disk %d, cap %d", i, st.Bytes, dirBytes(t, dir), 3*rec+50)
		}
	}
	if got, want := s.IDs(nil), []uint64{5, 6, 7}; !slices.Equal(got, want) {
		t.Errorf("IDs() after eviction = %v, want %v (oldest evicted first)", got, want)
	}
	st := s.Stats()
	want := Stats{Records: 3, Bytes: 3 * rec, Appended: 7, Evicted: 4, EvictedBytes: 4 * rec}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
	if _, err := s.Append(make([]byte, 3*rec+50)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append(larger than cap) = %v, want ErrTooLarge", err)
	}
	if got := s.IDs(nil); len(got) != 3 {
		t.Errorf("a refused Append evicted records: IDs() = %v", got)
	}
	// A record exactly at the cap fits once everything else is evicted.
	id := mustAppend(t, s, make([]byte, 3*rec+50-headerSize))
	if got := s.IDs(nil); !slices.Equal(got, []uint64{id}) {
		t.Errorf("IDs() after a cap-sized Append = %v, want [%d]", got, id)
	}
}

// TestDamagedFiles damages the files of a spool holding records 1, 2 and 3 and
// checks what Open and Read make of them.
func TestDamagedFiles(t *testing.T) {
	t.Parallel()
	good := []byte("the quick brown fox")
	tests := []struct {
		name string
		// damage changes the directory holding records 1, 2 and 3 (record 2's
		// file is at path p2).
		damage      func(t *testing.T, dir, p2 string)
		wantIDs     []uint64 // after Open
		wantOpenBad uint64   // Stats().Corrupt after Open
		wantFiles   []string // extra files left on disk, besides records
		readBad     bool     // Read(2) reports ErrCorrupt
	}{
		{
			name:    "truncated",
			damage:  func(t *testing.T, _, p2 string) { must(t, os.Truncate(p2, headerSize+5)) },
			wantIDs: []uint64{1, 3}, wantOpenBad: 1,
		},
		{
			name:    "truncated header",
			damage:  func(t *testing.T, _, p2 string) { must(t, os.Truncate(p2, 7)) },
			wantIDs: []uint64{1, 3}, wantOpenBad: 1,
		},
		{
			name:    "zero length",
			damage:  func(t *testing.T, _, p2 string) { must(t, os.Truncate(p2, 0)) },
			wantIDs: []uint64{1, 3}, wantOpenBad: 1,
		},
		{
			name:    "flipped magic",
			damage:  func(t *testing.T, _, p2 string) { flip(t, p2, 1) },
			wantIDs: []uint64{1, 3}, wantOpenBad: 1,
		},
		{
			name:    "flipped length",
			damage:  func(t *testing.T, _, p2 string) { flip(t, p2, 8) },
			wantIDs: []uint64{1, 3}, wantOpenBad: 1,
		},
		{
			name:    "flipped data byte",
			damage:  func(t *testing.T, _, p2 string) { flip(t, p2, headerSize+3) },
			wantIDs: []uint64{1, 2, 3}, readBad: true,
		},
		{
			name:    "flipped checksum",
			damage:  func(t *testing.T, _, p2 string) { flip(t, p2, 13) },
			wantIDs: []uint64{1, 2, 3}, readBad: true,
		},
		{
			name: "appended garbage",
			damage: func(t *testing.T, _, p2 string) {
				f, err := os.OpenFile(p2, os.O_APPEND|os.O_WRONLY, 0)
				must(t, err)
				_, err = f.Write([]byte("junk"))
				must(t, err)
				must(t, f.Close())
			},
			wantIDs: []uint64{1, 3}, wantOpenBad: 1,
		},
		{
			name: "stray temp file",
			damage: func(t *testing.T, dir, _ string) {
				must(t, os.WriteFile(filepath.Join(dir, "0000000000000009.tmp"), []byte("half a rec"), 0o600))
			},
			wantIDs: []uint64{1, 2, 3},
		},
		{
			name: "foreign files",
			damage: func(t *testing.T, dir, _ string) {
				for _, n := range []string{"README", "x.rec", "0000000000000009-1.rec.bak", "000000000000000g-0.rec", "0000000000000009-01.rec", "00000009.tmp"} {
					must(t, os.WriteFile(filepath.Join(dir, n), []byte("not ours"), 0o600))
				}
				must(t, os.Mkdir(filepath.Join(dir, "0000000000000008-0.rec"), 0o700))
			},
			wantIDs:   []uint64{1, 2, 3},
			wantFiles: []string{"0000000000000008-0.rec", "0000000000000009-01.rec", "0000000000000009-1.rec.bak", "000000000000000g-0.rec", "00000009.tmp", "README", "x.rec"},
		},
		{
			name: "duplicate id",
			damage: func(t *testing.T, dir, p2 string) {
				b, err := os.ReadFile(p2)
				must(t, err)
				must(t, os.WriteFile(filepath.Join(dir, recName(2, 4)), b, 0o600))
			},
			wantIDs: []uint64{1, 2, 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := open(t, dir, Options{})
			for range 3 {
				mustAppend(t, s, good)
			}
			must(t, s.Close())
			tt.damage(t, dir, filepath.Join(dir, recName(2, 0)))

			s = open(t, dir, Options{})
			if got := s.IDs(nil); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("IDs() = %v, want %v", got, tt.wantIDs)
			}
			if got := s.Stats().Corrupt; got != tt.wantOpenBad {
				t.Errorf("Stats().Corrupt after Open = %d, want %d", got, tt.wantOpenBad)
			}
			for _, id := range tt.wantIDs {
				data, _, err := s.Read(id, nil)
				if id == 2 && tt.readBad {
					if !errors.Is(err, ErrCorrupt) {
						t.Errorf("Read(2) = %q, %v; want ErrCorrupt", data, err)
					}
					continue
				}
				if err != nil || !bytes.Equal(data, good) {
					t.Errorf("Read(%d) = %q, %v; want %q", id, data, err, good)
				}
			}
			if tt.readBad {
				if got := s.IDs(nil); !slices.Equal(got, []uint64{1, 3}) {
					t.Errorf("IDs() after a corrupt Read = %v, want [1 3]", got)
				}
				if got := s.Stats().Corrupt; got != 1 {
					t.Errorf("Stats().Corrupt after a corrupt Read = %d, want 1", got)
				}
			}
			var recs []string
			for _, id := range s.IDs(nil) {
				_, done, _ := s.Read(id, nil)
				recs = append(recs, recName(id, done))
			}
			want := append(recs, tt.wantFiles...)
			sort.Strings(want)
			if diff := cmp.Diff(want, files(t, dir)); diff != "" {
				t.Errorf("files on disk (-want +got):\n%s", diff)
			}
			if id := mustAppend(t, s, good); id != 4 {
				t.Errorf("Append after damage = id %d, want 4", id)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	b[off] ^= 0x40
	must(t, os.WriteFile(path, b, 0o600))
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		before os.FileMode // 0: the directory does not exist
	}{
		{"created", 0},
		{"owner only", 0o700},
		{"group writable", 0o770},
		{"world writable", 0o777},
		{"world readable", 0o755},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "a", "spool")
			want := os.FileMode(0o700) // whatever it was: owner only
			if tt.before != 0 {
				must(t, os.MkdirAll(dir, 0o700))
				must(t, os.Chmod(dir, tt.before))
			}
			s := open(t, dir, Options{})
			fi, err := os.Stat(dir)
			must(t, err)
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("mode of %s after Open = %v, want %v", dir, got, want)
			}
			mustAppend(t, s, []byte("x"))
			fi, err = os.Stat(filepath.Join(dir, recName(1, 0)))
			must(t, err)
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("record mode = %v, want 0600", got)
			}
		})
	}
	t.Run("not a directory", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "file")
		must(t, os.WriteFile(p, nil, 0o600))
		if s, err := Open(p, Options{}); err == nil {
			s.Close()
			t.Errorf("Open(a file) = nil error")
		}
	})
}

// TestConcurrent runs Append against IDs, Read, Mark and Ack; run it with -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{MaxBytes: 64 << 10, Sync: false})
	const writers, perWriter = 3, 60
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if _, err := s.Append(bytes.Repeat([]byte{byte(w)}, 500+i)); err != nil {
					t.Errorf("Append = %v", err)
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var reads, acks int
	readers.Go(func() {
		var ids []uint64
		buf := make([]byte, 0, 1024)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ids = s.IDs(ids)
			if !slices.IsSorted(ids) {
				t.Errorf("IDs() not sorted: %v", ids)
			}
			for _, id := range ids {
				data, _, err := s.Read(id, buf)
				if errors.Is(err, ErrNotFound) {
					continue // evicted meanwhile
				}
				if err != nil {
					t.Errorf("Read(%d) = %v", id, err)
					continue
				}
				if len(data) < 500 || bytes.Count(data, data[:1]) != len(data) {
					t.Errorf("Read(%d) = %d bytes of mixed content", id, len(data))
				}
				reads++
				if id%3 == 0 {
					if err := s.Mark(id, 1); err != nil && !errors.Is(err, ErrNotFound) {
						t.Errorf("Mark(%d) = %v", id, err)
					}
				}
				if id%5 == 0 {
					if err := s.Ack(id); err == nil {
						acks++
					} else if !errors.Is(err, ErrNotFound) {
						t.Errorf("Ack(%d) = %v", id, err)
					}
				}
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	st := s.Stats()
	if st.Appended != writers*perWriter {
		t.Errorf("Stats().Appended = %d, want %d", st.Appended, writers*perWriter)
	}
	if uint64(st.Records)+st.Acked+st.Evicted != st.Appended {
		t.Errorf("Records %d + Acked %d + Evicted %d != Appended %d", st.Records, st.Acked, st.Evicted, st.Appended)
	}
	if st.Acked != uint64(acks) || st.Bytes > 64<<10 || st.Corrupt != 0 {
		t.Errorf("Stats() = %+v, acks %d", st, acks)
	}
	if got := s.IDs(nil); !slices.IsSorted(got) || len(got) != st.Records {
		t.Errorf("IDs() = %v, Records %d", got, st.Records)
	}
	t.Logf("reads %d, acks %d, evicted %d", reads, acks, st.Evicted)
}

func TestNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		id     uint64
		done   uint32
		wantOK bool
	}{
		{"0000000000000042-3.rec", 0x42, 3, true},
		{"ffffffffffffffff-4294967295.rec", 1<<64 - 1, 1<<32 - 1, true},
		{"0000000000000000-0.rec", 0, 0, false},
		{"0000000000000042-3.tmp", 0, 0, false},
		{"000000000000042-3.rec", 0, 0, false},
		{"0000000000000042-.rec", 0, 0, false},
		{"0000000000000042-03.rec", 0, 0, false},
		{"0000000000000042-4294967296.rec", 0, 0, false},
		{"00000000000000x2-3.rec", 0, 0, false},
	}
	for _, tt := range tests {
		id, done, ok := parseName(tt.name)
		if ok != tt.wantOK || id != tt.id || done != tt.done {
			t.Errorf("parseName(%q) = %d, %d, %v; want %d, %d, %v", tt.name, id, done, ok, tt.id, tt.done, tt.wantOK)
		}
		if ok && recName(id, done) != tt.name {
			t.Errorf("recName(%d, %d) = %q, want %q", id, done, recName(id, done), tt.name)
		}
	}
}

// FuzzRead puts arbitrary bytes in a record file: Open and Read must never
// panic, and must either return the data the header vouches for or drop the
// record as corrupt.
func FuzzRead(f *testing.F) {
	var h [headerSize]byte
	putHeader(h[:], []byte("hello"))
	f.Add(append(h[:], "hello"...))
	f.Add(h[:])
	f.Add([]byte{})
	f.Add([]byte("WSPL\x01\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, recName(1, 0)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, Options{Sync: false})
		if err != nil {
			t.Fatalf("Open = %v", err)
		}
		defer s.Close()
		data, _, err := s.Read(1, nil)
		want, derr := decode(b)
		switch {
		case derr == nil && (err != nil || !bytes.Equal(data, want)):
			t.Errorf("Read = %q, %v; decode = %q", data, err, want)
		case derr != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotFound):
			t.Errorf("Read of a bad record = %v; want ErrCorrupt or ErrNotFound (decode: %v)", err, derr)
		case derr != nil && s.Stats().Corrupt != 1:
			t.Errorf("bad record not counted: %+v", s.Stats())
		}
	})
}

// TestReadReusesBuffer: a caller that passes the data Read returned as the next
// buffer (as the shipper does) reads a record of the same size into it.
func TestReadReusesBuffer(t *testing.T) {
	s := open(t, t.TempDir(), DefaultOptions())
	rec := bytes.Repeat([]byte("record "), 10_000)
	a, err := s.Append(rec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Append(rec)
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := s.Read(a, nil)
	if err != nil || !bytes.Equal(first, rec) {
		t.Fatalf("read: %v", err)
	}
	second, _, err := s.Read(b, first[:0])
	if err != nil || !bytes.Equal(second, rec) {
		t.Fatalf("read: %v", err)
	}
	if end := func(b []byte) *byte { return &b[:cap(b)][cap(b)-1] }; end(second) != end(first) {
		t.Errorf("second read of a same-size record allocated a new buffer")
	}
}
