//go:build linux

package pfile

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/whippet-agent/whippet/internal/testenv"
)

func TestReadFileGrows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, size := range []int{0, 1, MinBuf - 1, MinBuf, MinBuf + 1, 5*MinBuf + 3} {
		want := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		name := filepath.Join(dir, "f")
		if err := os.WriteFile(name, want, 0o600); err != nil {
			t.Fatal(err)
		}
		var p Path
		var buf []byte
		for _, single := range []bool{false, true} {
			fd, err := Open(AtCWD, p.Reset().Str(name))
			if err != nil {
				t.Fatalf("Open(%s): %v", name, err)
			}
			got, err := ReadFD(fd, &buf, single)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("ReadFD(size %d, single %v) = %d bytes, %v; want %d bytes", size, single, len(got), err, size)
			}
			got, err = PreadFD(fd, &buf, single)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("PreadFD(size %d, single %v) = %d bytes, %v; want %d bytes", size, single, len(got), err, size)
			}
			Close(fd)
		}
		got, err := ReadFile(AtCWD, p.Reset().Str(name), &buf)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ReadFile(size %d) = %d bytes, %v", size, len(got), err)
		}
	}
}

// TestMultiRecordSeqFile reads a procfs file longer than one buffer whose reads
// return short before EOF (/proc/self/maps of a Go test binary is several KiB).
func TestMultiRecordSeqFile(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		testenv.Skip(t, "%v", err)
	}
	var p Path
	buf := make([]byte, 64) // force many short reads
	got, err := ReadFile(AtCWD, p.Str("/proc/self/mountinfo"), &buf)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("ReadFile(/proc/self/mountinfo) = %d bytes, %v; want %d", len(got), err, len(want))
	}
}

func TestRelativeOpenAndGone(t *testing.T) {
	t.Parallel()
	var p Path
	dirfd, err := OpenDir(AtCWD, p.Str("/proc"))
	if err != nil {
		t.Fatal(err)
	}
	defer Close(dirfd)
	var buf []byte
	if _, err := ReadFile(dirfd, p.Reset().Uint(uint64(os.Getpid())).Str("/stat"), &buf); err != nil {
		t.Errorf("ReadFile(<proc>/self-pid/stat): %v", err)
	}
	_, err = ReadFile(dirfd, p.Reset().Str("999999999/stat"), &buf)
	if !IsGone(err) {
		t.Errorf("ReadFile of a missing pid: %v, want a gone error", err)
	}
	if IsGone(syscall.EACCES) {
		t.Errorf("IsGone(EACCES) = true")
	}
}

func TestGetdents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var want []string
	for _, n := range []string{"12345", "a", "a-much-longer-name-to-vary-record-lengths", "bb"} { // sorted
		want = append(want, n)
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var p Path
	fd, err := OpenDir(AtCWD, p.Str(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer Close(fd)
	buf := make([]byte, 64) // several getdents calls
	for range 2 {           // the second pass checks the rewind
		var got []string
		err := Getdents(fd, buf, func(name []byte, typ uint8) {
			if string(name) != "." && string(name) != ".." {
				got = append(got, string(name))
			}
		})
		slices.Sort(got)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Getdents = %q, %v; want %q", got, err, want)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	var p Path
	var buf []byte
	self := uint64(os.Getpid())
	fd, _ := Open(AtCWD, p.Reset().Str("/proc/").Uint(self).Str("/stat"))
	defer Close(fd)
	dirfd, _ := OpenDir(AtCWD, p.Reset().Str("/proc"))
	defer Close(dirfd)
	dents := make([]byte, 32<<10)
	n := testing.AllocsPerRun(100, func() {
		_, _ = ReadFile(AtCWD, p.Reset().Str("/proc/").Uint(self).Str("/status"), &buf)
		_, _ = PreadFD(fd, &buf, true)
		_ = Getdents(dirfd, dents, func([]byte, uint8) {})
	})
	if n != 0 {
		t.Errorf("%v allocs per read, want 0", n)
	}
}
