package ship

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fileStore is a minimal durable Store for the crash test: one file per
// record, progress marks beside it, every write a synced temp file renamed
// into place.
type fileStore struct {
	dir  string
	mu   sync.Mutex
	next uint64
}

func openFileStore(dir string) (*fileStore, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &fileStore{dir: dir}
	recs := map[uint64]bool{}
	var marks []uint64
	for _, e := range ents {
		name := e.Name()
		id, ext, _ := strings.Cut(name, ".")
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil || ext == "tmp" || strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name)) // a write cut by the crash
			continue
		}
		s.next = max(s.next, n)
		if ext == "rec" {
			recs[n] = true
		} else {
			marks = append(marks, n)
		}
	}
	for _, n := range marks { // a mark whose record was acked
		if !recs[n] {
			_ = os.Remove(s.path(n, "mark"))
		}
	}
	return s, nil
}

func (s *fileStore) path(id uint64, ext string) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d.%s", id, ext))
}

func (s *fileStore) write(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (s *fileStore) Append(b []byte) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	if err := s.write(s.path(s.next, "rec"), b); err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	return s.next, nil
}

func (s *fileStore) IDs(dst []uint64) []uint64 {
	ents, _ := os.ReadDir(s.dir)
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".rec"); ok {
			if n, err := strconv.ParseUint(id, 10, 64); err == nil {
				dst = append(dst, n)
			}
		}
	}
	return dst // ReadDir sorts by name: zero-padded ids, oldest first
}

func (s *fileStore) Read(id uint64, buf []byte) ([]byte, uint32, error) {
	b, err := os.ReadFile(s.path(id, "rec"))
	if errors.Is(err, fs.ErrNotExist) {
		return buf, 0, fmt.Errorf("read %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return buf, 0, fmt.Errorf("read %d: %w", id, err)
	}
	var mark uint32
	if m, err := os.ReadFile(s.path(id, "mark")); err == nil && len(m) == 4 {
		mark = binary.LittleEndian.Uint32(m)
	}
	return append(buf[:0], b...), mark, nil
}

func (s *fileStore) Mark(id uint64, done uint32) error {
	return s.write(s.path(id, "mark"), binary.LittleEndian.AppendUint32(nil, done))
}

func (s *fileStore) Ack(id uint64) error {
	// The record first: a crash in between leaves an orphan mark, never a
	// record without its progress.
	if err := os.Remove(s.path(id, "rec")); err != nil {
		return fmt.Errorf("ack %d: %w", id, err)
	}
	_ = os.Remove(s.path(id, "mark"))
	return nil
}

const crashChildEnv = "WHIPPET_SHIP_CRASH_CHILD"

// crashChild is the process the crash test kills: it submits records to a
// Shipper on a file store and sends them until killed, or, in drain mode,
// until the store is empty.
func crashChild() {
	dir, url, run := os.Getenv("WHIPPET_SHIP_DIR"), os.Getenv("WHIPPET_SHIP_URL"), os.Getenv("WHIPPET_SHIP_RUN")
	n, _ := strconv.Atoi(os.Getenv("WHIPPET_SHIP_SUBMIT"))
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	store, err := openFileStore(dir)
	if err != nil {
		fail(err)
	}
	ep, err := ResolveEndpoints("", url, url)
	if err != nil {
		fail(err)
	}
	client, err := NewClient(ep, Options{APIKey: testKey})
	if err != nil {
		fail(err)
	}
	s, err := New(Config{Store: store, Encoder: testEncoder{}, Client: client})
	if err != nil {
		fail(err)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := range n {
		name := fmt.Sprintf("r%s-%d", run, i)
		if err := s.Submit(KindSeries, time.Now(), []byte(name+":3:3")); err != nil {
			fail(err)
		}
		fmt.Fprintln(out, "submitted", name) // only once Submit returned: the record is durable
		out.Flush()
	}
	if n > 0 {
		select {} // until SIGKILL
	}
	for len(store.IDs(nil)) > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Close(context.Background()); err != nil {
		fail(err)
	}
	os.Exit(0)
}

// TestShipperCrash is reliability.md §7.2: a shipper is SIGKILLed 20 times
// mid-flush; no durable record may be lost and each kill may cost at most one
// duplicate payload.
func TestShipperCrash(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	t.Parallel()
	if testing.Short() {
		t.Skip("re-executes the test binary 21 times")
	}
	const kills = 20
	var (
		mu     sync.Mutex
		count  = map[string]int{}
		seen   int
		target int
		child  *os.Process
		killed bool
		before bool // kill before replying: the payload surely arrived and its reply is lost
	)
	kill := func() {
		if child != nil && !killed {
			_ = child.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 256)
		n, _ := r.Body.Read(b)
		key, _, _ := strings.Cut(string(b[:n]), "|")
		mu.Lock()
		count[key]++
		seen++
		hit, killFirst := seen == target, before
		if hit && killFirst {
			kill()
		}
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		if hit && !killFirst {
			http.NewResponseController(w).Flush()
			mu.Lock()
			kill()
			mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	var submitted []string
	runChild := func(run, submit int) error {
		cmd := exec.Command(os.Args[0], "-test.run=^TestShipperCrash$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"=1",
			"WHIPPET_SHIP_DIR="+dir, "WHIPPET_SHIP_URL="+srv.URL,
			"WHIPPET_SHIP_RUN="+strconv.Itoa(run), "WHIPPET_SHIP_SUBMIT="+strconv.Itoa(submit))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		cmd.Stderr = os.Stderr
		mu.Lock()
		seen, target, killed, before = 0, 3+rand.IntN(40), false, run%2 == 0
		if submit == 0 {
			target = -1 // the drain run is not killed
		}
		err = cmd.Start()
		child = cmd.Process
		mu.Unlock()
		if err != nil {
			return err
		}
		watchdog := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() }) // a hung child fails the test, not the run
		defer watchdog.Stop()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "submitted "); ok {
				submitted = append(submitted, name)
			}
		}
		err = cmd.Wait()
		mu.Lock()
		defer mu.Unlock()
		if submit > 0 && !killed {
			return fmt.Errorf("run %d ended before it was killed: %v", run, err)
		}
		if submit == 0 && err != nil {
			return fmt.Errorf("drain run: %w", err)
		}
		return nil
	}
	for run := range kills {
		if err := runChild(run, 30); err != nil {
			t.Fatal(err)
		}
	}
	if err := runChild(kills, 0); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	var lost []string
	for _, name := range submitted {
		for i := range 3 {
			if count[fmt.Sprintf("%s/%d", name, i)] == 0 {
				lost = append(lost, fmt.Sprintf("%s/%d", name, i))
			}
		}
	}
	dups := 0
	for _, c := range count {
		dups += c - 1
	}
	slices.Sort(lost)
	if len(lost) > 0 {
		t.Errorf("%d payloads of durable records lost: %v", len(lost), lost)
	}
	if dups > kills {
		t.Errorf("%d duplicate payloads over %d kills, want at most one per kill", dups, kills)
	}
	if len(submitted) < kills {
		t.Errorf("only %d records submitted: the children did not run", len(submitted))
	}
	t.Logf("crash: %d kills, %d durable records, %d payloads received, %d duplicates", kills, len(submitted), len(count)+dups, dups)
}
