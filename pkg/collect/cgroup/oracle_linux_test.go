//go:build linux

package cgroup

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"

	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

// Differential tests: our Reader against containerd/cgroups/v3 (cgroup1 with a
// hierarchy of the cpu, cpuacct, memory, blkio and pids subsystems rooted at the host's
// cgroup mount, since cpu and cpuacct are separate hierarchies here; cgroup2.Manager
// with WithMountpoint, which accepts a fixture), on every container and ECS task cgroup
// of both fixtures and on real containers. For what containerd does not read (v1
// cpu.cfs_quota_us, cpu.cfs_period_us, cpu.shares, cpuset.cpus,
// memory.soft_limit_in_bytes, memory.stat total_swap; v2 cpu.max, cpu.weight,
// cpuset.cpus.effective, memory.low, memory.stat kernel; PSI of a hybrid unified
// mount without memory.stat) the oracle reads the file with os.ReadFile and strconv.

// oracleV1 reads a v1 cgroup with containerd. procDir holds a partitions file.
func oracleV1(t *testing.T, cgRoot, procDir, path string, psi bool) Stats {
	t.Helper()
	hier := func() ([]cgroup1.Subsystem, error) {
		return []cgroup1.Subsystem{cgroup1.NewCpu(cgRoot), cgroup1.NewCpuacct(cgRoot), cgroup1.NewMemory(cgRoot),
			cgroup1.NewBlkio(cgRoot, cgroup1.ProcRoot(procDir)), cgroup1.NewPids(cgRoot)}, nil
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(hier))
	if err != nil {
		t.Fatalf("cgroup1.Load(%s): %v", path, err)
	}
	m, err := cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		t.Fatalf("cgroup1 Stat(%s): %v", path, err)
	}
	var s Stats
	s.CPU.Usage, s.CPU.User, s.CPU.System = m.CPU.Usage.Total, m.CPU.Usage.User, m.CPU.Usage.Kernel
	s.CPU.Periods, s.CPU.Throttled, s.CPU.ThrottledTime = m.CPU.Throttling.Periods, m.CPU.Throttling.ThrottledPeriods, m.CPU.Throttling.ThrottledTime
	ctl := func(c, f string) string { return filepath.Join(cgRoot, c, path, f) }
	s.CPU.Quota = handInt(t, ctl("cpu", "cpu.cfs_quota_us"))
	s.CPU.Period = handUint(t, ctl("cpu", "cpu.cfs_period_us"))
	s.CPU.Shares = handUint(t, ctl("cpu", "cpu.shares"))
	s.CPU.CPUs = handCPUs(t, ctl("cpuset", "cpuset.cpus"))

	mem := m.Memory
	noLimit := func(v uint64) uint64 {
		if v >= unlimitedV1 {
			return 0
		}
		return v
	}
	s.Memory.Usage, s.Memory.Peak, s.Memory.Failcnt = mem.Usage.Usage, mem.Usage.Max, mem.Usage.Failcnt
	s.Memory.Limit, s.Memory.SwapLimit = noLimit(mem.HierarchicalMemoryLimit), noLimit(mem.HierarchicalSwapLimit)
	s.Memory.SoftLimit = noLimit(handUint(t, ctl("memory", "memory.soft_limit_in_bytes")))
	s.Memory.RSS, s.Memory.Cache, s.Memory.InactiveFile = mem.TotalRSS, mem.TotalCache, mem.TotalInactiveFile
	s.Memory.Swap = handKV(t, ctl("memory", "memory.stat"))["total_swap"]
	s.Memory.Kernel = mem.Kernel.Usage
	s.Memory.PgFault, s.Memory.PgMajFault = mem.TotalPgFault, mem.TotalPgMajFault
	s.Memory.OOMKills = m.MemoryOomControl.OomKill
	s.Memory.WorkingSet = max(s.Memory.Usage, s.Memory.InactiveFile) - s.Memory.InactiveFile

	// Without a CFQ/BFQ io_serviced_recursive file containerd reads the throttle
	// files (non-recursive, despite the field names).
	for _, e := range m.Blkio.IoServiceBytesRecursive {
		d := s.IO.Device(uint32(e.Major), uint32(e.Minor))
		switch e.Op {
		case "Read":
			d.ReadBytes = e.Value
		case "Write":
			d.WriteBytes = e.Value
		}
	}
	for _, e := range m.Blkio.IoServicedRecursive {
		d := s.IO.Device(uint32(e.Major), uint32(e.Minor))
		switch e.Op {
		case "Read":
			d.ReadOps = e.Value
		case "Write":
			d.WriteOps = e.Value
		}
	}
	s.Pids.Current, s.Pids.Limit = m.Pids.Current, m.Pids.Limit
	s.Has = hasV1
	if psi {
		u, err := cgroup2.Load(path, cgroup2.WithMountpoint(filepath.Join(cgRoot, "unified")))
		if err != nil {
			t.Fatalf("cgroup2.Load(unified %s): %v", path, err)
		}
		m2, err := u.StatFiltered(cgroup2.StatCPU | cgroup2.StatIO)
		if err != nil {
			t.Fatalf("cgroup2 Stat(unified %s): %v", path, err)
		}
		s.PSI.CPUSome = m2.CPU.PSI.Some.Total
		s.PSI.IOSome, s.PSI.IOFull = m2.Io.PSI.Some.Total, m2.Io.PSI.Full.Total
		// containerd skips memory.pressure when memory.stat is missing, as it is on a
		// hybrid unified mount.
		s.PSI.MemSome, s.PSI.MemFull = handPSI(t, filepath.Join(cgRoot, "unified", path, "memory.pressure"))
		s.Has |= hasPSI
	}
	return s
}

// oracleV2 reads a v2 cgroup with containerd's cgroup2.Manager.
func oracleV2(t *testing.T, mount, path string) Stats {
	t.Helper()
	mgr, err := cgroup2.Load(path, cgroup2.WithMountpoint(mount))
	if err != nil {
		t.Fatalf("cgroup2.Load(%s): %v", path, err)
	}
	m, err := mgr.StatFiltered(cgroup2.StatPids | cgroup2.StatCPU | cgroup2.StatMemory | cgroup2.StatMemoryEvents | cgroup2.StatIO)
	if err != nil {
		t.Fatalf("cgroup2 Stat(%s): %v", path, err)
	}
	noMax := func(v uint64) (uint64, bool) {
		if v == math.MaxUint64 {
			return 0, false
		}
		return v, true
	}
	file := func(f string) string { return filepath.Join(mount, path, f) }
	var s Stats
	s.CPU.Usage, s.CPU.User, s.CPU.System = m.CPU.UsageUsec*1000, m.CPU.UserUsec*1000, m.CPU.SystemUsec*1000
	s.CPU.Periods, s.CPU.Throttled, s.CPU.ThrottledTime = m.CPU.NrPeriods, m.CPU.NrThrottled, m.CPU.ThrottledUsec*1000
	q, p, _ := strings.Cut(handString(t, file("cpu.max")), " ")
	s.CPU.Quota = -1
	if q != "max" {
		s.CPU.Quota, _ = strconv.ParseInt(q, 10, 64)
	}
	s.CPU.Period, _ = strconv.ParseUint(p, 10, 64)
	s.CPU.Weight = handUint(t, file("cpu.weight"))
	s.CPU.CPUs = handCPUs(t, file("cpuset.cpus.effective"))

	mem := m.Memory
	limit, limited := noMax(mem.UsageLimit)
	swap, swapLimited := noMax(mem.SwapLimit)
	s.Memory.Usage, s.Memory.Limit, s.Memory.Peak, s.Memory.Swap = mem.Usage, limit, mem.MaxUsage, mem.SwapUsage
	if limited && swapLimited {
		s.Memory.SwapLimit = limit + swap
	}
	if low := handString(t, file("memory.low")); low != "max" {
		s.Memory.SoftLimit, _ = strconv.ParseUint(low, 10, 64)
	}
	s.Memory.RSS, s.Memory.Cache, s.Memory.InactiveFile = mem.Anon, mem.File, mem.InactiveFile
	if k, ok := handKV(t, file("memory.stat"))["kernel"]; ok {
		s.Memory.Kernel = k
	} else {
		s.Memory.Kernel = mem.KernelStack + mem.Slab
	}
	s.Memory.PgFault, s.Memory.PgMajFault = mem.Pgfault, mem.Pgmajfault
	s.Memory.WorkingSet = max(s.Memory.Usage, s.Memory.InactiveFile) - s.Memory.InactiveFile
	if m.MemoryEvents != nil {
		s.Memory.OOMEvents, s.Memory.OOMKills = m.MemoryEvents.Oom, m.MemoryEvents.OomKill
	}
	for _, e := range m.Io.Usage {
		if e.Rbytes|e.Wbytes|e.Rios|e.Wios == 0 {
			continue // a blkg without I/O: we skip "254:0 " lines; containerd keeps a zero entry
		}
		d := s.IO.Device(uint32(e.Major), uint32(e.Minor))
		d.ReadBytes, d.WriteBytes, d.ReadOps, d.WriteOps = e.Rbytes, e.Wbytes, e.Rios, e.Wios
	}
	s.Pids.Current = m.Pids.Current
	s.Pids.Limit, _ = noMax(m.Pids.Limit)
	s.PSI.CPUSome = m.CPU.PSI.Some.Total
	s.PSI.MemSome, s.PSI.MemFull = m.Memory.PSI.Some.Total, m.Memory.PSI.Full.Total
	s.PSI.IOSome, s.PSI.IOFull = m.Io.PSI.Some.Total, m.Io.PSI.Full.Total
	s.Has = hasV2
	return s
}

func handString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func handUint(t *testing.T, path string) uint64 {
	t.Helper()
	s := handString(t, path)
	if s == "max" {
		return 0
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("oracle: %s: %v", path, err)
	}
	return v
}

func handInt(t *testing.T, path string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(handString(t, path), 10, 64)
	if err != nil {
		t.Fatalf("oracle: %s: %v", path, err)
	}
	return v
}

func handKV(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	for _, line := range strings.Split(handString(t, path), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			v, err := strconv.ParseUint(f[1], 10, 64)
			if err == nil {
				m[f[0]] = v
			}
		}
	}
	return m
}

func handCPUs(t *testing.T, path string) uint32 {
	t.Helper()
	n := uint32(0)
	for _, part := range strings.Split(handString(t, path), ",") {
		if part == "" {
			continue
		}
		lo, hi, ok := strings.Cut(part, "-")
		if !ok {
			hi = lo
		}
		l, _ := strconv.Atoi(lo)
		h, _ := strconv.Atoi(hi)
		n += uint32(h - l + 1)
	}
	return n
}

func handPSI(t *testing.T, path string) (some, full uint64) {
	t.Helper()
	for _, line := range strings.Split(handString(t, path), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		v, _ := strconv.ParseUint(strings.TrimPrefix(f[len(f)-1], "total="), 10, 64)
		switch f[0] {
		case "some":
			some = v
		case "full":
			full = v
		}
	}
	return some, full
}

// check tells how a field may differ between our read and the oracle's on a live
// cgroup: exact (limits), counter (monotonic: the oracle's value lies between our
// read before and after it), gauge (within the range of our two reads, widened by
// a slack for the kernel's own allocations between the reads).
type check uint8

const (
	exact check = iota
	counter
	gauge
)

var compared = []struct {
	name string
	get  func(*Stats) uint64
	how  check
}{
	{"CPU.Usage", func(s *Stats) uint64 { return s.CPU.Usage }, counter},
	{"CPU.User", func(s *Stats) uint64 { return s.CPU.User }, counter},
	{"CPU.System", func(s *Stats) uint64 { return s.CPU.System }, counter},
	{"CPU.Periods", func(s *Stats) uint64 { return s.CPU.Periods }, counter},
	{"CPU.Throttled", func(s *Stats) uint64 { return s.CPU.Throttled }, counter},
	{"CPU.ThrottledTime", func(s *Stats) uint64 { return s.CPU.ThrottledTime }, counter},
	{"CPU.Quota", func(s *Stats) uint64 { return uint64(s.CPU.Quota) }, exact},
	{"CPU.Period", func(s *Stats) uint64 { return s.CPU.Period }, exact},
	{"CPU.Shares", func(s *Stats) uint64 { return s.CPU.Shares }, exact},
	{"CPU.Weight", func(s *Stats) uint64 { return s.CPU.Weight }, exact},
	{"CPU.CPUs", func(s *Stats) uint64 { return uint64(s.CPU.CPUs) }, exact},
	{"Memory.Usage", func(s *Stats) uint64 { return s.Memory.Usage }, gauge},
	{"Memory.Limit", func(s *Stats) uint64 { return s.Memory.Limit }, exact},
	{"Memory.SoftLimit", func(s *Stats) uint64 { return s.Memory.SoftLimit }, exact},
	{"Memory.SwapLimit", func(s *Stats) uint64 { return s.Memory.SwapLimit }, exact},
	{"Memory.RSS", func(s *Stats) uint64 { return s.Memory.RSS }, gauge},
	{"Memory.Cache", func(s *Stats) uint64 { return s.Memory.Cache }, gauge},
	{"Memory.Swap", func(s *Stats) uint64 { return s.Memory.Swap }, gauge},
	{"Memory.InactiveFile", func(s *Stats) uint64 { return s.Memory.InactiveFile }, gauge},
	{"Memory.WorkingSet", func(s *Stats) uint64 { return s.Memory.WorkingSet }, gauge},
	{"Memory.Kernel", func(s *Stats) uint64 { return s.Memory.Kernel }, gauge},
	{"Memory.Failcnt", func(s *Stats) uint64 { return s.Memory.Failcnt }, counter},
	{"Memory.OOMEvents", func(s *Stats) uint64 { return s.Memory.OOMEvents }, counter},
	{"Memory.OOMKills", func(s *Stats) uint64 { return s.Memory.OOMKills }, counter},
	{"Memory.Peak", func(s *Stats) uint64 { return s.Memory.Peak }, counter},
	{"Memory.PgFault", func(s *Stats) uint64 { return s.Memory.PgFault }, counter},
	{"Memory.PgMajFault", func(s *Stats) uint64 { return s.Memory.PgMajFault }, counter},
	{"Pids.Current", func(s *Stats) uint64 { return s.Pids.Current }, exact},
	{"Pids.Limit", func(s *Stats) uint64 { return s.Pids.Limit }, exact},
	{"PSI.CPUSome", func(s *Stats) uint64 { return s.PSI.CPUSome }, counter},
	{"PSI.MemSome", func(s *Stats) uint64 { return s.PSI.MemSome }, counter},
	{"PSI.MemFull", func(s *Stats) uint64 { return s.PSI.MemFull }, counter},
	{"PSI.IOSome", func(s *Stats) uint64 { return s.PSI.IOSome }, counter},
	{"PSI.IOFull", func(s *Stats) uint64 { return s.PSI.IOFull }, counter},
}

// compareOracle checks the oracle's o against our reads a (before it) and b (after).
// On a fixture a, o and b must be equal.
func compareOracle(t *testing.T, what string, a, o, b *Stats) {
	t.Helper()
	if a.Has != o.Has || b.Has != o.Has {
		t.Errorf("%s: Has = %b, oracle %b", what, a.Has, o.Has)
	}
	for _, f := range compared {
		x, y, z := f.get(a), f.get(o), f.get(b)
		ok := x == y && y == z
		switch f.how {
		case counter:
			ok = x <= y && y <= z
		case gauge:
			lo, hi := min(x, z), max(x, z)
			slack := hi/20 + 256<<10
			ok = y+slack >= lo && y <= hi+slack
		}
		if !ok {
			t.Errorf("%s: %s = %d then %d, oracle %d", what, f.name, x, z, y)
		}
	}
	if len(a.IO.Devices) != len(o.IO.Devices) || len(b.IO.Devices) != len(o.IO.Devices) {
		t.Errorf("%s: IO.Devices = %+v then %+v, oracle %+v", what, a.IO.Devices, b.IO.Devices, o.IO.Devices)
		return
	}
	for _, od := range o.IO.Devices {
		ad, bd := a.IO.Device(od.Major, od.Minor), b.IO.Device(od.Major, od.Minor)
		for _, c := range [][3]uint64{{ad.ReadBytes, od.ReadBytes, bd.ReadBytes}, {ad.WriteBytes, od.WriteBytes, bd.WriteBytes},
			{ad.ReadOps, od.ReadOps, bd.ReadOps}, {ad.WriteOps, od.WriteOps, bd.WriteOps}} {
			if c[0] > c[1] || c[1] > c[2] {
				t.Errorf("%s: device %d:%d = %+v then %+v, oracle %+v", what, od.Major, od.Minor, *ad, *bd, od)
			}
		}
	}
}

// partitionsDir makes a proc directory with the partitions file containerd's blkio
// wants (the fixtures have none).
func partitionsDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "partitions"), []byte("major minor  #blocks  name\n\n 254        0  268435456 vda\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestOracleFixtures compares every container and ECS task cgroup of both fixtures.
func TestOracleFixtures(t *testing.T) {
	t.Parallel()
	procDir := partitionsDir(t)
	cgroups := map[string][]string{ // the ECS task cgroups, then the containers
		"v1": {"/ecs/" + task},
		"v2": {"/ecstasks.slice/ecstasks-87ad2cb2f17d45dab6642cd37bd97c50.slice"},
	}
	for _, path := range fixtureCgroups {
		host := "v1"
		if strings.HasSuffix(path, ".scope") {
			host = "v2"
		}
		cgroups[host] = append(cgroups[host], path)
	}
	n := 0
	for host, paths := range cgroups {
		root := fixtureRoot(host)
		for _, psi := range []bool{false, true} {
			if host == "v2" && psi {
				continue
			}
			r := newReader(t, root, Options{HybridPSI: psi})
			for _, path := range paths {
				p := pathsFor(r.Mode(), path)
				var h Handle
				if err := r.Open(&h, &p); err != nil {
					t.Fatalf("%s %s: Open error = %v", host, path, err)
				}
				var s Stats
				if err := r.Read(&h, &s); err != nil {
					t.Errorf("%s %s: Read error = %v", host, path, err)
				}
				r.Release(&h)
				var o Stats
				if host == "v1" {
					o = oracleV1(t, root.Cgroup(), procDir, path, psi)
				} else {
					o = oracleV2(t, root.Cgroup(), path)
				}
				compareOracle(t, host+" "+path, &s, &o, &s)
				n++
			}
		}
	}
	if n != 12 {
		t.Errorf("%d cgroups compared, want 12 (3 v1 containers and their task, with and without PSI; 3 v2 containers and their task)", n)
	}
}

// pathsFor builds the Paths of a cgroup at path in every hierarchy.
func pathsFor(m Mode, path string) Paths {
	p := Paths{mode: m}
	for i := range p.dirs {
		p.dirs[i] = path
	}
	if m == ModeV1 {
		p.dirs[Unified] = ""
	}
	return p
}

// --- Real containers ---

func requireDocker(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "real cgroups need root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		testenv.Skip(t, "docker unavailable (run scripts/setup-test-host.sh): %v: %s", err, out)
	}
	if err := exec.Command("docker", "image", "inspect", testImage).Run(); err != nil {
		testenv.Skip(t, "image %s missing (run scripts/setup-test-host.sh)", testImage)
	}
}

const testImage = "whippet-busybox:latest"

// startContainer runs a detached busybox container named whippet-cg-test-<pid>-<name>
// and removes it when the test ends. It returns the container's init pid.
func startContainer(t testing.TB, name string, args ...string) (id string, pid int32) {
	t.Helper()
	full := fmt.Sprintf("whippet-cg-test-%d-%s", os.Getpid(), name)
	run := append([]string{"run", "-d", "--network", "none", "--name", full}, args...)
	out, err := exec.Command("docker", run...).CombinedOutput()
	if err != nil {
		exec.Command("docker", "rm", "-f", full).Run()
		t.Fatalf("docker %s: %v: %s", strings.Join(run, " "), err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", full).Run() })
	id = strings.TrimSpace(string(out))
	out, err = exec.Command("docker", "inspect", "-f", "{{.State.Pid}}", full).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", full, err)
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || p == 0 {
		t.Fatalf("docker inspect %s: pid %q", full, out)
	}
	return id, int32(p)
}

func liveRoot() hostfs.Root { return hostfs.New("/proc", "/sys", "/etc", "") }

// TestOracleRealContainers starts a CPU burner (throttled by a quota), a memory
// holder (limits, 50 MB peak, 40 MB in its /dev/shm tmpfs) and an I/O writer (under a
// blkio throttle rule, so v1 counts its I/O, and a pids limit), and compares our reads
// with containerd's on each, our reads taken just before and after the oracle's.
func TestOracleRealContainers(t *testing.T) {
	requireDocker(t)
	root := liveRoot()
	type ctr struct {
		name string
		args []string
		pid  int32
		id   string
	}
	ctrs := []*ctr{
		{name: "cpu", args: []string{"--cpus", "0.5", "--cpu-shares", "512", testImage, "sh", "-c", "while :; do :; done"}},
		{name: "mem", args: []string{"-m", "128m", "--memory-reservation", "64m", "--memory-swap", "256m", testImage,
			"sh", "-c", "head -c 50m /dev/zero | tail; dd if=/dev/zero of=/dev/shm/blob bs=1M count=40 2>/dev/null; sleep 1000"}},
		{name: "io", args: []string{"--device-write-bps", "/dev/vda:50mb", "--device-read-bps", "/dev/vda:100mb", "--pids-limit", "64",
			"--cpuset-cpus", "0", testImage, "sh", "-c",
			"dd if=/dev/zero of=/blob bs=64k count=64 oflag=direct 2>/dev/null; dd if=/blob of=/dev/null bs=64k iflag=direct 2>/dev/null; sleep 1000"}},
	}
	for _, c := range ctrs {
		c.id, c.pid = startContainer(t, c.name, c.args...)
	}
	mode, err := Detect(root)
	if err != nil {
		t.Fatal(err)
	}
	r := newReader(t, root, Options{HybridPSI: mode == ModeHybrid})
	// Wait until the memory holder holds its tmpfs blob and the writer has written.
	deadline := time.Now().Add(20 * time.Second)
	for _, c := range ctrs {
		h := openContainer(t, r, c.pid)
		for {
			var s Stats
			if err := r.Read(h, &s); err != nil {
				t.Fatalf("%s: Read error = %v", c.name, err)
			}
			ready := true
			switch c.name {
			case "mem":
				ready = s.Memory.Cache >= 40<<20 && s.Memory.Peak >= 50<<20
			case "io":
				ready = len(s.IO.Devices) > 0 && s.IO.Devices[0].WriteBytes >= 4<<20 && s.IO.Devices[0].ReadBytes >= 4<<20
			case "cpu":
				ready = s.CPU.Throttled > 0
			}
			if ready {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never got ready: %+v", c.name, s)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, c := range ctrs {
		var p Paths
		if err := r.Locate(c.pid, &p); err != nil {
			t.Fatalf("%s: Locate error = %v", c.name, err)
		}
		if p.ID() != c.id {
			t.Errorf("%s: Locate id %q, want %q", c.name, p.ID(), c.id)
		}
		var h Handle
		if err := r.Open(&h, &p); err != nil {
			t.Fatal(err)
		}
		var a, b Stats
		if err := r.Read(&h, &a); err != nil {
			t.Fatalf("%s: Read error = %v", c.name, err)
		}
		var o Stats
		switch mode {
		case ModeV2:
			o = oracleV2(t, root.Cgroup(), p.Path(Unified))
		default:
			o = oracleV1(t, root.Cgroup(), root.Proc(), p.Path(Memory), mode == ModeHybrid)
		}
		if err := r.Read(&h, &b); err != nil {
			t.Fatalf("%s: Read error = %v", c.name, err)
		}
		r.Release(&h)
		compareOracle(t, c.name, &a, &o, &b)
		t.Logf("%s: %+v", c.name, a)
		// What each container was made to show.
		switch c.name {
		case "cpu":
			if a.CPU.Quota != 50000 || a.CPU.Period != 100000 || a.CPU.Throttled == 0 || a.CPU.ThrottledTime == 0 {
				t.Errorf("cpu: quota %d/%d, throttled %d (%d ns); want 50000/100000 and throttling", a.CPU.Quota, a.CPU.Period, a.CPU.Throttled, a.CPU.ThrottledTime)
			}
		case "mem":
			if a.Memory.Limit != 128<<20 || a.Memory.SoftLimit != 64<<20 || a.Memory.SwapLimit != 256<<20 || a.Memory.Peak < 50<<20 {
				t.Errorf("mem: limit %d, soft %d, swap limit %d, peak %d", a.Memory.Limit, a.Memory.SoftLimit, a.Memory.SwapLimit, a.Memory.Peak)
			}
		case "io":
			if a.Pids.Limit != 64 || a.CPU.CPUs != 1 || len(a.IO.Devices) == 0 {
				t.Errorf("io: pids limit %d, cpus %d, devices %+v", a.Pids.Limit, a.CPU.CPUs, a.IO.Devices)
			}
		}
	}
}

// TestRealHeldFreshAndGone checks the facts the held-descriptor design rests on, on
// a real cgroup: a pread at offset 0 gives fresh values, and once the container is
// removed the held descriptors fail (ENODEV) and Read says ErrGone.
func TestRealHeldFreshAndGone(t *testing.T) {
	requireDocker(t)
	_, pid := startContainer(t, "gone", testImage, "sh", "-c", "while :; do :; done")
	r := newReader(t, liveRoot(), Options{})
	h := openContainer(t, r, pid)
	var s Stats
	if err := r.Read(h, &s); err != nil {
		t.Fatal(err)
	}
	before := s.CPU.Usage
	if h.Held() == 0 {
		t.Fatalf("no descriptor held")
	}
	time.Sleep(300 * time.Millisecond)
	if err := r.Read(h, &s); err != nil {
		t.Fatal(err)
	}
	if s.CPU.Usage <= before {
		t.Errorf("CPU usage on a held descriptor: %d then %d, want it to grow", before, s.CPU.Usage)
	}
	name := fmt.Sprintf("whippet-cg-test-%d-gone", os.Getpid())
	if out, err := exec.Command("docker", "rm", "-f", name).CombinedOutput(); err != nil {
		t.Fatalf("docker rm: %v: %s", err, out)
	}
	// docker rm returns once runc removed the cgroups.
	err := r.Read(h, &s)
	if !errors.Is(err, ErrGone) {
		t.Fatalf("Read after removal: error = %v, want ErrGone", err)
	}
	if h.Held() != 0 || r.HeldFDs() != 0 {
		t.Errorf("after ErrGone: handle holds %d, reader %d", h.Held(), r.HeldFDs())
	}
	var p Paths
	if err := r.Locate(pid, &p); !errors.Is(err, ErrGone) {
		t.Errorf("Locate of the removed container's pid: %v, want ErrGone", err)
	}
}

// TestRealPrivateNamespace reads a container's /proc/<pid>/cgroup from a thread in a
// new cgroup namespace rooted below the host root (the thread first moves to a cgroup
// of its own in the v1 cpu hierarchy): the container's paths show as "/../…" and
// Locate says ErrNamespace.
func TestRealPrivateNamespace(t *testing.T) {
	requireDocker(t)
	root := liveRoot()
	if m, _ := Detect(root); m == ModeV2 {
		t.Skip("moving one thread to its own cgroup needs a v1 hierarchy")
	}
	_, pid := startContainer(t, "ns", testImage, "sleep", "1000")
	r := newReader(t, root, Options{})
	own := root.Cgroup("cpu", fmt.Sprintf("whippet-cg-test-ns-%d", os.Getpid()))
	if err := os.Mkdir(own, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The thread exits with its goroutine; then the cgroup is empty.
		for i := 0; i < 100 && os.Remove(own) != nil; i++ {
			time.Sleep(50 * time.Millisecond)
		}
	})
	type result struct {
		raw string
		err error
	}
	done := make(chan result, 1)
	work := func() {
		// The thread stays locked and exits with the goroutine: its cgroup and
		// namespace never reach another goroutine.
		runtime.LockOSThread()
		tid := strconv.Itoa(syscall.Gettid())
		if err := os.WriteFile(filepath.Join(own, "tasks"), []byte(tid), 0o644); err != nil {
			done <- result{err: err}
			return
		}
		if err := syscall.Unshare(syscall.CLONE_NEWCGROUP); err != nil {
			done <- result{err: err}
			return
		}
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		var p Paths
		done <- result{raw: string(raw), err: r.Locate(pid, &p)}
	}
	go func() {
		// The main thread is never terminated (a goroutine exiting locked to it only
		// wedges it): keep it busy here so that work runs on another one.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if syscall.Gettid() != os.Getpid() {
			work()
			return
		}
		finished := make(chan struct{})
		go func() { defer close(finished); work() }()
		<-finished
	}()
	res := <-done
	if res.raw == "" {
		t.Fatalf("entering a new cgroup namespace: %v", res.err)
	}
	if !strings.Contains(res.raw, ":cpu:/..") {
		t.Fatalf("/proc/%d/cgroup from a private namespace shows no /..:\n%s", pid, res.raw)
	}
	if !errors.Is(res.err, ErrNamespace) {
		t.Errorf("Locate in a private cgroup namespace = %v, want ErrNamespace; /proc/%d/cgroup:\n%s", res.err, pid, res.raw)
	}
}
