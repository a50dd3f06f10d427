package genhost

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
)

func TestGenerate(t *testing.T) {
	t.Parallel()
	for _, v2 := range []bool{false, true} {
		t.Run("v2="+strconv.FormatBool(v2), func(t *testing.T) {
			t.Parallel()
			opt := Options{Containers: 5, ProcsPerContainer: 4, HostProcs: 30, CgroupV2: v2, Seed: 7}
			h, err := Generate(t.TempDir(), opt)
			if err != nil {
				t.Fatal(err)
			}
			checkCounts(t, h, opt)
			checkProcfs(t, h)
			checkCgroups(t, h)
		})
	}
}

func checkCounts(t *testing.T, h Host, opt Options) {
	t.Helper()
	if got, want := len(h.Containers), opt.Containers; got != want {
		t.Errorf("containers = %d, want %d", got, want)
	}
	if got, want := len(h.Procs), opt.HostProcs+opt.Containers*(opt.ProcsPerContainer+1); got != want {
		t.Errorf("processes = %d, want %d (host, plus a shim and %d per container)", got, want, opt.ProcsPerContainer)
	}
	for _, c := range h.Containers {
		if len(c.Pids) != opt.ProcsPerContainer {
			t.Errorf("container %s has %d processes, want %d", c.Name, len(c.Pids), opt.ProcsPerContainer)
		}
	}
	dirs, err := os.ReadDir(filepath.Join(h.Dir, "docker", "containers"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != opt.Containers {
		t.Errorf("docker/containers has %d replies, want %d", len(dirs), opt.Containers)
	}
}

// checkProcfs reads every generated process with prometheus/procfs and compares
// with what the generator reports.
func checkProcfs(t *testing.T, h Host) {
	t.Helper()
	pfs, err := procfs.NewFS(filepath.Join(h.Dir, "proc"))
	if err != nil {
		t.Fatal(err)
	}
	all, err := pfs.AllProcs()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(h.Procs) {
		t.Errorf("procfs sees %d processes, generator reports %d", len(all), len(h.Procs))
	}
	self, err := pfs.Self()
	if err != nil || self.PID != h.Self {
		t.Errorf("Self() = %d, %v; want %d", self.PID, err, h.Self)
	}
	for _, want := range h.Procs {
		p, err := pfs.Proc(want.PID)
		if err != nil {
			t.Fatal(err)
		}
		st, err := p.Stat()
		if err != nil {
			t.Fatalf("pid %d: Stat: %v", want.PID, err)
		}
		gotStat := []uint64{uint64(st.PID), uint64(st.PPID), uint64(st.PGRP), uint64(st.Session), uint64(st.UTime),
			uint64(st.STime), st.Starttime, uint64(st.VSize), uint64(st.RSS), uint64(st.MinFlt), uint64(st.MajFlt),
			uint64(st.NumThreads), uint64(st.Nice)}
		wantStat := []uint64{uint64(want.PID), uint64(want.PPID), uint64(want.PGrp), uint64(want.Sid), want.UTime,
			want.STime, want.StartTime, want.VSize, want.RSS, want.MinFlt, want.MajFlt,
			uint64(want.Threads), uint64(want.Nice)}
		if st.Comm != want.Comm || st.State != string(want.State) || !slices.Equal(gotStat, wantStat) {
			t.Errorf("pid %d: Stat() = %q %s %v, want %q %c %v", want.PID, st.Comm, st.State, gotStat, want.Comm, want.State, wantStat)
		}

		status, err := p.NewStatus()
		if err != nil {
			t.Fatalf("pid %d: NewStatus: %v", want.PID, err)
		}
		if status.Name != EscapeName(want.Comm) || status.UIDs[0] != uint64(want.UID) || status.UIDs[3] != uint64(want.UID) ||
			status.GIDs[1] != uint64(want.GID) || status.VmRSS != want.RSS*pageSize ||
			status.RssAnon != want.RSSAnon*pageSize || status.RssFile != want.RSSFile*pageSize ||
			status.VoluntaryCtxtSwitches != want.VolCtxt || status.NonVoluntaryCtxtSwitches != want.NonvolCtxt {
			t.Errorf("pid %d: NewStatus() = %+v, want %+v", want.PID, status, want)
		}
		wantNS := []uint64{uint64(want.PID)}
		if want.Container != "" {
			wantNS = append(wantNS, uint64(want.NSPid))
		}
		if !slices.Equal(status.NSpids, wantNS) {
			t.Errorf("pid %d: NSpids = %v, want %v", want.PID, status.NSpids, wantNS)
		}

		io, err := p.IO()
		if err != nil {
			t.Fatalf("pid %d: IO: %v", want.PID, err)
		}
		if got := (IO{io.RChar, io.WChar, io.SyscR, io.SyscW, io.ReadBytes, io.WriteBytes, uint64(io.CancelledWriteBytes)}); got != want.IO {
			t.Errorf("pid %d: IO() = %+v, want %+v", want.PID, got, want.IO)
		}

		args, err := p.CmdLine()
		if err != nil {
			t.Fatalf("pid %d: CmdLine: %v", want.PID, err)
		}
		if len(args) != 0 || len(want.Cmdline) != 0 {
			if !slices.Equal(args, want.Cmdline) {
				t.Errorf("pid %d: CmdLine() = %q, want %q", want.PID, args, want.Cmdline)
			}
		}

		cgs, err := p.Cgroups()
		if err != nil {
			t.Fatalf("pid %d: Cgroups: %v", want.PID, err)
		}
		for _, cg := range cgs {
			if cg.Path != want.Cgroup {
				t.Errorf("pid %d: cgroup %d path %q, want %q", want.PID, cg.HierarchyID, cg.Path, want.Cgroup)
			}
		}
		if n := map[bool]int{false: 10, true: 1}[h.CgroupV2]; len(cgs) != n {
			t.Errorf("pid %d: %d cgroup lines, want %d", want.PID, len(cgs), n)
		}
	}
}

// checkCgroups checks that each container's cgroup lists its processes and holds
// the figures the generator reports.
func checkCgroups(t *testing.T, h Host) {
	t.Helper()
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, c := range h.Containers {
		var procs, usage, memory string
		if h.CgroupV2 {
			procs = read(filepath.Join(h.CgroupDir("", c.Cgroup), "cgroup.procs"))
			usage = strings.Fields(read(filepath.Join(h.CgroupDir("", c.Cgroup), "cpu.stat")))[1] + "000"
			memory = read(filepath.Join(h.CgroupDir("", c.Cgroup), "memory.current"))
		} else {
			procs = read(filepath.Join(h.CgroupDir("pids", c.Cgroup), "cgroup.procs"))
			usage = strings.TrimSpace(read(filepath.Join(h.CgroupDir("cpuacct", c.Cgroup), "cpuacct.usage")))
			memory = read(filepath.Join(h.CgroupDir("memory", c.Cgroup), "memory.usage_in_bytes"))
		}
		var want []string
		for _, pid := range c.Pids {
			want = append(want, strconv.Itoa(pid))
		}
		if got := strings.Fields(procs); !slices.Equal(got, want) {
			t.Errorf("%s cgroup.procs = %v, want %v", c.Cgroup, got, want)
		}
		wantUsage := c.Stats.CPUUsageNS
		if h.CgroupV2 {
			wantUsage = wantUsage / 1000 * 1000
		}
		if usage != strconv.FormatUint(wantUsage, 10) {
			t.Errorf("%s cpu usage = %s ns, want %d", c.Cgroup, usage, wantUsage)
		}
		if strings.TrimSpace(memory) != strconv.FormatUint(c.Stats.MemoryUsage, 10) {
			t.Errorf("%s memory usage = %s, want %d", c.Cgroup, memory, c.Stats.MemoryUsage)
		}
		if s := c.Stats; s.MemoryUsage != s.Anon+s.File+s.Kernel {
			t.Errorf("%s memory usage %d != anon %d + file %d + kernel %d", c.Cgroup, s.MemoryUsage, s.Anon, s.File, s.Kernel)
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	t.Parallel()
	opt := Options{Containers: 4, ProcsPerContainer: 3, HostProcs: 25, CgroupV2: true, Seed: 42}
	a, b := t.TempDir(), t.TempDir()
	if _, err := Generate(a, opt); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(b, opt); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, path)
		if d.Type()&fs.ModeSymlink != 0 {
			x, _ := os.Readlink(path)
			if y, _ := os.Readlink(filepath.Join(b, rel)); x != y {
				t.Errorf("%s -> %s and %s between two runs with the same seed", rel, x, y)
			}
			return nil
		}
		x, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		y, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seed", rel)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 500 {
		t.Errorf("compared %d files, expected more", n)
	}
}

func TestWeightNice(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		shares uint64
		weight uint64
		nice   int
	}{{1024, 100, 0}, {256, 10, 10}, {128, 5, 13}, {2, 1, 19}, {262144, 10000, -20}} {
		if w := cpuWeight(tt.shares); w != tt.weight {
			t.Errorf("cpuWeight(%d) = %d, want %d", tt.shares, w, tt.weight)
		}
		if n := weightNice(tt.weight); n != tt.nice {
			t.Errorf("weightNice(%d) = %d, want %d", tt.weight, n, tt.nice)
		}
	}
}
