package metrics

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/cgroup"
)

// derived runs Derive over s, then again after ticking dt seconds, and returns
// the second batch.
func derived(t *testing.T, d *Deriver, s *collect.Snapshot, dt int) *batch.Metrics {
	t.Helper()
	var m batch.Metrics
	d.Derive(s, &m)
	tick(s, dt)
	d.Derive(s, &m)
	return &m
}

// TestCatalogueMatchesDerivation: every name Derive emits over a rich snapshot is
// in the catalogue with the same wire type, and every catalogue name is emitted.
func TestCatalogueMatchesDerivation(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, d := range Catalogue {
		if seen[d.Name] {
			t.Errorf("catalogue lists %s twice", d.Name)
		}
		seen[d.Name] = true
	}
	m := derived(t, New(allOptions()), synthSnapshot(2), 15)
	emitted := map[string]bool{}
	for _, p := range m.Points {
		emitted[p.Name] = true
		def, ok := Lookup(p.Name)
		if !ok {
			t.Errorf("emitted %s is not in the catalogue", p.Name)
			continue
		}
		if p.Type != def.WireType() {
			t.Errorf("%s emitted as %v, catalogue says %v (wire %v)", p.Name, p.Type, def.Type, def.WireType())
		}
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			t.Errorf("%s = %v", p.Name, p.Value)
		}
	}
	for _, d := range Catalogue {
		if !emitted[d.Name] {
			t.Errorf("catalogue entry %s never emitted", d.Name)
		}
	}
}

func TestMarkdown(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := Markdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	rows := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "| `") {
			rows++
		}
	}
	if strings.Contains(out, "/proc/<pid>") {
		t.Errorf("Markdown leaves <pid> unescaped: a renderer takes it for HTML")
	}
	if rows != len(Catalogue) {
		t.Errorf("Markdown has %d metric rows, catalogue %d", rows, len(Catalogue))
	}
	for _, d := range Catalogue {
		if !strings.Contains(out, "| `"+d.Name+"` | "+d.Type.String()+" |") {
			t.Errorf("Markdown lacks the row of %s", d.Name)
		}
	}
}

// TestRates covers the agent's Rate and MonotonicCount semantics on one
// container and the host: per-second values over the time between two Derive
// calls, nothing on a first sample, after a counter reset, across a container
// restart or a clock step.
func TestRates(t *testing.T) {
	t.Parallel()
	const usage = cpuNsPerSec // nanocores over any interval
	type want struct {
		usage     float64 // container.cpu.usage; -1: absent
		faults    float64 // container.memory.page_faults count; -1: absent
		hostUser  float64 // system.cpu.user; -1: absent
		netRcvd   float64 // system.net.bytes_rcvd{device:eth0}; -1: absent
		ctxSwitch float64 // system.cpu.context_switches; -1: absent
	}
	tests := []struct {
		name string
		// step changes the snapshot between the first and the second Derive.
		step func(s *collect.Snapshot)
		want want
	}{
		{"steady 15s", func(s *collect.Snapshot) { tick(s, 15) },
			want{usage, 1500, 30, 10_000, 15_000}},
		{"spans two collections", func(s *collect.Snapshot) {
			tick(s, 10) // a collection the deriver does not see
			c := s.Containers[0]
			c.Cur.Stats.CPU.Usage += 15e8   // a burst in its first 10 s: 1.5 s of CPU
			c.Prev, c.HasPrev = c.Cur, true // the collector's own previous sample: ignored
			tick(s, 5)
		}, want{usage + 1e8, 1500, 30, 10_000, 15_000}}, // (15 s × 0.1 + 1.5) core-s over 15 s
		{"counter reset", func(s *collect.Snapshot) {
			tick(s, 15)
			s.Containers[0].Cur.Stats.CPU.Usage = 10
			s.Containers[0].Cur.Stats.Memory.PgFault = 5
			s.Host.NetDev.Ifaces[1].RxBytes = 0
			s.Host.Stat.Ctxt = 0
		}, want{-1, 0, 30, -1, 0}},
		{"container restart", func(s *collect.Snapshot) {
			tick(s, 15)
			c := s.Containers[0]
			m := *c.Meta
			m.StartedAt = s.Time.Add(-time.Second)
			c.Meta = &m
		}, want{-1, -1, 30, 10_000, 15_000}},
		{"clock step back", func(s *collect.Snapshot) {
			tick(s, 15)
			s.Time = s.Time.Add(-time.Hour)
			s.Containers[0].Cur.Time = s.Time
		}, want{-1, 1500, 30, -1, 15_000}},
		{"same time", func(s *collect.Snapshot) {
			s.Containers[0].Cur.Stats.Memory.PgFault += 7
		}, want{-1, 7, -1, -1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := New(allOptions())
			s := synthSnapshot(1)
			var m batch.Metrics
			d.Derive(s, &m)
			for _, name := range []string{ContainerCPUUsage, DockerCPUUsage, SystemCPUUser, SystemNetBytesRcvd, ContainerMemPageFaults, SystemCPUContextSwitches} {
				if got := find(&m, name); len(got) != 0 {
					t.Errorf("first sample: %s = %+v, want none", name, got)
				}
			}
			tt.step(s)
			d.Derive(s, &m)
			check := func(name string, want float64, with ...string) {
				t.Helper()
				got := find(&m, name, with...)
				switch {
				case want < 0 && len(got) != 0:
					t.Errorf("%s = %+v, want none", name, got)
				case want >= 0 && len(got) != 1:
					t.Errorf("%s: %d points, want 1 of %v", name, len(got), want)
				case want >= 0 && math.Abs(got[0].Value-want) > 1e-9*max(1, want):
					t.Errorf("%s = %v, want %v", name, got[0].Value, want)
				}
			}
			check(ContainerCPUUsage, tt.want.usage)
			check(ContainerMemPageFaults, tt.want.faults)
			check(SystemCPUUser, tt.want.hostUser)
			check(SystemNetBytesRcvd, tt.want.netRcvd, "device:eth0")
			check(SystemCPUContextSwitches, tt.want.ctxSwitch)
			if tt.want.usage >= 0 {
				check(DockerCPUUsage, tt.want.usage/1e7)
			}
		})
	}
}

// TestUnits checks conversions on known inputs.
func TestUnits(t *testing.T) {
	t.Parallel()
	d := New(allOptions())
	s := synthSnapshot(2) // container 0: cgroup v1 figures, 1: v2
	m := derived(t, d, s, 15)
	v1, v2 := "container_name:app-0", "container_name:app-1"
	mib := float64(1 << 20)
	tests := []struct {
		name string
		with string
		want float64
	}{
		{ContainerCPUUsage, v1, 1e8},
		{ContainerCPUUser, v1, 6e7},
		{ContainerCPUSystem, v1, 4e7},
		{ContainerCPUThrottled, v1, 1e7},
		{ContainerCPUThrottledPeriods, v1, 1},
		{DockerCPUUsage, v1, 10},
		{DockerCPUUser, v1, 6},
		{DockerCPUSystem, v1, 4},
		{DockerCPUThrottledTime, v1, 1},
		{DockerCPUThrottled, v1, 1},
		{ContainerCPULimit, v1, 1.5e9}, // quota 150000/100000 under a 2-CPU cpuset
		{DockerCPULimit, v1, 150},
		{DockerCPUShares, v1, 512},
		{DockerCPUShares, v2, float64(cgroup.WeightToShares(20))},
		{ContainerCPUPartialStall, v2, psiUsPerSec * 1000},
		{ContainerMemPartialStall, v2, psiUsPerSec * 1000},
		{ContainerIOPartialStall, v2, psiUsPerSec * 1000},
		{ContainerMemOOMEvents, v1, 3}, // failcnt
		{ContainerMemOOMEvents, v2, 2}, // memory.events oom
		{DockerMemFailedCount, v2, 2},
		{DockerMemInUse, v1, 200.0 / 512},
		{DockerMemSwLimit, v1, 1 << 30},
		{ContainerMemLimit, v1, 512 * mib},
		{ContainerMemPageFaults, v1, 1500},
		{ContainerMemMajorPageFaults, v1, 15},
		{ContainerIORead, v1 + ",device:sda", ioBytesPerSec},
		{ContainerIOWriteOps, v1 + ",device:sda", 2},
		{DockerIOWriteBytes, v1 + ",device_name:sda", 2 * ioBytesPerSec},
		{ContainerNetRcvd, v1 + ",interface:eth0", netBytesPerSec},
		{ContainerNetSentPackets, v1 + ",interface:eth0", 2},
		{DockerNetBytesSent, v1 + ",docker_network:bridge", 2 * netBytesPerSec},
		{ContainerUptime, v1, 3615},
		{DockerUptime, v1, 3615},
		{SystemCPUUser, "", 30},     // (100+20)/400
		{SystemCPUSystem, "", 15},   // (40+10+10)/400
		{SystemCPUInterrupt, "", 5}, // (10+10)/400
		{SystemCPUIowait, "", 5},    // 20/400
		{SystemCPUIdle, "", 47.5},   // 190/400
		{SystemCPUStolen, "", 2.5},  // 10/400
		{SystemCPUGuest, "", 10},    // 40/400
		{SystemCPUNumCores, "", 4},  //
		{SystemLoadNorm15, "", 0.5}, // 2/4
		{SystemMemTotal, "", 8192},  // MiB
		{SystemMemUsed, "", 6144},   //
		{SystemMemPctUsable, "", 5.0 / 8},
		{SystemSwapUsed, "", 256},
		{SystemSwapPctFree, "", 0.75},
		{SystemSwapIn, "", 1},        // MiB/s
		{SystemSwapOut, "", 2},       //
		{SystemIOBlockIn, "", 40960}, // 10 "pages"/s × 4096, gopsutil's unit
		{SystemIORs, "device:sda", 10},
		{SystemIORkbs, "device:sda", 40},  // 80 sectors/s
		{SystemIOWkbs, "device:sda", 160}, // 320 sectors/s
		{SystemIOAvgRqSz, "device:sda", 400.0 / 30},
		{SystemIORAwait, "device:sda", 5},
		{SystemIOWAwait, "device:sda", 10},
		{SystemIOAwait, "device:sda", 250.0 / 30},
		{SystemIOSvctm, "device:sda", 250.0 / 30},
		{SystemIOUtil, "device:sda", 25},
		{SystemIOAvgQSz, "device:sda", 1},
		{SystemNetPacketsInDrop, "device:eth0", 1},
		{ContainerPidOpenFiles, v1, 20},
		{DockerContainerOpenFDs, v2 + ",runtime:docker", 21},
		{SystemNetTCPRetransSegs, "", tcpRetransPerSec},
		{SystemNetTCPInSegs, "", 100},
		{SystemNetTCPPassiveOpens, "", 2},
		{SystemNetTCPAttemptFails, "", 0},
		{SystemNetTCPCurrentEstablished, "", 42},
		{SystemNetTCPListenDrops, "", 1},
		{SystemNetTCPBacklogDrops, "", 0},
		{SystemNetUDPInDatagrams, "", udpInPerSec},
		{SystemNetUDPOutDatagrams, "", 40},
		{SystemFSFileHandlesAllocated, "", 3000},
		{SystemFSFileHandlesUsed, "", 3000},
		{SystemFSFileHandlesAllocatedUnused, "", 0},
		{SystemFSFileHandlesMax, "", 1e6},
		{SystemFSFileHandlesInUse, "", 0.003},
		// / : 100 GiB, 40 GiB free (bfree), 35 GiB available (bavail), in KiB.
		{SystemDiskTotal, "device:/dev/nvme0n1p1,device_name:nvme0n1p1", 100 << 20},
		{SystemDiskUsed, "device:/dev/nvme0n1p1", 60 << 20},
		{SystemDiskFree, "device:/dev/nvme0n1p1", 35 << 20},
		{SystemDiskUtilized, "device:/dev/nvme0n1p1", 60.0 / 95 * 100},
		{SystemDiskInUse, "device:/dev/nvme0n1p1", 60.0 / 95},
		{SystemFSInodesTotal, "device:/dev/nvme0n1p1", 1 << 20},
		{SystemFSInodesUsed, "device:/dev/nvme0n1p1", 1 << 18},
		{SystemFSInodesFree, "device:/dev/nvme0n1p1", 3 << 18},
		{SystemFSInodesUtilized, "device:/dev/nvme0n1p1", 25},
		{SystemFSInodesInUse, "device:/dev/nvme0n1p1", 0.25},
		{SystemDiskUtilized, "device:/dev/sdb,device_name:sdb", 0},
		{AgentRunning, "version:0.1.0", 1},
		{WhippetEventsLost, "", 2},
		{WhippetCollectorErrors, "collector:proc", 15},
		{WhippetCollectorErrors, "collector:host", 1},
		{WhippetShortLived, v1, 15},
		{WhippetShortLived, "", 15}, // host processes: the total less the containers'
		{WhippetProcessesTracked, "", 110},
	}
	for _, tt := range tests {
		var with []string
		if tt.with != "" {
			with = strings.Split(tt.with, ",")
		}
		got := find(m, tt.name, with...)
		if tt.name == WhippetShortLived && tt.with == "" {
			got = slices.DeleteFunc(got, func(p point) bool {
				return slices.ContainsFunc(p.Tags, func(t string) bool { return strings.HasPrefix(t, "container_id:") })
			})
		}
		want := tt.want
		if strings.HasPrefix(tt.name, "system.io.") && tt.name != SystemIOBlockIn {
			want = round2(want)
		}
		if len(got) != 1 || math.Abs(got[0].Value-want) > 1e-9*max(1, math.Abs(want)) {
			t.Errorf("%s{%s} = %+v, want one point of %v", tt.name, tt.with, got, want)
		}
	}
	// Unlimited limits are not sent; without quota or cpuset the CPU limit is
	// the host's CPUs.
	c := s.Containers[1]
	c.Cur.Stats.Memory.Limit, c.Cur.Stats.Pids.Limit, c.Cur.Stats.Memory.SwapLimit = 0, 0, 0
	c.Cur.Stats.CPU.Quota, c.Cur.Stats.CPU.CPUs = -1, synthCPUs
	tick(s, 15)
	d.Derive(s, m)
	for _, name := range []string{ContainerMemLimit, DockerMemLimit, ContainerPidThreadLimit, DockerThreadLimit, DockerMemSwLimit, DockerMemInUse} {
		if got := find(m, name, v2); len(got) != 0 {
			t.Errorf("unlimited: %s = %+v, want none", name, got)
		}
	}
	if got := find(m, ContainerCPULimit, v2); len(got) != 1 || got[0].Value != synthCPUs*1e9 {
		t.Errorf("no CPU limit: container.cpu.limit = %+v, want %v", got, synthCPUs*1e9)
	}
}

// TestTags checks the tag sets of every kind of series and that they are cached.
func TestTags(t *testing.T) {
	t.Parallel()
	d := New(allOptions())
	s := synthSnapshot(1)
	m := derived(t, d, s, 15)
	ctr := s.Containers[0]
	wantCtr := []string{
		"aws_account:123456789012", "cluster_name:prod",
		"container_id:" + ctr.ID, "container_name:app-0", "display_container_name:app-0",
		"docker_image:public.ecr.aws/acme/app0:1.0", "ecs_cluster_name:prod", "ecs_container_name:c0",
		"ecs_launch_type:ec2", "env:prod", "image_id:sha256:" + strings.Repeat("0", 62) + "64",
		"image_name:public.ecr.aws/acme/app0", "image_tag:1.0", "region:us-east-1", "short_image:app0",
		"task_arn:arn:aws:ecs:us-east-1:123456789012:task/prod/" + strings.Repeat("0", 32),
		"task_family:web", "task_name:web", "task_version:7", "team:core",
	}
	tests := []struct {
		name string
		want []string
	}{
		{ContainerMemRSS, wantCtr},
		{DockerMemRSS, sorted(wantCtr, "runtime:docker")},
		{ContainerIORead, sorted(wantCtr, "device:sda", "device_name:sda")},
		{DockerIOReadBytes, sorted(wantCtr, "runtime:docker", "device:sda", "device_name:sda")},
		{ContainerNetRcvd, sorted(wantCtr, "interface:eth0")},
		{DockerNetBytesRcvd, sorted(wantCtr, "runtime:docker", "docker_network:bridge")},
		{DockerContainersRunningTot, []string{"env:prod", "team:core"}},
		{SystemMemTotal, []string{"env:prod", "team:core"}},
		{SystemIOUtil, []string{"device:sda", "device_name:sda", "env:prod", "team:core"}},
		{AgentRunning, []string{"env:prod", "team:core", "version:0.1.0"}},
	}
	for _, tt := range tests {
		got := find(m, tt.name)
		if len(got) == 0 {
			t.Errorf("%s: no point", tt.name)
			continue
		}
		if diff := cmp.Diff(tt.want, got[0].Tags); diff != "" {
			t.Errorf("%s tags (-want +got):\n%s", tt.name, diff)
		}
	}
	// docker.containers.*: one group per image, image tags only.
	wantImg := map[string][]string{
		DockerContainersRunning: {"docker_image:public.ecr.aws/acme/app0:1.0", "env:prod", "image_id:sha256:" + strings.Repeat("0", 62) + "64",
			"image_name:public.ecr.aws/acme/app0", "image_tag:1.0", "short_image:app0", "team:core"},
	}
	for name, want := range wantImg {
		got := find(m, name)
		if len(got) != 1 || got[0].Value != 1 {
			t.Fatalf("%s = %+v, want one group of 1", name, got)
		}
		if diff := cmp.Diff(want, got[0].Tags); diff != "" {
			t.Errorf("%s tags (-want +got):\n%s", name, diff)
		}
	}
	if got := find(m, DockerContainersStopped); len(got) != 1 || got[0].Value != 1 {
		t.Errorf("stopped groups = %+v, want one of 1", got)
	}
	// Every tag set is sorted and free of duplicates.
	for i, ts := range m.TagSets {
		if !slices.IsSorted(ts) || len(slices.Compact(slices.Clone(ts))) != len(ts) {
			t.Errorf("tag set %d not sorted or has duplicates: %v", i, ts)
		}
	}

	// Cached: the same slice next cycle; rebuilt when the Meta is replaced.
	first := &find(m, ContainerMemRSS)[0].Tags[0]
	tick(s, 15)
	d.Derive(s, m)
	if again := &find(m, ContainerMemRSS)[0].Tags[0]; again != first {
		t.Errorf("container tag set rebuilt without a change")
	}
	meta := *ctr.Meta
	meta.Name = "renamed"
	meta.Tags = meta.ComputeTags()
	ctr.Meta = &meta
	tick(s, 15)
	d.Derive(s, m)
	got := find(m, ContainerMemRSS)
	if len(got) != 1 || !slices.Contains(got[0].Tags, "container_name:renamed") {
		t.Errorf("after rename: %+v", got)
	}
	if got := find(m, ContainerCPUUsage); len(got) != 1 {
		t.Errorf("a rename (same StartedAt) lost the counters: %+v", got)
	}
}

func sorted(base []string, extra ...string) []string {
	out := append(slices.Clone(base), extra...)
	slices.Sort(out)
	return out
}

// TestDockerConformance: the set the agent's e2e suite asserts on a Docker host
// (spec §1.3) is present for a running container with full stats.
func TestDockerConformance(t *testing.T) {
	t.Parallel()
	m := derived(t, New(allOptions()), synthSnapshot(1), 15)
	want := []string{
		DockerCPULimit, DockerCPUShares, DockerCPUSystem, DockerCPUThrottled, DockerCPUThrottledTime,
		DockerCPUUsage, DockerCPUUser, DockerKmemUsage, DockerMemCache, DockerMemFailedCount, DockerMemRSS,
		DockerMemSwap, DockerMemWorkingSet, DockerNetBytesRcvd, DockerNetBytesSent, DockerThreadCount,
		DockerThreadLimit, DockerUptime, DockerContainersRunning, DockerContainersRunningTot, DockerContainersStopped,
		DockerContainerOpenFDs,
	}
	for _, name := range want {
		got := find(m, name)
		if len(got) == 0 {
			t.Errorf("%s missing", name)
			continue
		}
		if name == DockerContainersRunningTot && len(got[0].Tags) != 2 {
			t.Errorf("%s tags = %v, want only the global tags", name, got[0].Tags)
		}
		if name == DockerNetBytesRcvd || name == DockerNetBytesSent {
			if !slices.ContainsFunc(got[0].Tags, func(t string) bool { return strings.HasPrefix(t, "docker_network:") }) {
				t.Errorf("%s without docker_network: %v", name, got[0].Tags)
			}
		}
		if strings.HasPrefix(name, "docker.cpu") || strings.HasPrefix(name, "docker.mem") || name == DockerUptime || name == DockerContainerOpenFDs {
			if !slices.Contains(got[0].Tags, "runtime:docker") {
				t.Errorf("%s without runtime:docker: %v", name, got[0].Tags)
			}
		}
	}
}

// TestFamilies: the switches drop a family, stopped containers get no
// per-container series, and a vanished container's state is pruned.
func TestFamilies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		docker, container bool
	}{
		{"both", true, true},
		{"docker only", true, false},
		{"container only", false, true},
		{"neither", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opt := allOptions()
			opt.Docker, opt.Container = tt.docker, tt.container
			d := New(opt)
			s := synthSnapshot(2)
			m := derived(t, d, s, 15)
			var nDocker, nCtr, nSystem int
			for _, p := range m.Points {
				switch {
				case strings.HasPrefix(p.Name, "docker."):
					nDocker++
				case strings.HasPrefix(p.Name, "container."):
					nCtr++
				case strings.HasPrefix(p.Name, "system."):
					nSystem++
				}
			}
			if (nDocker > 0) != tt.docker || (nCtr > 0) != tt.container || nSystem == 0 {
				t.Errorf("docker %d, container %d, system %d points", nDocker, nCtr, nSystem)
			}
			stopped := s.Containers[len(s.Containers)-1].ID
			for _, p := range pointsOf(m) {
				if slices.Contains(p.Tags, "container_id:"+stopped) {
					t.Errorf("stopped container has %s", p.Name)
				}
			}
			// Container 0 goes away: its state is dropped.
			s.Containers = s.Containers[1:]
			tick(s, 15)
			d.Derive(s, m)
			if _, ok := d.ctrs[stopped]; !ok {
				t.Errorf("state of a listed stopped container dropped")
			}
			if len(d.ctrs) != 2 {
				t.Errorf("%d container states after one left, want 2", len(d.ctrs))
			}
		})
	}
}

// TestDeriveAllocs: a steady cycle over 200 containers allocates nothing.
func TestDeriveAllocs(t *testing.T) {
	d := New(allOptions())
	s := synthSnapshot(200)
	var m batch.Metrics
	for range 3 {
		d.Derive(s, &m)
		tick(s, 15)
	}
	if n := testing.AllocsPerRun(20, func() { tick(s, 15); d.Derive(s, &m) }); n != 0 {
		t.Errorf("Derive over 200 containers: %v allocs, want 0", n)
	}
	if len(m.Points) < 200*50 {
		t.Errorf("only %d points for 200 containers", len(m.Points))
	}
}

// TestDeriveSparse: missing host files, a container without a Meta, one without
// any cgroup field and an empty snapshot give fewer series, never a panic.
func TestDeriveSparse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		snap  func() *collect.Snapshot
		never []string
	}{
		{"empty", func() *collect.Snapshot { return &collect.Snapshot{Time: t0} }, []string{ContainerCPUUsage, DockerContainersRunning}},
		{"host files unreadable", func() *collect.Snapshot {
			s := synthSnapshot(1)
			for i := range s.Host.Err {
				s.Host.Err[i] = errors.New("unreadable")
			}
			return s
		}, []string{SystemCPUNumCores, SystemMemTotal, SystemLoad1, SystemUptime, SystemIORs, SystemNetBytesRcvd, SystemSwapIn}},
		{"no cgroup fields", func() *collect.Snapshot {
			s := synthSnapshot(1)
			s.Containers[0].Cur.Stats.Has = 0
			s.Containers = append(s.Containers, &collect.Container{ID: "nometa"})
			return s
		}, []string{ContainerCPUUsage, ContainerMemUsage, DockerMemRSS, ContainerIORead, DockerCPUShares}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := New(Options{Docker: true, Container: true})
			s := tt.snap()
			m := derived(t, d, s, 15)
			for _, name := range tt.never {
				if got := find(m, name); len(got) != 0 {
					t.Errorf("%s = %+v, want none", name, got)
				}
			}
			if len(find(m, AgentRunning)) != 1 {
				t.Errorf("no heartbeat")
			}
		})
	}
}
