package metrics

import (
	"fmt"
	"slices"
	"time"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/cgroup"
	"github.com/whippet-agent/whippet/pkg/collect/host"
	"github.com/whippet-agent/whippet/pkg/container"
)

// The synthetic host: 4 CPUs, counters that grow by fixed amounts per second, so
// every rate is known (see tick).
const synthCPUs = 4

var t0 = time.Unix(1_700_000_000, 0)

const allMem = host.MemTotal | host.MemFree | host.MemAvailable | host.MemBuffers | host.MemCached |
	host.MemSwapCached | host.MemShmem | host.MemSlab | host.MemSReclaimable | host.MemPageTables |
	host.MemCommitLimit | host.MemCommittedAS | host.MemSwapTotal | host.MemSwapFree

const allVM = host.VmPswpin | host.VmPswpout | host.VmPgpgin | host.VmPgpgout | host.VmPgfault | host.VmPgmajfault

// v1Fields and v2Fields are what the cgroup reader gives on each version.
const (
	commonFields = cgroup.CPUUsage | cgroup.CPUUser | cgroup.CPUSystem | cgroup.CPUPeriods | cgroup.CPUThrottled |
		cgroup.CPUThrottledTime | cgroup.CPUQuota | cgroup.CPUCount | cgroup.MemoryUsage | cgroup.MemoryLimit |
		cgroup.MemorySoftLimit | cgroup.MemorySwapLimit | cgroup.MemoryRSS | cgroup.MemoryCache | cgroup.MemorySwap |
		cgroup.MemoryInactiveFile | cgroup.MemoryWorkingSet | cgroup.MemoryKernel | cgroup.MemoryOOMKills |
		cgroup.MemoryPeak | cgroup.MemoryPgFault | cgroup.MemoryPgMajFault | cgroup.IOBytes | cgroup.IOOps |
		cgroup.PidsCurrent | cgroup.PidsLimit
	v1Fields = commonFields | cgroup.CPUShares | cgroup.MemoryFailcnt
	v2Fields = commonFields | cgroup.CPUWeight | cgroup.MemoryOOMEvents | cgroup.PSICPU | cgroup.PSIMemory | cgroup.PSIIO
)

func synthHost() host.Snapshot {
	return host.Snapshot{
		Stat: host.Stat{
			CPU:       host.CPU{User: 100_000, Nice: 1000, System: 50_000, Idle: 800_000, Iowait: 5000, IRQ: 1000, SoftIRQ: 2000, Steal: 500, Guest: 3000},
			CPUFields: 10, NumCPU: synthCPUs, Ctxt: 1_000_000, Btime: 1_699_990_000, Has: host.StatCtxt | host.StatBtime,
		},
		Meminfo: host.Meminfo{
			Total: 8 << 30, Free: 2 << 30, Available: 5 << 30, Buffers: 100 << 20, Cached: 2 << 30, SwapCached: 1 << 20,
			Shmem: 64 << 20, Slab: 256 << 20, SReclaimable: 128 << 20, PageTables: 16 << 20, CommitLimit: 6 << 30,
			CommittedAS: 3 << 30, SwapTotal: 1 << 30, SwapFree: 768 << 20, Has: allMem,
		},
		Loadavg: host.Loadavg{Load1: 0.5, Load5: 1, Load15: 2, Running: 1, Total: 300, LastPID: 4000},
		Uptime:  host.Uptime{Uptime: 10_000, Idle: 30_000},
		Vmstat:  host.Vmstat{Pswpin: 10, Pswpout: 20, Pgpgin: 1000, Pgpgout: 2000, Pgfault: 1e6, Pgmajfault: 100, Has: allVM},
		Diskstats: host.Diskstats{Disks: []host.Disk{
			{Major: 8, Minor: 0, Name: "sda", ReadIOs: 1000, WriteIOs: 2000, ReadSectors: 80_000, WriteSectors: 160_000, Fields: 17},
			{Major: 259, Minor: 0, Name: "nvme0n1", Fields: 17},
		}},
		NetDev: host.NetDev{Ifaces: []host.Iface{{Name: "lo", RxBytes: 5000, TxBytes: 5000}, {Name: "eth0", RxBytes: 1e6, TxBytes: 2e6}}},
		Snmp: host.Snmp{
			Tcp: host.Tcp{ActiveOpens: 100, PassiveOpens: 200, AttemptFails: 3, EstabResets: 4, CurrEstab: 42,
				InSegs: 10_000, OutSegs: 9000, RetransSegs: 50, InErrs: 1, OutRsts: 7},
			Udp: host.Udp{InDatagrams: 5000, NoPorts: 2, InErrors: 1, OutDatagrams: 4000, RcvbufErrors: 1, SndbufErrors: 1, InCsumErrors: 1},
			Has: allSnmp,
		},
		Netstat: host.Netstat{ListenOverflows: 1, ListenDrops: 2, TCPBacklogDrop: 3, TCPRetransFail: 4, Has: allNetstat},
		FileNr:  host.FileNr{Allocated: 3000, Unused: 0, Max: 1_000_000},
		FS: host.Filesystems{Mounts: []host.Filesystem{
			// 100 GiB, 40 GiB free of which 35 GiB available; 1M inodes, 250k used.
			{Device: "/dev/nvme0n1p1", MountPoint: "/", Type: "xfs", Major: 259, Minor: 1,
				Total: 100 << 30, Free: 40 << 30, Avail: 35 << 30, Files: 1 << 20, FilesFree: 3 << 18},
			// btrfs: no inode count.
			{Device: "/dev/sdb", MountPoint: "/data", Type: "btrfs", Major: 8, Minor: 16,
				Total: 10 << 30, Free: 10 << 30, Avail: 10 << 30},
		}},
		HasFS: true,
	}
}

const allSnmp = host.TcpActiveOpens | host.TcpPassiveOpens | host.TcpAttemptFails | host.TcpEstabResets |
	host.TcpCurrEstab | host.TcpInSegs | host.TcpOutSegs | host.TcpRetransSegs | host.TcpInErrs | host.TcpOutRsts |
	host.UdpInDatagrams | host.UdpNoPorts | host.UdpInErrors | host.UdpOutDatagrams | host.UdpRcvbufErrors |
	host.UdpSndbufErrors | host.UdpInCsumErrors

const allNetstat = host.NetstatListenOverflows | host.NetstatListenDrops | host.NetstatTCPBacklogDrop | host.NetstatTCPRetransFail

// synthMeta is a running container; ECS task containers every other one.
func synthMeta(i int, started time.Time) *container.Meta {
	m := &container.Meta{
		ID:          fmt.Sprintf("%064x", i+1),
		Name:        fmt.Sprintf("app-%d", i),
		Image:       fmt.Sprintf("public.ecr.aws/acme/app%d:1.%d", i%3, i%3),
		ImageID:     fmt.Sprintf("sha256:%064x", i%3+100),
		State:       "running",
		Pid:         1000 + i,
		StartedAt:   started,
		NetworkMode: "bridge",
		Labels:      map[string]string{"com.datadoghq.tags.env": "prod"},
	}
	if i%2 == 0 {
		m.Labels[container.LabelTaskARN] = fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task/prod/%032x", i/2)
		m.Labels[container.LabelCluster] = "prod"
		m.Labels[container.LabelFamily] = "web"
		m.Labels[container.LabelVersion] = "7"
		m.Labels[container.LabelContainerName] = fmt.Sprintf("c%d", i)
	}
	m.Finish()
	return m
}

// synthContainer is a running container with full stats: cgroup v1 figures for
// even i, v2 for odd i.
func synthContainer(i int, now time.Time) *collect.Container {
	c := &collect.Container{ID: fmt.Sprintf("%064x", i+1), Meta: synthMeta(i, now.Add(-time.Hour))}
	st := &c.Cur.Stats
	*st = cgroup.Stats{
		CPU: cgroup.CPUStats{Usage: 5e11, User: 3e11, System: 2e11, Periods: 1000, Throttled: 10, ThrottledTime: 1e9,
			Quota: 150_000, Period: 100_000, Shares: 512, Weight: 20, CPUs: 2},
		Memory: cgroup.MemoryStats{Usage: 300 << 20, Limit: 512 << 20, SoftLimit: 128 << 20, SwapLimit: 1 << 30,
			RSS: 200 << 20, Cache: 90 << 20, Swap: 1 << 20, InactiveFile: 40 << 20, WorkingSet: 260 << 20,
			Kernel: 10 << 20, Failcnt: 3, OOMEvents: 2, OOMKills: 1, Peak: 400 << 20, PgFault: 10_000, PgMajFault: 50},
		IO:   cgroup.IOStats{Devices: []cgroup.IODevice{{Major: 8, Minor: 0, ReadBytes: 1 << 20, WriteBytes: 2 << 20, ReadOps: 100, WriteOps: 200}}},
		Pids: cgroup.PidsStats{Current: 12, Limit: 100},
		PSI:  cgroup.PSIStats{CPUSome: 1000, MemSome: 2000, IOSome: 3000},
		Has:  v1Fields,
	}
	if i%2 == 1 {
		st.Has = v2Fields
	}
	c.Cur.Net = host.NetDev{Ifaces: []host.Iface{{Name: "lo", RxBytes: 10, TxBytes: 10}, {Name: "eth0", RxBytes: 1000, TxBytes: 2000, RxPackets: 10, TxPackets: 20}}}
	c.Cur.HasNet = true
	c.Cur.Time = now
	c.Procs = collect.ProcAggregate{Count: 3, Threads: 12, OpenFDs: int64(20 + i), FDsKnown: true}
	return c
}

// synthSnapshot is a host with n running containers and one stopped one.
func synthSnapshot(n int) *collect.Snapshot {
	s := &collect.Snapshot{Time: t0, Host: synthHost()}
	for i := range n {
		s.Containers = append(s.Containers, synthContainer(i, t0))
	}
	stopped := &collect.Container{ID: fmt.Sprintf("%064x", 999_999), Meta: synthMeta(999_998, t0.Add(-2*time.Hour))}
	m := *stopped.Meta
	m.State, m.Pid = "exited", 0
	stopped.Meta = &m
	s.Containers = append(s.Containers, stopped)
	s.Stats = collect.Stats{TrackedProcs: 100 + 5*n, HeldFDs: 10, CycleDuration: 20 * time.Millisecond}
	return s
}

// Per-second growth of the synthetic counters.
const (
	cpuNsPerSec      = 1e8 // container: 0.1 core
	userNsPerSec     = 6e7
	systemNsPerSec   = 4e7
	throttledNsPerS  = 1e7
	ioBytesPerSec    = 4096
	netBytesPerSec   = 1000
	psiUsPerSec      = 500
	hostTicksPerSec  = 400 // 4 CPUs × USER_HZ
	diskReadsPerSec  = 10
	diskWritesPerSec = 20
	tcpRetransPerSec = 3
	udpInPerSec      = 50
)

// tick moves s forward by dt seconds, growing every counter at its rate. It
// allocates nothing.
func tick(s *collect.Snapshot, dt int) {
	s.Time = s.Time.Add(time.Duration(dt) * time.Second)
	u := uint64(dt)
	c := &s.Host.Stat.CPU
	// 400 ticks/s: user 100 (+nice 20), system 40, irq 10, softirq 10, iowait 20, idle 190, steal 10.
	c.User += 100 * u
	c.Nice += 20 * u
	c.System += 40 * u
	c.IRQ += 10 * u
	c.SoftIRQ += 10 * u
	c.Iowait += 20 * u
	c.Idle += 190 * u
	c.Steal += 10 * u
	c.Guest += 40 * u
	s.Host.Stat.Ctxt += 1000 * u
	v := &s.Host.Vmstat
	v.Pswpin += 256 * u // 1 MiB/s at 4096 B per page
	v.Pswpout += 512 * u
	v.Pgpgin += 10 * u
	v.Pgpgout += 20 * u
	for i := range s.Host.Diskstats.Disks {
		d := &s.Host.Diskstats.Disks[i]
		d.ReadIOs += diskReadsPerSec * u
		d.WriteIOs += diskWritesPerSec * u
		d.ReadMerges += u
		d.WriteMerges += 2 * u
		d.ReadSectors += 80 * u   // 8 sectors per read
		d.WriteSectors += 320 * u // 16 per write
		d.ReadTicks += 50 * u     // 5 ms per read
		d.WriteTicks += 200 * u   // 10 ms per write
		d.IOTicks += 250 * u      // 25 % busy
		d.TimeInQueue += 1024 * u
	}
	for i := range s.Host.NetDev.Ifaces {
		f := &s.Host.NetDev.Ifaces[i]
		f.RxBytes += 10_000 * u
		f.TxBytes += 20_000 * u
		f.RxPackets += 10 * u
		f.TxPackets += 20 * u
		f.RxDrop += u
	}
	tcp, udp := &s.Host.Snmp.Tcp, &s.Host.Snmp.Udp
	tcp.RetransSegs += tcpRetransPerSec * u
	tcp.InSegs += 100 * u
	tcp.OutSegs += 90 * u
	tcp.ActiveOpens += u
	tcp.PassiveOpens += 2 * u
	tcp.OutRsts += u
	udp.InDatagrams += udpInPerSec * u
	udp.OutDatagrams += 40 * u
	s.Host.Netstat.ListenDrops += u
	for _, ctr := range s.Containers {
		if ctr.Meta == nil || !ctr.Meta.Running() {
			continue
		}
		ctr.Cur.Time = s.Time
		st := &ctr.Cur.Stats
		st.CPU.Usage += cpuNsPerSec * u
		st.CPU.User += userNsPerSec * u
		st.CPU.System += systemNsPerSec * u
		st.CPU.ThrottledTime += throttledNsPerS * u
		st.CPU.Throttled += u
		st.CPU.Periods += 10 * u
		st.Memory.PgFault += 100 * u
		st.Memory.PgMajFault += u
		st.PSI.CPUSome += psiUsPerSec * u
		st.PSI.MemSome += psiUsPerSec * u
		st.PSI.IOSome += psiUsPerSec * u
		for j := range st.IO.Devices {
			st.IO.Devices[j].ReadBytes += ioBytesPerSec * u
			st.IO.Devices[j].WriteBytes += 2 * ioBytesPerSec * u
			st.IO.Devices[j].ReadOps += u
			st.IO.Devices[j].WriteOps += 2 * u
		}
		for j := range ctr.Cur.Net.Ifaces {
			f := &ctr.Cur.Net.Ifaces[j]
			f.RxBytes += netBytesPerSec * u
			f.TxBytes += 2 * netBytesPerSec * u
			f.RxPackets += u
			f.TxPackets += 2 * u
		}
		ctr.ShortLived += u
		s.Stats.ShortLivedCount += u
	}
	s.Stats.ShortLivedCount += u // one host process per second
	s.Stats.ReadErrors[0] += u
	s.Stats.HostErrors++
	s.Stats.EventsLost += 2
	s.Stats.EventGaps++
	s.Stats.ShortLivedDropped++
}

// point is one derived point with its tag list, for assertions.
type point struct {
	Name  string
	Type  batch.MetricType
	Value float64
	Tags  []string
}

func pointsOf(m *batch.Metrics) []point {
	out := make([]point, len(m.Points))
	for i := range m.Points {
		p := &m.Points[i]
		out[i] = point{p.Name, p.Type, p.Value, m.Tags(p)}
	}
	return out
}

// find returns the points named name carrying every tag of with.
func find(m *batch.Metrics, name string, with ...string) []point {
	var out []point
	for _, p := range pointsOf(m) {
		if p.Name != name {
			continue
		}
		ok := true
		for _, t := range with {
			if !slices.Contains(p.Tags, t) {
				ok = false
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

// allOptions turns every family on.
func allOptions() Options {
	return Options{Host: "i-0abc", Interval: 15 * time.Second, GlobalTags: []string{"env:prod", "team:core"},
		Docker: true, Container: true, Version: "0.1.0"}
}
