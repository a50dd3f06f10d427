//go:build linux

package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

func newReader(t testing.TB, root hostfs.Root, opt Options) *Reader {
	t.Helper()
	r, err := NewReader(root, opt)
	if err != nil {
		t.Fatalf("NewReader(%s) error = %v", root, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// copyHost copies a fixture host into a temporary directory the test may change.
func copyHost(t *testing.T, host string) (string, hostfs.Root) {
	t.Helper()
	src := filepath.Join("..", "..", "..", "testdata", "fakehost", host)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(l, to)
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		default:
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, 0o644)
		}
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	return dst, hostfs.At(dst)
}

// openContainer locates pid's container and opens a handle on it.
func openContainer(t testing.TB, r *Reader, pid int32) *Handle {
	t.Helper()
	var p Paths
	if err := r.Locate(pid, &p); err != nil {
		t.Fatalf("Locate(%d) error = %v", pid, err)
	}
	h := new(Handle)
	if err := r.Open(h, &p); err != nil {
		t.Fatalf("Open(%s) error = %v", &p, err)
	}
	t.Cleanup(func() { r.Release(h) })
	return h
}

// TestLocateFixtures runs Locate over every process of both fixtures: container
// processes give their container's paths, host processes ErrNotContainer, the
// process-less directory ErrGone.
func TestLocateFixtures(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"v1", "v2"} {
		t.Run(host, func(t *testing.T) {
			root := fixtureRoot(host)
			r := newReader(t, root, Options{})
			ents, err := os.ReadDir(root.Proc())
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range ents {
				pid, err := strconv.Atoi(e.Name())
				if err != nil {
					continue
				}
				var p Paths
				err = r.Locate(int32(pid), &p)
				want, inContainer := fixtureContainers[host][pid]
				switch {
				case pid == 32301: // edge case (d): a directory without files
					if !errors.Is(err, ErrGone) {
						t.Errorf("Locate(%d) error = %v, want ErrGone", pid, err)
					}
				case !inContainer:
					if !errors.Is(err, ErrNotContainer) {
						t.Errorf("Locate(%d) = %q, %v; want ErrNotContainer (host process)", pid, p.String(), err)
					}
				case err != nil:
					t.Errorf("Locate(%d) error = %v, want container %s", pid, err, want)
				default:
					n++
					path := fixtureCgroups[want]
					if p.ID() != want || p.String() != path {
						t.Errorf("Locate(%d) = %q id %q, want %q id %q", pid, p.String(), p.ID(), path, want)
					}
					if host == "v1" {
						for _, c := range []Controller{CPU, CPUAcct, CPUSet, Memory, Blkio, Pids, Unified} {
							if p.Path(c) != path {
								t.Errorf("Locate(%d).Path(%v) = %q, want %q", pid, c, p.Path(c), path)
							}
						}
					}
				}
			}
			if n != len(fixtureContainers[host]) {
				t.Errorf("%d container processes located, want %d", n, len(fixtureContainers[host]))
			}
		})
	}
}

// The fields each layout gives (v1: no Weight, OOMEvents, PSI; v2: no Shares, Failcnt).
const (
	hasCommon = CPUUsage | CPUUser | CPUSystem | CPUPeriods | CPUThrottled | CPUThrottledTime | CPUQuota | CPUCount |
		MemoryUsage | MemoryLimit | MemorySoftLimit | MemorySwapLimit | MemoryRSS | MemoryCache | MemorySwap |
		MemoryInactiveFile | MemoryWorkingSet | MemoryKernel | MemoryOOMKills | MemoryPeak | MemoryPgFault |
		MemoryPgMajFault | IOBytes | IOOps | PidsCurrent | PidsLimit
	hasV1  = hasCommon | CPUShares | MemoryFailcnt
	hasPSI = PSICPU | PSIMemory | PSIIO
	hasV2  = hasCommon | CPUWeight | MemoryOOMEvents | hasPSI
)

// TestReadFixtures reads one container of each layout and compares every field
// with the values of its files (testdata/fakehost; read by hand).
func TestReadFixtures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host string
		pid  int32
		opt  Options
		want Stats
	}{
		{"v1", 32351, Options{}, Stats{ // web: ECS task container, shares 256, 256m, reservation 128m, vda rule
			CPU: CPUStats{Usage: 128749350, User: 110_000_000, System: 10_000_000, Quota: -1, Period: 100000, Shares: 256, CPUs: 2},
			Memory: MemoryStats{Usage: 1249280, Limit: 268435456, SoftLimit: 134217728, SwapLimit: 536870912, RSS: 225280,
				Cache: 512000, InactiveFile: 20480, WorkingSet: 1228800, Kernel: 507904, Peak: 4071424, PgFault: 1457, PgMajFault: 5},
			IO:   IOStats{Devices: []IODevice{{Major: 254, ReadBytes: 4702208, WriteBytes: 4194304, ReadOps: 135, WriteOps: 64}}},
			Pids: PidsStats{Current: 4},
			Has:  hasV1,
		}},
		{"v1", 32351, Options{HybridPSI: true}, Stats{ // the same with PSI from the unified mount
			CPU: CPUStats{Usage: 128749350, User: 110_000_000, System: 10_000_000, Quota: -1, Period: 100000, Shares: 256, CPUs: 2},
			Memory: MemoryStats{Usage: 1249280, Limit: 268435456, SoftLimit: 134217728, SwapLimit: 536870912, RSS: 225280,
				Cache: 512000, InactiveFile: 20480, WorkingSet: 1228800, Kernel: 507904, Peak: 4071424, PgFault: 1457, PgMajFault: 5},
			IO:   IOStats{Devices: []IODevice{{Major: 254, ReadBytes: 4702208, WriteBytes: 4194304, ReadOps: 135, WriteOps: 64}}},
			Pids: PidsStats{Current: 4},
			PSI:  PSIStats{CPUSome: 56575, IOSome: 4529, IOFull: 4523},
			Has:  hasV1 | hasPSI,
		}},
		{"v1", 32496, Options{}, Stats{ // billing-worker: plain, --cpus 1.5, 512m, pids 100, no I/O counted
			CPU: CPUStats{Usage: 27368318, User: 10_000_000, Periods: 4, Quota: 150000, Period: 100000, Shares: 1024, CPUs: 2},
			Memory: MemoryStats{Usage: 610304, Limit: 536870912, SwapLimit: 1073741824, RSS: 176128, WorkingSet: 610304,
				Kernel: 434176, Peak: 3559424, PgFault: 1177},
			Pids: PidsStats{Current: 3, Limit: 100},
			Has:  hasV1,
		}},
		{"v2", 3305, Options{}, Stats{ // api: ECS task container
			CPU: CPUStats{Usage: 108710000, User: 101465000, System: 7245000, Quota: -1, Period: 100000, Weight: 10, CPUs: 2},
			Memory: MemoryStats{Usage: 737280, Limit: 268435456, SoftLimit: 134217728, SwapLimit: 536870912, RSS: 229376,
				WorkingSet: 737280, Kernel: 507904, Peak: 3817472, PgFault: 1347},
			IO:   IOStats{Devices: []IODevice{{Major: 254, ReadBytes: 4194304, WriteBytes: 4194304, ReadOps: 64, WriteOps: 64}}},
			Pids: PidsStats{Current: 4},
			PSI:  PSIStats{CPUSome: 13561, IOSome: 6181, IOFull: 6181},
			Has:  hasV2,
		}},
		{"v2", 3447, Options{}, Stats{ // cron-runner: plain, empty io.stat
			CPU: CPUStats{Usage: 28613000, User: 23844000, System: 4769000, Periods: 3, Quota: 150000, Period: 100000, Weight: 100, CPUs: 2},
			Memory: MemoryStats{Usage: 606208, Limit: 536870912, SwapLimit: 1073741824, RSS: 180224, WorkingSet: 606208,
				Kernel: 425984, Peak: 3813376, PgFault: 1177},
			Pids: PidsStats{Current: 3, Limit: 100},
			PSI:  PSIStats{CPUSome: 4987},
			Has:  hasV2,
		}},
	} {
		r := newReader(t, fixtureRoot(tc.host), tc.opt)
		h := openContainer(t, r, tc.pid)
		var s Stats
		for i := range 3 { // the first read opens, the next ones pread and use cached limits
			if err := r.Read(h, &s); err != nil {
				t.Fatalf("%s pid %d: Read error = %v", tc.host, tc.pid, err)
			}
			if diff := cmp.Diff(tc.want, s, cmp.Comparer(devicesEqual)); diff != "" {
				t.Errorf("%s pid %d read %d: Read = %+v (-want +got):\n%s", tc.host, tc.pid, i, s, diff)
			}
		}
	}
}

// TestReadParent reads the ECS task cgroups the fixtures have: the task limits a
// container without its own quota falls back to.
func TestReadParent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host  string
		pid   int32
		quota int64
		mem   uint64
	}{{"v1", 32351, 50000, 536870912}, {"v2", 3305, 50000, 536870912}} {
		r := newReader(t, fixtureRoot(tc.host), Options{})
		var p Paths
		if err := r.Locate(tc.pid, &p); err != nil {
			t.Fatal(err)
		}
		parent := p.Parent()
		var h Handle
		if err := r.Open(&h, &parent); err != nil {
			t.Fatalf("Open(%s) error = %v", &parent, err)
		}
		var s Stats
		if err := r.Read(&h, &s); err != nil {
			t.Fatalf("Read(%s) error = %v", &parent, err)
		}
		r.Release(&h)
		if s.CPU.Quota != tc.quota || s.Memory.Limit != tc.mem || !s.Has.Has(CPUQuota|MemoryLimit) {
			t.Errorf("%s task %s: quota %d, memory limit %d; want %d, %d", tc.host, &parent, s.CPU.Quota, s.Memory.Limit, tc.quota, tc.mem)
		}
	}
}

// TestReadNoAllocs: a steady-state Read allocates nothing, with held descriptors
// and without (open/read/close beyond the cap), limits refreshed or not.
func TestReadNoAllocs(t *testing.T) {
	for _, host := range []string{"v1", "v2"} {
		pid := map[string]int32{"v1": 32351, "v2": 3305}[host]
		for _, opt := range []Options{{}, {MaxHeld: -1}, {LimitsEvery: 1}, {MaxHeld: 3, HybridPSI: true}} {
			r := newReader(t, fixtureRoot(host), opt)
			h := openContainer(t, r, pid)
			var s Stats
			if err := r.Read(h, &s); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(100, func() {
				if err := r.Read(h, &s); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("%s %+v: Read: %v allocs, want 0", host, opt, n)
			}
		}
	}
}

func TestHeldCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		max, want int
	}{{0, 18}, {-1, 0}, {5, 5}, {15, 15}} {
		r := newReader(t, fixtureRoot("v1"), Options{MaxHeld: tc.max})
		h := openContainer(t, r, 32351)
		var s Stats
		for range 2 {
			if err := r.Read(h, &s); err != nil {
				t.Fatal(err)
			}
		}
		if r.HeldFDs() != tc.want || h.Held() != tc.want {
			t.Errorf("MaxHeld %d: Reader holds %d, handle %d; want %d", tc.max, r.HeldFDs(), h.Held(), tc.want)
		}
		r.Release(h)
		r.Release(h)
		if r.HeldFDs() != 0 || h.Held() != 0 {
			t.Errorf("MaxHeld %d: after Release, Reader holds %d, handle %d", tc.max, r.HeldFDs(), h.Held())
		}
		if err := r.Read(h, &s); err == nil {
			t.Errorf("Read on a released handle: no error")
		}
	}
}

// TestHeldPriority: under the cap, the per-cycle files of every open handle come
// before any limit file.
func TestHeldPriority(t *testing.T) {
	t.Parallel()
	r := newReader(t, fixtureRoot("v1"), Options{MaxHeld: 27})
	hs := []*Handle{openContainer(t, r, 32351), openContainer(t, r, 32423), openContainer(t, r, 32496)}
	var s Stats
	for _, h := range hs {
		if err := r.Read(h, &s); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range hs {
		if h.Held() != 9 {
			t.Errorf("handle %d holds %d, want its 9 per-cycle files", i, h.Held())
		}
	}
	r.Release(hs[2])
	// Room for 9 limit files now, taken at the next refresh of the limits.
	for range DefaultLimitsEvery {
		if err := r.Read(hs[0], &s); err != nil {
			t.Fatal(err)
		}
	}
	if hs[0].Held() != 18 || r.HeldFDs() != 27 {
		t.Errorf("after a release: handle holds %d, reader %d; want 18 and 27", hs[0].Held(), r.HeldFDs())
	}
}

// TestLimitsEvery: limits are re-read every LimitsEvery-th Read, reported from the
// cache in between.
func TestLimitsEvery(t *testing.T) {
	t.Parallel()
	dir, root := copyHost(t, "v1")
	r := newReader(t, root, Options{LimitsEvery: 3, MaxHeld: -1})
	h := openContainer(t, r, 32496)
	shares := filepath.Join(dir, "sys/fs/cgroup/cpu/docker", idB, "cpu.shares")
	usage := filepath.Join(dir, "sys/fs/cgroup/cpuacct/docker", idB, "cpuacct.usage")
	failcnt := filepath.Join(dir, "sys/fs/cgroup/memory/docker", idB, "memory.failcnt")
	var got, gotFail []uint64
	for i := range 7 {
		if err := os.WriteFile(shares, []byte(strconv.Itoa(100+i)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(failcnt, []byte(strconv.Itoa(7+i)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(usage, []byte(strconv.Itoa(1000+i)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var s Stats
		if err := r.Read(h, &s); err != nil {
			t.Fatal(err)
		}
		if s.CPU.Usage != uint64(1000+i) {
			t.Errorf("read %d: usage %d, want %d (read every time)", i, s.CPU.Usage, 1000+i)
		}
		got = append(got, s.CPU.Shares)
		gotFail = append(gotFail, s.Memory.Failcnt)
		if !s.Has.Has(MemoryFailcnt | MemoryPeak | MemoryOOMKills) {
			t.Errorf("read %d: slow v1 counters absent between refreshes (Has %b)", i, s.Has)
		}
	}
	if want := []uint64{100, 100, 100, 103, 103, 103, 106}; !cmp.Equal(got, want) {
		t.Errorf("shares over 7 reads with LimitsEvery 3 = %v, want %v", got, want)
	}
	if want := []uint64{7, 7, 7, 10, 10, 10, 13}; !cmp.Equal(gotFail, want) {
		t.Errorf("failcnt over 7 reads with LimitsEvery 3 = %v, want %v (slow schedule)", gotFail, want)
	}
}

// TestAbsentAndGone: a file this kernel lacks leaves its fields absent without an
// error; a controller not mounted likewise; a removed cgroup gives ErrGone.
func TestAbsentAndGone(t *testing.T) {
	t.Parallel()
	dir, root := copyHost(t, "v1")
	mem := filepath.Join(dir, "sys/fs/cgroup/memory/docker", idB)
	for _, f := range []string{"memory.kmem.usage_in_bytes", "memory.max_usage_in_bytes"} {
		if err := os.Remove(filepath.Join(mem, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "sys/fs/cgroup/pids")); err != nil {
		t.Fatal(err)
	}
	r := newReader(t, root, Options{MaxHeld: -1})
	h := openContainer(t, r, 32496)
	var s Stats
	for range 2 {
		if err := r.Read(h, &s); err != nil {
			t.Fatalf("Read error = %v, want none for absent files", err)
		}
	}
	if want := hasV1 &^ (MemoryKernel | MemoryPeak | PidsCurrent | PidsLimit); s.Has != want {
		t.Errorf("Has = %b, want %b", s.Has, want)
	}
	if s.Memory.Usage != 610304 {
		t.Errorf("Memory.Usage = %d, want 610304", s.Memory.Usage)
	}

	// The container goes away.
	for _, ctl := range []string{"cpu", "cpuacct", "cpuset", "memory", "blkio"} {
		if err := os.RemoveAll(filepath.Join(dir, "sys/fs/cgroup", ctl, "docker", idB)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Read(h, &s); !errors.Is(err, ErrGone) || !IsGone(err) {
		t.Errorf("Read of a removed cgroup: error = %v, want ErrGone", err)
	}
	var p Paths
	if err := r.Locate(32496, &p); err != nil {
		t.Fatal(err)
	}
	if err := r.Open(h, &p); !errors.Is(err, ErrGone) {
		t.Errorf("Open of a removed cgroup: error = %v, want ErrGone", err)
	}
	if err := r.Locate(999999, &p); !errors.Is(err, ErrGone) {
		t.Errorf("Locate of a missing pid: error = %v, want ErrGone", err)
	}
}

// TestReadParseError: a malformed file fails its fields and the Read, the others
// are still read.
func TestReadParseError(t *testing.T) {
	t.Parallel()
	dir, root := copyHost(t, "v2")
	scope := filepath.Join(dir, "sys/fs/cgroup/system.slice/docker-b7873ac01fa2602b1b0c93cac8f72befedcbef80ce7e930185b6ee0790a886d7.scope")
	if err := os.WriteFile(filepath.Join(scope, "memory.current"), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newReader(t, root, Options{})
	h := openContainer(t, r, 3447)
	var s Stats
	err := r.Read(h, &s)
	if err == nil || IsGone(err) {
		t.Fatalf("Read error = %v, want a parse error", err)
	}
	if s.Has.Has(MemoryUsage) || s.Has.Has(MemoryWorkingSet) || !s.Has.Has(MemoryRSS|CPUUsage|PidsLimit) {
		t.Errorf("Has = %b after a bad memory.current", s.Has)
	}
}

func TestOpenModeMismatch(t *testing.T) {
	t.Parallel()
	r1 := newReader(t, fixtureRoot("v1"), Options{})
	r2 := newReader(t, fixtureRoot("v2"), Options{})
	var p Paths
	if err := r2.Locate(3305, &p); err != nil {
		t.Fatal(err)
	}
	var h Handle
	if err := r1.Open(&h, &p); err == nil {
		t.Errorf("Open of v2 paths on a hybrid reader: no error")
	}
	if r1.Mode() != ModeHybrid || r2.Mode() != ModeV2 {
		t.Errorf("modes %v, %v", r1.Mode(), r2.Mode())
	}
	if err := r1.Close(); err != nil {
		t.Error(err)
	}
	if err := r1.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// BenchmarkRead reads one fixture container per op (tmpfs or disk files, not
// kernfs: the parse and syscall overhead, not the kernel's text generation).
func BenchmarkRead(b *testing.B) {
	for _, host := range []string{"v1", "v2"} {
		pid := map[string]int32{"v1": 32351, "v2": 3305}[host]
		for _, tc := range []struct {
			name string
			opt  Options
		}{{"held", Options{}}, {"open", Options{MaxHeld: -1}}, {"held-limits-every-read", Options{LimitsEvery: 1}}} {
			b.Run(host+"/"+tc.name, func(b *testing.B) {
				r := newReader(b, fixtureRoot(host), tc.opt)
				h := openContainer(b, r, pid)
				var s Stats
				b.ReportAllocs()
				for b.Loop() {
					if err := r.Read(h, &s); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
