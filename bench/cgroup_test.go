package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ddcgroups "github.com/DataDog/datadog-agent/pkg/util/cgroups"
	"github.com/containerd/cgroups/v3/cgroup1"

	"github.com/whippet-agent/whippet/bench/genhost"
	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/cgroup"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/pfile"
)

// One op of BenchmarkCgroupCycle reads the cgroup figures of every container of a
// host: CPU, memory, I/O and pids, what the container check reports each cycle.
//
//	floor        open+read+close of exactly the files cgroup.Reader reads (its per-cycle
//	             files every op, its limit files every 4th op), no parsing
//	floor-held   the same with every file opened beforehand and re-read with pread
//	whippet      cgroup.Reader.Read with held descriptors (default options)
//	whippet-open cgroup.Reader.Read with MaxHeld -1 (open/read/close every file)
//	whippet-limits-1 whippet re-reading the limit files every cycle (LimitsEvery 1)
//	containerd   containerd/cgroups/v3 cgroup1 Stat() of a cgroup Loaded beforehand with
//	             the cpu, cpuacct, memory, blkio and pids subsystems
//	datadog      DataDog pkg/util/cgroups: GetCPUStats, GetMemoryStats, GetIOStats and
//	             GetPIDStats of each container (NewReader and RefreshCgroups beforehand)
//
// Hosts: gen200 is a generated cgroup v1 hybrid host (bench/genhost, 200 containers,
// on tmpfs: regular files, no kernfs text generation); live is this machine's cgroups
// with cgroupLive busybox containers started for the benchmark (removed after it).
// Every implementation is checked to read the same CPU usage before timing.

const (
	cgroupGen  = 200
	cgroupLive = 20
)

type cgroupHost struct {
	name    string
	root    hostfs.Root
	mounts  string   // a proc dir whose "mounts" file lists root's cgroup mounts (for DataDog)
	ids     []string // container ids
	pids    []int32  // their init pids
	cleanup func()
}

// genCgroupHost writes a generated v1 host of cgroupGen containers under /dev/shm.
func genCgroupHost(b *testing.B) cgroupHost {
	b.Helper()
	tmp := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		tmp = "/dev/shm"
	}
	dir, err := os.MkdirTemp(tmp, "whippet-bench-cgroup-")
	if err != nil {
		b.Fatal(err)
	}
	g, err := genhost.Generate(filepath.Join(dir, "host"), genhost.Options{Containers: cgroupGen, ProcsPerContainer: 2, Seed: 1})
	if err != nil {
		os.RemoveAll(dir)
		b.Fatal(err)
	}
	h := cgroupHost{name: "gen200", root: hostfs.At(g.Dir), cleanup: func() { os.RemoveAll(dir) }}
	// DataDog finds cgroup mounts in <proc>/mounts under a host prefix.
	var mounts strings.Builder
	for _, ctl := range []string{"cpu", "cpuacct", "cpuset", "memory", "blkio", "pids"} {
		fmt.Fprintf(&mounts, "cgroup %s cgroup rw,relatime,%s 0 0\n", h.root.Cgroup(ctl), ctl)
	}
	fmt.Fprintf(&mounts, "cgroup2 %s cgroup2 rw,relatime 0 0\n", h.root.Cgroup("unified"))
	h.mounts = filepath.Join(dir, "ddproc")
	if err := os.MkdirAll(h.mounts, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.mounts, "mounts"), []byte(mounts.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, c := range g.Containers {
		h.ids = append(h.ids, c.ID)
		h.pids = append(h.pids, int32(c.Pids[0]))
	}
	return h
}

// liveCgroupHost starts cgroupLive busybox containers on this machine's docker.
func liveCgroupHost(b *testing.B) (cgroupHost, bool) {
	b.Helper()
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		testenv.Skip(b, "docker unavailable (run scripts/setup-test-host.sh): %v: %s", err, out)
		return cgroupHost{}, false
	}
	h := cgroupHost{name: "live", root: hostfs.New("/proc", "/sys", "/etc", ""), mounts: "/proc"}
	if m, _ := cgroup.Detect(h.root); m == cgroup.ModeV2 {
		testenv.Skip(b, "the side-by-side cgroup benchmark compares cgroup v1 readers")
		return cgroupHost{}, false
	}
	names := make([]string, cgroupLive)
	h.ids = make([]string, cgroupLive)
	h.pids = make([]int32, cgroupLive)
	errs := make([]error, cgroupLive)
	h.cleanup = func() {
		args := append([]string{"rm", "-f"}, names...)
		exec.Command("docker", args...).Run()
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range cgroupLive {
		names[i] = fmt.Sprintf("whippet-cg-test-bench-%d-%d", os.Getpid(), i)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			args := []string{"run", "-d", "--network", "none", "--name", names[i]}
			if i%2 == 0 { // half with limits, as an ECS task's containers have
				args = append(args, "-m", "256m", "--cpus", "0.5", "--pids-limit", "100")
			}
			args = append(args, "whippet-busybox:latest", "sh", "-c", "sleep 3600 & sleep 3600 & wait")
			out, err := exec.Command("docker", args...).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("docker run: %v: %s", err, out)
				return
			}
			h.ids[i] = strings.TrimSpace(string(out))
			out, err = exec.Command("docker", "inspect", "-f", "{{.State.Pid}}", names[i]).Output()
			pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
			if err != nil || pid == 0 {
				errs[i] = fmt.Errorf("docker inspect %s: %v %q", names[i], err, out)
			}
			h.pids[i] = int32(pid)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			h.cleanup()
			b.Fatal(err)
		}
	}
	return h, true
}

func BenchmarkCgroupCycle(b *testing.B) {
	hosts := []func(*testing.B) (cgroupHost, bool){
		func(b *testing.B) (cgroupHost, bool) { return genCgroupHost(b), true },
		liveCgroupHost,
	}
	for _, mk := range hosts {
		h, ok := mk(b)
		if !ok {
			continue
		}
		b.Cleanup(h.cleanup)
		b.Run(h.name+"/floor", func(b *testing.B) { benchCgroupFloor(b, h, false) })
		b.Run(h.name+"/floor-held", func(b *testing.B) { benchCgroupFloor(b, h, true) })
		b.Run(h.name+"/whippet", func(b *testing.B) { benchCgroupWhippet(b, h, cgroup.Options{MaxHeld: 1 << 20}) })
		b.Run(h.name+"/whippet-open", func(b *testing.B) { benchCgroupWhippet(b, h, cgroup.Options{MaxHeld: -1}) })
		b.Run(h.name+"/whippet-limits-1", func(b *testing.B) { benchCgroupWhippet(b, h, cgroup.Options{MaxHeld: 1 << 20, LimitsEvery: 1}) })
		b.Run(h.name+"/containerd", func(b *testing.B) { benchCgroupContainerd(b, h) })
		b.Run(h.name+"/datadog", func(b *testing.B) { benchCgroupDatadog(b, h) })
	}
}

func perCtr(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(max(n, 1)), "ns/ctr")
	b.ReportMetric(float64(n), "ctrs")
}

// locateAll finds every container's cgroup with our Reader (outside the timer).
func locateAll(b *testing.B, r *cgroup.Reader, h cgroupHost) []cgroup.Paths {
	b.Helper()
	ps := make([]cgroup.Paths, len(h.pids))
	for i, pid := range h.pids {
		if err := r.Locate(pid, &ps[i]); err != nil {
			b.Fatalf("Locate(%d): %v", pid, err)
		}
		if ps[i].ID() != h.ids[i] {
			b.Fatalf("Locate(%d) = %s, want container %s", pid, ps[i].ID(), h.ids[i])
		}
	}
	return ps
}

// cpuUsageFile is what every implementation must agree on before it is timed.
func cpuUsage(b *testing.B, h cgroupHost, p *cgroup.Paths) uint64 {
	raw, err := os.ReadFile(h.root.Cgroup("cpuacct", p.Path(cgroup.CPUAcct), "cpuacct.usage"))
	if err != nil {
		b.Fatal(err)
	}
	v, _ := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
	return v
}

func benchCgroupFloor(b *testing.B, h cgroupHost, held bool) {
	r, err := cgroup.NewReader(h.root, cgroup.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ps := locateAll(b, r, h)
	names, nLimits := cgroup.Files(r.Mode(), false)
	perCycle := len(names) - nLimits
	paths := make([][]pfile.Path, len(ps)) // [container][file]
	for i := range ps {
		paths[i] = make([]pfile.Path, len(names))
		for j, n := range names {
			ctl, file, _ := strings.Cut(n, "/")
			dir := ""
			for c := cgroup.Controller(0); c < cgroup.NumControllers; c++ {
				if c.String() == ctl {
					dir = ps[i].Path(c)
				}
			}
			paths[i][j].Str(h.root.Cgroup(ctl, dir, file))
		}
	}
	fds := make([][]int, len(paths))
	if held {
		for i := range paths {
			for j := range paths[i] {
				fd, err := pfile.Open(pfile.AtCWD, &paths[i][j])
				if err != nil {
					b.Fatalf("open %s: %v", paths[i][j].String(), err)
				}
				fds[i] = append(fds[i], fd)
			}
		}
		defer func() {
			for _, fs := range fds {
				for _, fd := range fs {
					pfile.Close(fd)
				}
			}
		}()
	}
	buf := make([]byte, pfile.MinBuf)
	read := func(limits bool) {
		for i := range paths {
			for j := range paths[i] {
				if j >= perCycle && !limits {
					break
				}
				var err error
				if held {
					_, err = pfile.PreadFD(fds[i][j], &buf, true)
				} else {
					_, err = pfile.ReadFile(pfile.AtCWD, &paths[i][j], &buf)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	read(true) // warm: the NUL of each path, the buffer's size
	op := 0
	b.ReportAllocs()
	for b.Loop() {
		read(op%cgroup.DefaultLimitsEvery == 0)
		op++
	}
	perCtr(b, len(ps))
	b.ReportMetric(float64(perCycle)+float64(nLimits)/cgroup.DefaultLimitsEvery, "files/ctr")
}

func benchCgroupWhippet(b *testing.B, h cgroupHost, opt cgroup.Options) {
	r, err := cgroup.NewReader(h.root, opt)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ps := locateAll(b, r, h)
	hs := make([]cgroup.Handle, len(ps))
	var s cgroup.Stats
	for i := range ps {
		if err := r.Open(&hs[i], &ps[i]); err != nil {
			b.Fatal(err)
		}
		defer r.Release(&hs[i])
		if err := r.Read(&hs[i], &s); err != nil {
			b.Fatal(err)
		}
		if want := cpuUsage(b, h, &ps[i]); h.name != "live" && s.CPU.Usage != want {
			b.Fatalf("%s: CPU usage %d, want %d", ps[i].ID(), s.CPU.Usage, want)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range hs {
			if err := r.Read(&hs[i], &s); err != nil {
				b.Fatal(err)
			}
		}
	}
	perCtr(b, len(ps))
	b.ReportMetric(float64(r.HeldFDs()), "fds")
}

func benchCgroupContainerd(b *testing.B, h cgroupHost) {
	r, err := cgroup.NewReader(h.root, cgroup.Options{MaxHeld: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ps := locateAll(b, r, h)
	root := h.root.Cgroup()
	hier := func() ([]cgroup1.Subsystem, error) {
		return []cgroup1.Subsystem{cgroup1.NewCpu(root), cgroup1.NewCpuacct(root), cgroup1.NewMemory(root),
			cgroup1.NewBlkio(root, cgroup1.ProcRoot("/proc")), cgroup1.NewPids(root)}, nil
	}
	cgs := make([]cgroup1.Cgroup, len(ps))
	for i := range ps {
		cgs[i], err = cgroup1.Load(cgroup1.StaticPath(ps[i].Path(cgroup.Memory)), cgroup1.WithHierarchy(hier))
		if err != nil {
			b.Fatal(err)
		}
		m, err := cgs[i].Stat(cgroup1.IgnoreNotExist)
		if err != nil {
			b.Fatal(err)
		}
		if want := cpuUsage(b, h, &ps[i]); h.name != "live" && m.CPU.Usage.Total != want {
			b.Fatalf("containerd: CPU usage %d, want %d", m.CPU.Usage.Total, want)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, cg := range cgs {
			if _, err := cg.Stat(cgroup1.IgnoreNotExist); err != nil {
				b.Fatal(err)
			}
		}
	}
	perCtr(b, len(ps))
}

func benchCgroupDatadog(b *testing.B, h cgroupHost) {
	prefix := ""
	if h.name != "live" {
		prefix = h.root.Cgroup()[:len(h.root.Cgroup())-len("/sys/fs/cgroup")]
	}
	start := time.Now()
	rd, err := ddcgroups.NewReader(ddcgroups.WithHostPrefix(prefix), ddcgroups.WithProcPath(h.mounts),
		ddcgroups.WithReaderFilter(ddcgroups.ContainerFilter), ddcgroups.WithCgroupV1BaseController("memory"))
	if err != nil {
		b.Fatal(err)
	}
	if err := rd.RefreshCgroups(0); err != nil {
		b.Fatal(err)
	}
	b.Logf("datadog NewReader+RefreshCgroups: %v", time.Since(start))
	cgs := make([]ddcgroups.Cgroup, len(h.ids))
	for i, id := range h.ids {
		if cgs[i] = rd.GetCgroup(id); cgs[i] == nil {
			b.Fatalf("datadog: no cgroup for %s", id)
		}
		var cpu ddcgroups.CPUStats
		if err := cgs[i].GetCPUStats(&cpu); err != nil || cpu.Total == nil {
			b.Fatalf("datadog: GetCPUStats(%s): %v", id, err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, cg := range cgs {
			// Fresh structs per container per cycle, as the agent's system collector does.
			cpu, mem, io, pids := &ddcgroups.CPUStats{}, &ddcgroups.MemoryStats{}, &ddcgroups.IOStats{}, &ddcgroups.PIDStats{}
			_ = cg.GetCPUStats(cpu)
			_ = cg.GetMemoryStats(mem)
			_ = cg.GetIOStats(io)
			_ = cg.GetPIDStats(pids)
		}
	}
	perCtr(b, len(cgs))
}
