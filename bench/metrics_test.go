package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/cgroup"
	"github.com/whippet-agent/whippet/pkg/collect/host"
	"github.com/whippet-agent/whippet/pkg/container"
	"github.com/whippet-agent/whippet/pkg/metrics"
)

// metricsSnapshot is a host with n running containers with full cgroup v2 stats,
// one block device and one interface each, half of them ECS task containers.
func metricsSnapshot(n int) *collect.Snapshot {
	now := time.Unix(1_700_000_000, 0)
	s := &collect.Snapshot{Time: now, Host: host.Snapshot{
		Stat:    host.Stat{CPU: host.CPU{User: 1e5, System: 5e4, Idle: 8e5}, CPUFields: 10, NumCPU: 4, Has: host.StatCtxt},
		Meminfo: host.Meminfo{Total: 8 << 30, Free: 2 << 30, Available: 5 << 30, SwapTotal: 1 << 30, Has: host.MemTotal | host.MemFree | host.MemAvailable | host.MemSwapTotal | host.MemSwapFree},
		Vmstat:  host.Vmstat{Has: host.VmPswpin | host.VmPswpout | host.VmPgpgin | host.VmPgpgout},
		Diskstats: host.Diskstats{Disks: []host.Disk{
			{Major: 8, Minor: 0, Name: "sda", Fields: 17}, {Major: 259, Minor: 0, Name: "nvme0n1", Fields: 17},
		}},
		NetDev: host.NetDev{Ifaces: []host.Iface{{Name: "lo"}, {Name: "eth0"}}},
	}}
	for i := range n {
		m := &container.Meta{
			ID: fmt.Sprintf("%064x", i+1), Name: fmt.Sprintf("app-%d", i), Image: fmt.Sprintf("acme/app%d:1.0", i%5),
			ImageID: fmt.Sprintf("sha256:%064x", i%5), State: "running", Pid: 1000 + i, StartedAt: now.Add(-time.Hour),
			NetworkMode: "bridge", Labels: map[string]string{},
		}
		if i%2 == 0 {
			m.Labels[container.LabelTaskARN] = fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task/prod/%032x", i)
			m.Labels[container.LabelFamily] = "web"
			m.Labels[container.LabelVersion] = "7"
			m.Labels[container.LabelContainerName] = "app"
		}
		m.Finish()
		c := &collect.Container{ID: m.ID, Meta: m}
		c.Cur.Time = now
		c.Cur.Stats = cgroup.Stats{
			CPU:    cgroup.CPUStats{Quota: 50_000, Period: 100_000, Weight: 100, CPUs: 4},
			Memory: cgroup.MemoryStats{Usage: 300 << 20, Limit: 512 << 20, RSS: 200 << 20, Cache: 90 << 20, WorkingSet: 250 << 20},
			IO:     cgroup.IOStats{Devices: []cgroup.IODevice{{Major: 8, Minor: 0}}},
			Pids:   cgroup.PidsStats{Current: 10, Limit: 100},
			Has: cgroup.CPUUsage | cgroup.CPUUser | cgroup.CPUSystem | cgroup.CPUPeriods | cgroup.CPUThrottled |
				cgroup.CPUThrottledTime | cgroup.CPUQuota | cgroup.CPUWeight | cgroup.CPUCount | cgroup.MemoryUsage |
				cgroup.MemoryLimit | cgroup.MemoryRSS | cgroup.MemoryCache | cgroup.MemorySwap | cgroup.MemoryWorkingSet |
				cgroup.MemoryKernel | cgroup.MemoryOOMEvents | cgroup.MemoryPeak | cgroup.MemoryPgFault |
				cgroup.MemoryPgMajFault | cgroup.IOBytes | cgroup.IOOps | cgroup.PidsCurrent | cgroup.PidsLimit |
				cgroup.PSICPU | cgroup.PSIMemory | cgroup.PSIIO,
		}
		c.Cur.Net = host.NetDev{Ifaces: []host.Iface{{Name: "lo"}, {Name: "eth0"}}}
		c.Cur.HasNet = true
		s.Containers = append(s.Containers, c)
	}
	return s
}

// advanceMetrics moves s forward 15 s, growing every counter.
func advanceMetrics(s *collect.Snapshot) {
	s.Time = s.Time.Add(15 * time.Second)
	s.Host.Stat.CPU.User += 1500
	s.Host.Stat.CPU.Idle += 4500
	s.Host.Stat.Ctxt += 15_000
	for i := range s.Host.Diskstats.Disks {
		s.Host.Diskstats.Disks[i].ReadIOs += 150
	}
	for i := range s.Host.NetDev.Ifaces {
		s.Host.NetDev.Ifaces[i].RxBytes += 15_000
	}
	for _, c := range s.Containers {
		c.Cur.Time = s.Time
		st := &c.Cur.Stats
		st.CPU.Usage += 15e8
		st.CPU.User += 1e9
		st.CPU.System += 5e8
		st.Memory.PgFault += 1500
		st.PSI.CPUSome += 1000
		st.IO.Devices[0].ReadBytes += 1 << 20
		c.Cur.Net.Ifaces[1].RxBytes += 15_000
	}
}

// BenchmarkDerive derives one flush of a 200-container host: the work
// pkg/metrics adds per cycle on top of collection.
func BenchmarkDerive(b *testing.B) {
	s := metricsSnapshot(200)
	d := metrics.New(metrics.Options{Host: "i-0abc", Interval: 15 * time.Second, GlobalTags: []string{"env:prod"},
		Docker: true, Container: true, Version: "bench"})
	var m batch.Metrics
	for range 3 {
		advanceMetrics(s)
		d.Derive(s, &m)
	}
	points := 0
	b.ReportAllocs()
	for b.Loop() {
		advanceMetrics(s)
		d.Derive(s, &m)
		points += len(m.Points)
	}
	b.ReportMetric(float64(points)/float64(b.N), "points/op")
}
