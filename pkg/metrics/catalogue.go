package metrics

import (
	"fmt"
	"io"
	"strings"

	"github.com/whippet-agent/whippet/pkg/batch"
)

// Families group the catalogue as the agent's checks do: a family can be switched
// off as a whole (Options.Container, Options.Docker).
const (
	FamilyContainer = "container" // the agent's generic container check
	FamilyDocker    = "docker"    // the agent's docker check
	FamilySystem    = "system"    // the agent's cpu, load, memory, io, network and uptime checks
	FamilyAgent     = "agent"     // the aggregator's heartbeat
	FamilyWhippet   = "whippet"   // whippet's own health
)

// Def describes one metric name. Type is the agent's submission type: a Rate is a
// per-second value computed from two samples and sent as a gauge; a Count is the
// delta of a cumulative counter between two Derive calls.
type Def struct {
	Name   string
	Type   batch.MetricType
	Unit   string
	Family string
	Tags   string // the tags beyond the family's common set
	Source string // where the value comes from
	Doc    string
}

// WireType is the type a point of d carries on the wire: rates go out as gauges,
// as the agent sends them.
func (d *Def) WireType() batch.MetricType {
	if d.Type == batch.Rate {
		return batch.Gauge
	}
	return d.Type
}

// Metric names. The derivation uses only these constants, so every point's name
// is a catalogue entry and no name is built per cycle.
const (
	ContainerUptime              = "container.uptime"
	ContainerCPUUsage            = "container.cpu.usage"
	ContainerCPUUser             = "container.cpu.user"
	ContainerCPUSystem           = "container.cpu.system"
	ContainerCPUThrottled        = "container.cpu.throttled"
	ContainerCPUThrottledPeriods = "container.cpu.throttled.periods"
	ContainerCPUPartialStall     = "container.cpu.partial_stall"
	ContainerCPULimit            = "container.cpu.limit"
	ContainerMemUsage            = "container.memory.usage"
	ContainerMemKernel           = "container.memory.kernel"
	ContainerMemLimit            = "container.memory.limit"
	ContainerMemSoftLimit        = "container.memory.soft_limit"
	ContainerMemRSS              = "container.memory.rss"
	ContainerMemCache            = "container.memory.cache"
	ContainerMemSwap             = "container.memory.swap"
	ContainerMemWorkingSet       = "container.memory.working_set"
	ContainerMemPeak             = "container.memory.usage.peak"
	ContainerMemOOMEvents        = "container.memory.oom_events"
	ContainerMemPartialStall     = "container.memory.partial_stall"
	ContainerMemPageFaults       = "container.memory.page_faults"
	ContainerMemMajorPageFaults  = "container.memory.major_page_faults"
	ContainerIORead              = "container.io.read"
	ContainerIOReadOps           = "container.io.read.operations"
	ContainerIOWrite             = "container.io.write"
	ContainerIOWriteOps          = "container.io.write.operations"
	ContainerIOPartialStall      = "container.io.partial_stall"
	ContainerPidThreadCount      = "container.pid.thread_count"
	ContainerPidThreadLimit      = "container.pid.thread_limit"
	ContainerPidOpenFiles        = "container.pid.open_files"
	ContainerNetSent             = "container.net.sent"
	ContainerNetRcvd             = "container.net.rcvd"
	ContainerNetSentPackets      = "container.net.sent.packets"
	ContainerNetRcvdPackets      = "container.net.rcvd.packets"

	DockerUptime               = "docker.uptime"
	DockerCPUUsage             = "docker.cpu.usage"
	DockerCPUUser              = "docker.cpu.user"
	DockerCPUSystem            = "docker.cpu.system"
	DockerCPUThrottledTime     = "docker.cpu.throttled.time"
	DockerCPUThrottled         = "docker.cpu.throttled"
	DockerCPULimit             = "docker.cpu.limit"
	DockerCPUShares            = "docker.cpu.shares"
	DockerKmemUsage            = "docker.kmem.usage"
	DockerMemLimit             = "docker.mem.limit"
	DockerMemSoftLimit         = "docker.mem.soft_limit"
	DockerMemRSS               = "docker.mem.rss"
	DockerMemCache             = "docker.mem.cache"
	DockerMemSwap              = "docker.mem.swap"
	DockerMemFailedCount       = "docker.mem.failed_count"
	DockerMemWorkingSet        = "docker.mem.working_set"
	DockerMemSwLimit           = "docker.mem.sw_limit"
	DockerMemInUse             = "docker.mem.in_use"
	DockerIOReadBytes          = "docker.io.read_bytes"
	DockerIOWriteBytes         = "docker.io.write_bytes"
	DockerIOReadOps            = "docker.io.read_operations"
	DockerIOWriteOps           = "docker.io.write_operations"
	DockerThreadCount          = "docker.thread.count"
	DockerThreadLimit          = "docker.thread.limit"
	DockerContainerOpenFDs     = "docker.container.open_fds"
	DockerNetBytesSent         = "docker.net.bytes_sent"
	DockerNetBytesRcvd         = "docker.net.bytes_rcvd"
	DockerContainersRunning    = "docker.containers.running"
	DockerContainersStopped    = "docker.containers.stopped"
	DockerContainersRunningTot = "docker.containers.running.total"
	DockerContainersStoppedTot = "docker.containers.stopped.total"

	SystemCPUUser            = "system.cpu.user"
	SystemCPUSystem          = "system.cpu.system"
	SystemCPUInterrupt       = "system.cpu.interrupt"
	SystemCPUIowait          = "system.cpu.iowait"
	SystemCPUIdle            = "system.cpu.idle"
	SystemCPUStolen          = "system.cpu.stolen"
	SystemCPUGuest           = "system.cpu.guest"
	SystemCPUNumCores        = "system.cpu.num_cores"
	SystemCPUContextSwitches = "system.cpu.context_switches"
	SystemLoad1              = "system.load.1"
	SystemLoad5              = "system.load.5"
	SystemLoad15             = "system.load.15"
	SystemLoadNorm1          = "system.load.norm.1"
	SystemLoadNorm5          = "system.load.norm.5"
	SystemLoadNorm15         = "system.load.norm.15"
	SystemUptime             = "system.uptime"
	SystemMemTotal           = "system.mem.total"
	SystemMemFree            = "system.mem.free"
	SystemMemUsed            = "system.mem.used"
	SystemMemUsable          = "system.mem.usable"
	SystemMemPctUsable       = "system.mem.pct_usable"
	SystemMemCached          = "system.mem.cached"
	SystemMemBuffered        = "system.mem.buffered"
	SystemMemShared          = "system.mem.shared"
	SystemMemSlab            = "system.mem.slab"
	SystemMemSlabReclaimable = "system.mem.slab_reclaimable"
	SystemMemPageTables      = "system.mem.page_tables"
	SystemMemCommitLimit     = "system.mem.commit_limit"
	SystemMemCommittedAS     = "system.mem.committed_as"
	SystemSwapTotal          = "system.swap.total"
	SystemSwapFree           = "system.swap.free"
	SystemSwapUsed           = "system.swap.used"
	SystemSwapPctFree        = "system.swap.pct_free"
	SystemSwapCached         = "system.swap.cached"
	SystemSwapIn             = "system.swap.swap_in"
	SystemSwapOut            = "system.swap.swap_out"
	SystemIORs               = "system.io.r_s"
	SystemIOWs               = "system.io.w_s"
	SystemIORrqms            = "system.io.rrqm_s"
	SystemIOWrqms            = "system.io.wrqm_s"
	SystemIORkbs             = "system.io.rkb_s"
	SystemIOWkbs             = "system.io.wkb_s"
	SystemIOAvgRqSz          = "system.io.avg_rq_sz"
	SystemIOAvgQSz           = "system.io.avg_q_sz"
	SystemIOAwait            = "system.io.await"
	SystemIORAwait           = "system.io.r_await"
	SystemIOWAwait           = "system.io.w_await"
	SystemIOSvctm            = "system.io.svctm"
	SystemIOUtil             = "system.io.util"
	SystemIOBlockIn          = "system.io.block_in"
	SystemIOBlockOut         = "system.io.block_out"
	SystemNetBytesRcvd       = "system.net.bytes_rcvd"
	SystemNetBytesSent       = "system.net.bytes_sent"
	SystemNetPacketsInCount  = "system.net.packets_in.count"
	SystemNetPacketsInDrop   = "system.net.packets_in.drop"
	SystemNetPacketsInError  = "system.net.packets_in.error"
	SystemNetPacketsOutCount = "system.net.packets_out.count"
	SystemNetPacketsOutDrop  = "system.net.packets_out.drop"
	SystemNetPacketsOutError = "system.net.packets_out.error"

	SystemNetTCPRetransSegs        = "system.net.tcp.retrans_segs"
	SystemNetTCPInSegs             = "system.net.tcp.in_segs"
	SystemNetTCPOutSegs            = "system.net.tcp.out_segs"
	SystemNetTCPActiveOpens        = "system.net.tcp.active_opens"
	SystemNetTCPPassiveOpens       = "system.net.tcp.passive_opens"
	SystemNetTCPAttemptFails       = "system.net.tcp.attempt_fails"
	SystemNetTCPEstablishedResets  = "system.net.tcp.established_resets"
	SystemNetTCPInErrors           = "system.net.tcp.in_errors"
	SystemNetTCPOutResets          = "system.net.tcp.out_resets"
	SystemNetTCPListenOverflows    = "system.net.tcp.listen_overflows"
	SystemNetTCPListenDrops        = "system.net.tcp.listen_drops"
	SystemNetTCPBacklogDrops       = "system.net.tcp.backlog_drops"
	SystemNetTCPFailedRetransmits  = "system.net.tcp.failed_retransmits"
	SystemNetTCPCurrentEstablished = "system.net.tcp.current_established"
	SystemNetUDPInDatagrams        = "system.net.udp.in_datagrams"
	SystemNetUDPNoPorts            = "system.net.udp.no_ports"
	SystemNetUDPInErrors           = "system.net.udp.in_errors"
	SystemNetUDPOutDatagrams       = "system.net.udp.out_datagrams"
	SystemNetUDPRcvBufErrors       = "system.net.udp.rcv_buf_errors"
	SystemNetUDPSndBufErrors       = "system.net.udp.snd_buf_errors"
	SystemNetUDPInCsumErrors       = "system.net.udp.in_csum_errors"

	SystemDiskTotal                    = "system.disk.total"
	SystemDiskUsed                     = "system.disk.used"
	SystemDiskFree                     = "system.disk.free"
	SystemDiskUtilized                 = "system.disk.utilized"
	SystemDiskInUse                    = "system.disk.in_use"
	SystemFSInodesTotal                = "system.fs.inodes.total"
	SystemFSInodesUsed                 = "system.fs.inodes.used"
	SystemFSInodesFree                 = "system.fs.inodes.free"
	SystemFSInodesUtilized             = "system.fs.inodes.utilized"
	SystemFSInodesInUse                = "system.fs.inodes.in_use"
	SystemFSFileHandlesAllocated       = "system.fs.file_handles.allocated"
	SystemFSFileHandlesAllocatedUnused = "system.fs.file_handles.allocated_unused"
	SystemFSFileHandlesUsed            = "system.fs.file_handles.used"
	SystemFSFileHandlesInUse           = "system.fs.file_handles.in_use"
	SystemFSFileHandlesMax             = "system.fs.file_handles.max"

	AgentRunning = "datadog.agent.running"

	WhippetCollectorErrors   = "whippet.collector.errors"
	WhippetCollectorDuration = "whippet.collector.duration"
	WhippetEventsLost        = "whippet.events.lost"
	WhippetEventsGaps        = "whippet.events.gaps"
	WhippetProcessesTracked  = "whippet.processes.tracked"
	WhippetContainersTracked = "whippet.containers.tracked"
	WhippetShortLived        = "whippet.process.short_lived"
	WhippetShortLivedDropped = "whippet.process.short_lived.dropped"
	WhippetFDsHeld           = "whippet.fds.held"
)

// Tag descriptions shared by many entries.
const (
	tagsCtr       = "container tags (low+orchestrator+high)"
	tagsDocker    = "container tags, runtime:docker"
	tagsCtrDev    = tagsCtr + ", device, device_name"
	tagsDockerDev = tagsDocker + ", device, device_name"
	tagsHostDev   = "device, device_name"
	tagsFS        = "device (the mount source), device_name (its base name)"
	fsSource      = "<proc>/1/mountinfo block filesystems, statfs through <proc>/1/root:"
)

// Catalogue is every metric whippet sends. Derive emits exactly these names (a
// test holds it to that) and Markdown renders them as the reference table.
var Catalogue = []Def{
	{ContainerUptime, batch.Gauge, "s", FamilyContainer, tagsCtr, "now − docker StartedAt", "Time since the container started."},
	{ContainerCPUUsage, batch.Rate, "nanocore", FamilyContainer, tagsCtr, "v1 cpuacct.usage; v2 cpu.stat usage_usec", "CPU time used per second, in ns/s (1e9 = one core)."},
	{ContainerCPUUser, batch.Rate, "nanocore", FamilyContainer, tagsCtr, "v1 cpuacct.stat user; v2 cpu.stat user_usec", "User CPU time per second."},
	{ContainerCPUSystem, batch.Rate, "nanocore", FamilyContainer, tagsCtr, "v1 cpuacct.stat system; v2 cpu.stat system_usec", "System CPU time per second."},
	{ContainerCPUThrottled, batch.Rate, "ns/s", FamilyContainer, tagsCtr, "cpu.stat throttled_time / throttled_usec", "Time throttled by the CFS quota per second."},
	{ContainerCPUThrottledPeriods, batch.Rate, "periods/s", FamilyContainer, tagsCtr, "cpu.stat nr_throttled", "CFS periods in which the container was throttled, per second."},
	{ContainerCPUPartialStall, batch.Rate, "ns/s", FamilyContainer, tagsCtr, "v2 cpu.pressure some total", "Time some task waited for CPU, per second (cgroup v2 only)."},
	{ContainerCPULimit, batch.Gauge, "nanocore", FamilyContainer, tagsCtr, "min(CFS quota/period, cpuset size), else host CPUs", "CPU limit; the host's CPU count when the container has none."},
	{ContainerMemUsage, batch.Gauge, "B", FamilyContainer, tagsCtr, "v1 memory.usage_in_bytes; v2 memory.current", "Memory charged to the container, page cache included."},
	{ContainerMemKernel, batch.Gauge, "B", FamilyContainer, tagsCtr, "v1 memory.kmem.usage_in_bytes; v2 memory.stat kernel", "Kernel memory."},
	{ContainerMemLimit, batch.Gauge, "B", FamilyContainer, tagsCtr, "v1 hierarchical_memory_limit; v2 memory.max", "Memory limit; not sent when unlimited."},
	{ContainerMemSoftLimit, batch.Gauge, "B", FamilyContainer, tagsCtr, "v1 memory.soft_limit_in_bytes; v2 memory.low", "Memory soft limit (reservation); not sent when unset."},
	{ContainerMemRSS, batch.Gauge, "B", FamilyContainer, tagsCtr, "memory.stat total_rss / anon", "Anonymous memory."},
	{ContainerMemCache, batch.Gauge, "B", FamilyContainer, tagsCtr, "memory.stat total_cache / file", "Page cache."},
	{ContainerMemSwap, batch.Gauge, "B", FamilyContainer, tagsCtr, "memory.stat total_swap; v2 memory.swap.current", "Swap used."},
	{ContainerMemWorkingSet, batch.Gauge, "B", FamilyContainer, tagsCtr, "usage − inactive_file", "Working set, as the kubelet and the agent compute it."},
	{ContainerMemPeak, batch.Gauge, "B", FamilyContainer, tagsCtr, "v1 memory.max_usage_in_bytes; v2 memory.peak", "Highest memory usage recorded."},
	{ContainerMemOOMEvents, batch.Gauge, "events", FamilyContainer, tagsCtr, "v1 memory.failcnt; v2 memory.events oom", "Times the memory limit was hit (cumulative)."},
	{ContainerMemPartialStall, batch.Rate, "ns/s", FamilyContainer, tagsCtr, "v2 memory.pressure some total", "Time some task waited for memory, per second (cgroup v2 only)."},
	{ContainerMemPageFaults, batch.Count, "faults", FamilyContainer, tagsCtr, "memory.stat total_pgfault / pgfault", "Page faults since the previous flush."},
	{ContainerMemMajorPageFaults, batch.Count, "faults", FamilyContainer, tagsCtr, "memory.stat total_pgmajfault / pgmajfault", "Major page faults since the previous flush."},
	{ContainerIORead, batch.Rate, "B/s", FamilyContainer, tagsCtrDev, "blkio.throttle.io_service_bytes Read; io.stat rbytes", "Bytes read per second, per device (untagged totals when the cgroup lists no device)."},
	{ContainerIOReadOps, batch.Rate, "ops/s", FamilyContainer, tagsCtrDev, "blkio.throttle.io_serviced Read; io.stat rios", "Read operations per second, per device."},
	{ContainerIOWrite, batch.Rate, "B/s", FamilyContainer, tagsCtrDev, "blkio.throttle.io_service_bytes Write; io.stat wbytes", "Bytes written per second, per device."},
	{ContainerIOWriteOps, batch.Rate, "ops/s", FamilyContainer, tagsCtrDev, "blkio.throttle.io_serviced Write; io.stat wios", "Write operations per second, per device."},
	{ContainerIOPartialStall, batch.Rate, "ns/s", FamilyContainer, tagsCtr, "v2 io.pressure some total", "Time some task waited for IO, per second (cgroup v2 only)."},
	{ContainerPidThreadCount, batch.Gauge, "threads", FamilyContainer, tagsCtr, "pids.current", "Tasks (threads) in the container."},
	{ContainerPidThreadLimit, batch.Gauge, "threads", FamilyContainer, tagsCtr, "pids.max", "Task limit; not sent when unlimited."},
	{ContainerPidOpenFiles, batch.Gauge, "fds", FamilyContainer, tagsCtr, "entries of /proc/<pid>/fd over the container's processes", "Open file descriptors; on metrics cycles only, not sent when no process's fd directory is readable."},
	{ContainerNetSent, batch.Rate, "B/s", FamilyContainer, tagsCtr + ", interface", "/proc/<pid>/net/dev tx_bytes", "Bytes sent per second, per interface (lo, host and shared network namespaces skipped)."},
	{ContainerNetRcvd, batch.Rate, "B/s", FamilyContainer, tagsCtr + ", interface", "/proc/<pid>/net/dev rx_bytes", "Bytes received per second, per interface."},
	{ContainerNetSentPackets, batch.Rate, "packets/s", FamilyContainer, tagsCtr + ", interface", "/proc/<pid>/net/dev tx_packets", "Packets sent per second, per interface."},
	{ContainerNetRcvdPackets, batch.Rate, "packets/s", FamilyContainer, tagsCtr + ", interface", "/proc/<pid>/net/dev rx_packets", "Packets received per second, per interface."},

	{DockerUptime, batch.Gauge, "s", FamilyDocker, tagsDocker, "as container.uptime", "Time since the container started."},
	{DockerCPUUsage, batch.Rate, "percent of a core", FamilyDocker, tagsDocker, "container.cpu.usage ÷ 1e7", "CPU used, 100 = one core."},
	{DockerCPUUser, batch.Rate, "percent of a core", FamilyDocker, tagsDocker, "container.cpu.user ÷ 1e7", "User CPU."},
	{DockerCPUSystem, batch.Rate, "percent of a core", FamilyDocker, tagsDocker, "container.cpu.system ÷ 1e7", "System CPU."},
	{DockerCPUThrottledTime, batch.Rate, "percent", FamilyDocker, tagsDocker, "container.cpu.throttled ÷ 1e7", "Throttled time; 100 = throttled the whole second."},
	{DockerCPUThrottled, batch.Rate, "periods/s", FamilyDocker, tagsDocker, "as container.cpu.throttled.periods", "Throttled CFS periods per second."},
	{DockerCPULimit, batch.Gauge, "percent of a core", FamilyDocker, tagsDocker, "container.cpu.limit ÷ 1e7", "CPU limit, 100 = one core."},
	{DockerCPUShares, batch.Gauge, "shares", FamilyDocker, tagsDocker, "v1 cpu.shares; v2 cpu.weight converted to shares", "Relative CPU weight."},
	{DockerKmemUsage, batch.Gauge, "B", FamilyDocker, tagsDocker, "as container.memory.kernel", "Kernel memory."},
	{DockerMemLimit, batch.Gauge, "B", FamilyDocker, tagsDocker, "as container.memory.limit", "Memory limit; not sent when unlimited."},
	{DockerMemSoftLimit, batch.Gauge, "B", FamilyDocker, tagsDocker, "as container.memory.soft_limit", "Memory soft limit."},
	{DockerMemRSS, batch.Gauge, "B", FamilyDocker, tagsDocker, "as container.memory.rss", "Anonymous memory."},
	{DockerMemCache, batch.Gauge, "B", FamilyDocker, tagsDocker, "as container.memory.cache", "Page cache."},
	{DockerMemSwap, batch.Gauge, "B", FamilyDocker, tagsDocker, "as container.memory.swap", "Swap used."},
	{DockerMemFailedCount, batch.Gauge, "events", FamilyDocker, tagsDocker, "as container.memory.oom_events", "Times the memory limit was hit."},
	{DockerMemWorkingSet, batch.Gauge, "B", FamilyDocker, tagsDocker, "as container.memory.working_set", "Working set."},
	{DockerMemSwLimit, batch.Gauge, "B", FamilyDocker, tagsDocker, "v1 hierarchical_memsw_limit; v2 memory.max + memory.swap.max", "Memory+swap limit; not sent when unlimited."},
	{DockerMemInUse, batch.Gauge, "fraction", FamilyDocker, tagsDocker, "rss ÷ memory limit", "Share of the memory limit in use (0–1); only with a limit."},
	{DockerIOReadBytes, batch.Rate, "B/s", FamilyDocker, tagsDockerDev, "as container.io.read", "Bytes read per second."},
	{DockerIOWriteBytes, batch.Rate, "B/s", FamilyDocker, tagsDockerDev, "as container.io.write", "Bytes written per second."},
	{DockerIOReadOps, batch.Rate, "ops/s", FamilyDocker, tagsDockerDev, "as container.io.read.operations", "Read operations per second."},
	{DockerIOWriteOps, batch.Rate, "ops/s", FamilyDocker, tagsDockerDev, "as container.io.write.operations", "Write operations per second."},
	{DockerThreadCount, batch.Gauge, "threads", FamilyDocker, tagsDocker, "as container.pid.thread_count", "Tasks in the container."},
	{DockerThreadLimit, batch.Gauge, "threads", FamilyDocker, tagsDocker, "as container.pid.thread_limit", "Task limit."},
	{DockerContainerOpenFDs, batch.Gauge, "fds", FamilyDocker, tagsDocker, "as container.pid.open_files", "Open file descriptors."},
	{DockerNetBytesSent, batch.Rate, "B/s", FamilyDocker, tagsDocker + ", docker_network", "/proc/<pid>/net/dev tx_bytes", "Bytes sent per second, per network (the interface name when the network is not known)."},
	{DockerNetBytesRcvd, batch.Rate, "B/s", FamilyDocker, tagsDocker + ", docker_network", "/proc/<pid>/net/dev rx_bytes", "Bytes received per second, per network."},
	{DockerContainersRunning, batch.Gauge, "containers", FamilyDocker, "image tags only", "container states", "Running containers per image; images without any omitted."},
	{DockerContainersStopped, batch.Gauge, "containers", FamilyDocker, "image tags only", "container states", "Stopped containers per image; images without any omitted."},
	{DockerContainersRunningTot, batch.Gauge, "containers", FamilyDocker, "none", "container states", "Running containers on the host."},
	{DockerContainersStoppedTot, batch.Gauge, "containers", FamilyDocker, "none", "container states", "Stopped containers on the host."},

	{SystemCPUUser, batch.Gauge, "percent", FamilySystem, "", "/proc/stat cpu user+nice", "User CPU, percent of all cores."},
	{SystemCPUSystem, batch.Gauge, "percent", FamilySystem, "", "/proc/stat cpu system+irq+softirq", "System CPU, percent of all cores."},
	{SystemCPUInterrupt, batch.Gauge, "percent", FamilySystem, "", "/proc/stat cpu irq+softirq", "Interrupt CPU (also inside system.cpu.system)."},
	{SystemCPUIowait, batch.Gauge, "percent", FamilySystem, "", "/proc/stat cpu iowait", "IO wait."},
	{SystemCPUIdle, batch.Gauge, "percent", FamilySystem, "", "/proc/stat cpu idle", "Idle."},
	{SystemCPUStolen, batch.Gauge, "percent", FamilySystem, "", "/proc/stat cpu steal", "Stolen by the hypervisor."},
	{SystemCPUGuest, batch.Gauge, "percent", FamilySystem, "", "/proc/stat cpu guest", "Running guests."},
	{SystemCPUNumCores, batch.Gauge, "cores", FamilySystem, "", "/proc/stat cpuN lines", "Logical CPUs."},
	{SystemCPUContextSwitches, batch.Count, "switches", FamilySystem, "", "/proc/stat ctxt", "Context switches since the previous flush."},
	{SystemLoad1, batch.Gauge, "", FamilySystem, "", "/proc/loadavg", "1-minute load average."},
	{SystemLoad5, batch.Gauge, "", FamilySystem, "", "/proc/loadavg", "5-minute load average."},
	{SystemLoad15, batch.Gauge, "", FamilySystem, "", "/proc/loadavg", "15-minute load average."},
	{SystemLoadNorm1, batch.Gauge, "", FamilySystem, "", "/proc/loadavg ÷ cores", "1-minute load per core."},
	{SystemLoadNorm5, batch.Gauge, "", FamilySystem, "", "/proc/loadavg ÷ cores", "5-minute load per core."},
	{SystemLoadNorm15, batch.Gauge, "", FamilySystem, "", "/proc/loadavg ÷ cores", "15-minute load per core."},
	{SystemUptime, batch.Gauge, "s", FamilySystem, "", "/proc/uptime", "Time since boot."},
	{SystemMemTotal, batch.Gauge, "MiB", FamilySystem, "", "meminfo MemTotal", "Physical memory."},
	{SystemMemFree, batch.Gauge, "MiB", FamilySystem, "", "meminfo MemFree", "Free memory."},
	{SystemMemUsed, batch.Gauge, "MiB", FamilySystem, "", "MemTotal − MemFree", "Used memory, page cache included."},
	{SystemMemUsable, batch.Gauge, "MiB", FamilySystem, "", "MemAvailable (else free+buffers+cached)", "Memory available to new work."},
	{SystemMemPctUsable, batch.Gauge, "fraction", FamilySystem, "", "usable ÷ total", "Share of memory available (0–1)."},
	{SystemMemCached, batch.Gauge, "MiB", FamilySystem, "", "meminfo Cached", "Page cache."},
	{SystemMemBuffered, batch.Gauge, "MiB", FamilySystem, "", "meminfo Buffers", "Buffers."},
	{SystemMemShared, batch.Gauge, "MiB", FamilySystem, "", "meminfo Shmem", "Shared memory."},
	{SystemMemSlab, batch.Gauge, "MiB", FamilySystem, "", "meminfo Slab", "Kernel slab."},
	{SystemMemSlabReclaimable, batch.Gauge, "MiB", FamilySystem, "", "meminfo SReclaimable", "Reclaimable slab."},
	{SystemMemPageTables, batch.Gauge, "MiB", FamilySystem, "", "meminfo PageTables", "Page tables."},
	{SystemMemCommitLimit, batch.Gauge, "MiB", FamilySystem, "", "meminfo CommitLimit", "Commit limit."},
	{SystemMemCommittedAS, batch.Gauge, "MiB", FamilySystem, "", "meminfo Committed_AS", "Committed address space."},
	{SystemSwapTotal, batch.Gauge, "MiB", FamilySystem, "", "meminfo SwapTotal", "Swap size."},
	{SystemSwapFree, batch.Gauge, "MiB", FamilySystem, "", "meminfo SwapFree", "Free swap."},
	{SystemSwapUsed, batch.Gauge, "MiB", FamilySystem, "", "SwapTotal − SwapFree", "Used swap."},
	{SystemSwapPctFree, batch.Gauge, "fraction", FamilySystem, "", "SwapFree ÷ SwapTotal (1 without swap)", "Share of swap free (0–1)."},
	{SystemSwapCached, batch.Gauge, "MiB", FamilySystem, "", "meminfo SwapCached", "Swap cache."},
	{SystemSwapIn, batch.Rate, "MiB/s", FamilySystem, "", "vmstat pswpin × 4096", "Swapped in per second."},
	{SystemSwapOut, batch.Rate, "MiB/s", FamilySystem, "", "vmstat pswpout × 4096", "Swapped out per second."},
	{SystemIORs, batch.Rate, "ops/s", FamilySystem, tagsHostDev, "diskstats reads completed", "Reads per second."},
	{SystemIOWs, batch.Rate, "ops/s", FamilySystem, tagsHostDev, "diskstats writes completed", "Writes per second."},
	{SystemIORrqms, batch.Rate, "ops/s", FamilySystem, tagsHostDev, "diskstats reads merged", "Merged reads per second."},
	{SystemIOWrqms, batch.Rate, "ops/s", FamilySystem, tagsHostDev, "diskstats writes merged", "Merged writes per second."},
	{SystemIORkbs, batch.Gauge, "KiB/s", FamilySystem, tagsHostDev, "diskstats sectors read × 512", "KiB read per second."},
	{SystemIOWkbs, batch.Gauge, "KiB/s", FamilySystem, tagsHostDev, "diskstats sectors written × 512", "KiB written per second."},
	{SystemIOAvgRqSz, batch.Gauge, "sectors", FamilySystem, tagsHostDev, "Δsectors ÷ Δios", "Average request size."},
	{SystemIOAvgQSz, batch.Gauge, "requests", FamilySystem, tagsHostDev, "Δtime_in_queue ÷ 1024 ÷ Δs (the agent's formula)", "Average queue size."},
	{SystemIOAwait, batch.Gauge, "ms", FamilySystem, tagsHostDev, "Δ(read+write ticks) ÷ Δios", "Average time per IO."},
	{SystemIORAwait, batch.Gauge, "ms", FamilySystem, tagsHostDev, "Δread ticks ÷ Δreads", "Average time per read."},
	{SystemIOWAwait, batch.Gauge, "ms", FamilySystem, tagsHostDev, "Δwrite ticks ÷ Δwrites", "Average time per write."},
	{SystemIOSvctm, batch.Gauge, "ms", FamilySystem, tagsHostDev, "Δio_ticks ÷ Δios", "Average service time (deprecated in iostat)."},
	{SystemIOUtil, batch.Gauge, "percent", FamilySystem, tagsHostDev, "Δio_ticks ÷ Δt", "Time the device was busy."},
	{SystemIOBlockIn, batch.Rate, "B/s", FamilySystem, "", "vmstat pgpgin × 4096 (gopsutil's unit)", "Blocks read in, per second."},
	{SystemIOBlockOut, batch.Rate, "B/s", FamilySystem, "", "vmstat pgpgout × 4096 (gopsutil's unit)", "Blocks written out, per second."},
	{SystemNetBytesRcvd, batch.Rate, "B/s", FamilySystem, tagsHostDev, "<proc>/1/net/dev rx_bytes", "Bytes received per second, per interface but lo."},
	{SystemNetBytesSent, batch.Rate, "B/s", FamilySystem, tagsHostDev, "<proc>/1/net/dev tx_bytes", "Bytes sent per second."},
	{SystemNetPacketsInCount, batch.Rate, "packets/s", FamilySystem, tagsHostDev, "net/dev rx_packets", "Packets received per second."},
	{SystemNetPacketsInDrop, batch.Rate, "packets/s", FamilySystem, tagsHostDev, "net/dev rx_drop", "Received packets dropped per second."},
	{SystemNetPacketsInError, batch.Rate, "packets/s", FamilySystem, tagsHostDev, "net/dev rx_errs", "Receive errors per second."},
	{SystemNetPacketsOutCount, batch.Rate, "packets/s", FamilySystem, tagsHostDev, "net/dev tx_packets", "Packets sent per second."},
	{SystemNetPacketsOutDrop, batch.Rate, "packets/s", FamilySystem, tagsHostDev, "net/dev tx_drop", "Sent packets dropped per second."},
	{SystemNetPacketsOutError, batch.Rate, "packets/s", FamilySystem, tagsHostDev, "net/dev tx_errs", "Send errors per second."},
	{SystemNetTCPRetransSegs, batch.Rate, "segments/s", FamilySystem, "", "<proc>/1/net/snmp Tcp: RetransSegs", "TCP segments retransmitted per second."},
	{SystemNetTCPInSegs, batch.Rate, "segments/s", FamilySystem, "", "net/snmp Tcp: InSegs", "TCP segments received per second."},
	{SystemNetTCPOutSegs, batch.Rate, "segments/s", FamilySystem, "", "net/snmp Tcp: OutSegs", "TCP segments sent per second."},
	{SystemNetTCPActiveOpens, batch.Rate, "connections/s", FamilySystem, "", "net/snmp Tcp: ActiveOpens", "TCP connections opened by the host per second."},
	{SystemNetTCPPassiveOpens, batch.Rate, "connections/s", FamilySystem, "", "net/snmp Tcp: PassiveOpens", "TCP connections accepted per second."},
	{SystemNetTCPAttemptFails, batch.Rate, "connections/s", FamilySystem, "", "net/snmp Tcp: AttemptFails", "Failed TCP connection attempts per second."},
	{SystemNetTCPEstablishedResets, batch.Rate, "connections/s", FamilySystem, "", "net/snmp Tcp: EstabResets", "Established TCP connections reset per second."},
	{SystemNetTCPInErrors, batch.Rate, "segments/s", FamilySystem, "", "net/snmp Tcp: InErrs", "TCP segments received in error per second."},
	{SystemNetTCPOutResets, batch.Rate, "segments/s", FamilySystem, "", "net/snmp Tcp: OutRsts", "TCP resets sent per second."},
	{SystemNetTCPListenOverflows, batch.Rate, "connections/s", FamilySystem, "", "<proc>/1/net/netstat TcpExt: ListenOverflows", "Connections dropped on a full accept queue, per second."},
	{SystemNetTCPListenDrops, batch.Rate, "connections/s", FamilySystem, "", "net/netstat TcpExt: ListenDrops", "SYNs to listening sockets dropped per second."},
	{SystemNetTCPBacklogDrops, batch.Rate, "packets/s", FamilySystem, "", "net/netstat TcpExt: TCPBacklogDrop", "Packets dropped on a full socket backlog, per second."},
	{SystemNetTCPFailedRetransmits, batch.Rate, "segments/s", FamilySystem, "", "net/netstat TcpExt: TCPRetransFail", "Retransmissions that failed, per second."},
	{SystemNetTCPCurrentEstablished, batch.Gauge, "connections", FamilySystem, "", "net/snmp Tcp: CurrEstab", "TCP connections established or closing-wait now."},
	{SystemNetUDPInDatagrams, batch.Rate, "datagrams/s", FamilySystem, "", "net/snmp Udp: InDatagrams", "UDP datagrams delivered per second."},
	{SystemNetUDPNoPorts, batch.Rate, "datagrams/s", FamilySystem, "", "net/snmp Udp: NoPorts", "UDP datagrams to no listener, per second."},
	{SystemNetUDPInErrors, batch.Rate, "datagrams/s", FamilySystem, "", "net/snmp Udp: InErrors", "UDP datagrams not delivered (errors), per second."},
	{SystemNetUDPOutDatagrams, batch.Rate, "datagrams/s", FamilySystem, "", "net/snmp Udp: OutDatagrams", "UDP datagrams sent per second."},
	{SystemNetUDPRcvBufErrors, batch.Rate, "datagrams/s", FamilySystem, "", "net/snmp Udp: RcvbufErrors", "UDP datagrams dropped on a full receive buffer, per second."},
	{SystemNetUDPSndBufErrors, batch.Rate, "datagrams/s", FamilySystem, "", "net/snmp Udp: SndbufErrors", "UDP datagrams dropped on a full send buffer, per second."},
	{SystemNetUDPInCsumErrors, batch.Rate, "datagrams/s", FamilySystem, "", "net/snmp Udp: InCsumErrors", "UDP datagrams with a bad checksum, per second."},
	{SystemDiskTotal, batch.Gauge, "KiB", FamilySystem, tagsFS, fsSource + " f_blocks", "Filesystem size."},
	{SystemDiskUsed, batch.Gauge, "KiB", FamilySystem, tagsFS, fsSource + " f_blocks − f_bfree", "Space used."},
	{SystemDiskFree, batch.Gauge, "KiB", FamilySystem, tagsFS, fsSource + " f_bavail", "Space available to unprivileged users."},
	{SystemDiskUtilized, batch.Gauge, "percent", FamilySystem, tagsFS, "used ÷ (used + free) × 100", "Share of the usable space in use."},
	{SystemDiskInUse, batch.Gauge, "fraction", FamilySystem, tagsFS, "used ÷ (used + free)", "Share of the usable space in use (0–1)."},
	{SystemFSInodesTotal, batch.Gauge, "inodes", FamilySystem, tagsFS, fsSource + " f_files", "Inodes; not sent for filesystems without a fixed count."},
	{SystemFSInodesUsed, batch.Gauge, "inodes", FamilySystem, tagsFS, "f_files − f_ffree", "Inodes in use."},
	{SystemFSInodesFree, batch.Gauge, "inodes", FamilySystem, tagsFS, fsSource + " f_ffree", "Free inodes."},
	{SystemFSInodesUtilized, batch.Gauge, "percent", FamilySystem, tagsFS, "used ÷ total × 100", "Share of inodes in use."},
	{SystemFSInodesInUse, batch.Gauge, "fraction", FamilySystem, tagsFS, "used ÷ total", "Share of inodes in use (0–1)."},
	{SystemFSFileHandlesAllocated, batch.Gauge, "files", FamilySystem, "", "<proc>/sys/fs/file-nr first field", "File handles allocated by the kernel."},
	{SystemFSFileHandlesAllocatedUnused, batch.Gauge, "files", FamilySystem, "", "file-nr second field", "Allocated but unused file handles (0 since Linux 2.6)."},
	{SystemFSFileHandlesUsed, batch.Gauge, "files", FamilySystem, "", "allocated − unused", "File handles in use."},
	{SystemFSFileHandlesInUse, batch.Gauge, "fraction", FamilySystem, "", "used ÷ max", "Share of the file handle limit in use."},
	{SystemFSFileHandlesMax, batch.Gauge, "files", FamilySystem, "", "file-nr third field (fs.file-max)", "File handle limit."},

	{AgentRunning, batch.Gauge, "", FamilyAgent, "version", "constant 1", "The host map's \"agent up\" heartbeat."},

	{WhippetCollectorErrors, batch.Count, "errors", FamilyWhippet, "collector (proc, host, cgroup, passwd, task_iterator)", "collect.Stats", "Read or parse failures since the previous flush (vanished processes are not errors)."},
	{WhippetCollectorDuration, batch.Gauge, "s", FamilyWhippet, "", "collect.Stats.CycleDuration", "Duration of the last collection cycle."},
	{WhippetEventsLost, batch.Count, "events", FamilyWhippet, "", "collect.Stats.EventsLost", "Process events the kernel source lost."},
	{WhippetEventsGaps, batch.Count, "gaps", FamilyWhippet, "", "collect.Stats.EventGaps", "Intervals in which process events were lost or dropped (a rescan follows)."},
	{WhippetProcessesTracked, batch.Gauge, "processes", FamilyWhippet, "", "collect.Stats.TrackedProcs", "Processes in the collector's table."},
	{WhippetContainersTracked, batch.Gauge, "containers", FamilyWhippet, "", "collect.Snapshot.Containers", "Containers known to the collector, running or not."},
	{WhippetShortLived, batch.Count, "processes", FamilyWhippet, "container tags; none for host processes", "Container.ShortLived, Stats.ShortLivedCount", "Processes that started and exited between two cycles."},
	{WhippetShortLivedDropped, batch.Count, "processes", FamilyWhippet, "", "collect.Stats.ShortLivedDropped", "Short-lived processes counted but not listed (over the per-cycle bound)."},
	{WhippetFDsHeld, batch.Gauge, "fds", FamilyWhippet, "", "collect.Stats.HeldFDs", "/proc descriptors held open across cycles."},
}

// Lookup returns the catalogue entry of name.
func Lookup(name string) (Def, bool) {
	for _, d := range Catalogue {
		if d.Name == name {
			return d, true
		}
	}
	return Def{}, false
}

var familyTitles = []struct{ family, title, common string }{
	{FamilyContainer, "Containers (`container.*`, the agent's container check)", "Every series carries the container's tags of all cardinalities and the global tags."},
	{FamilyDocker, "Docker (`docker.*`, the agent's docker check)", "Per-container series carry the container's tags, `runtime:docker` and the global tags."},
	{FamilySystem, "Host (`system.*`)", "Every series carries the global tags."},
	{FamilyAgent, "Heartbeat", ""},
	{FamilyWhippet, "whippet's own health (`whippet.*`)", "Every series carries the global tags."},
}

// Markdown writes the catalogue as one reference table per family.
func Markdown(w io.Writer) error {
	var b strings.Builder
	for i, f := range familyTitles {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "### %s\n\n", f.title)
		if f.common != "" {
			b.WriteString(f.common + " A rate is a per-second value sent as a gauge; a count is the delta since the previous flush.\n\n")
		}
		b.WriteString("| Metric | Type | Unit | Tags | Source | Description |\n|---|---|---|---|---|---|\n")
		for _, d := range Catalogue {
			if d.Family != f.family {
				continue
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", d.Name, d.Type, cell(d.Unit), cell(d.Tags), cell(d.Source), cell(d.Doc))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write metrics table: %w", err)
	}
	return nil
}

// cellEscaper escapes what a Markdown table cell cannot hold as is: the column
// separator, and angle brackets a renderer would take for HTML ("<pid>").
var cellEscaper = strings.NewReplacer("|", `\|`, "<", `\<`, ">", `\>`)

// cell escapes a table cell.
func cell(s string) string {
	if s == "" {
		return "–"
	}
	return cellEscaper.Replace(s)
}
