package batch

// Processes is one process-check run on one host: what a Live Processes
// CollectorProc run carries before it is chunked.
type Processes struct {
	Host       string
	Timestamp  int64 // unix milliseconds, the cycle's clock
	Interval   int64 // seconds between runs
	System     System
	Procs      []Process   // pid order
	Containers []Container // every running container, whether or not a listed process runs in it
}

// Reset empties p for the next run, keeping the capacity of its slices and of
// the byte slices inside recycled Process entries.
func (p *Processes) Reset() {
	p.Host, p.Timestamp, p.Interval = "", 0, 0
	for i := range p.Procs {
		p.Procs[i].reset()
	}
	p.Procs = p.Procs[:0]
	clear(p.Containers)
	p.Containers = p.Containers[:0]
}

// Next returns a zeroed Process appended to p, reusing the byte slices of a
// previous cycle's entry in that slot.
func (p *Processes) Next() *Process {
	if len(p.Procs) < cap(p.Procs) {
		p.Procs = p.Procs[:len(p.Procs)+1]
	} else {
		p.Procs = append(p.Procs, Process{})
	}
	return &p.Procs[len(p.Procs)-1]
}

// System describes the host for CollectorProc.info.
type System struct {
	CPUs          int32
	TotalMemory   uint64 // bytes
	KernelVersion string
	OS            string // e.g. "linux"
}

// Unknown marks a rate or count that could not be read (e.g. /proc/<pid>/io
// without ptrace rights): the process payload sends −1 for it.
const Unknown = -1

// Process is one process as the Live Processes view shows it. Byte slices are
// owned by the batch and reused across cycles.
type Process struct {
	PID   int32
	PPID  int32
	NsPID int32 // pid inside its namespace; 0 when unknown
	// Args is the scrubbed command line, NUL-separated (one NUL after each
	// argument, as /proc/<pid>/cmdline). Empty for kernel threads.
	Args []byte
	Comm []byte
	Exe  []byte // may be empty (readlink needs ptrace rights)

	User string // name from passwd, or the uid in decimal
	UID  uint32
	GID  uint32

	State      byte  // /proc/<pid>/stat state letter: R S D Z T t X I W
	CreateTime int64 // unix milliseconds
	Nice       int32
	Threads    int32
	OpenFDs    int32 // Unknown when not read

	// CPU in percent of one core over the last interval (top-style); the agent's
	// totalPct = userPct + systemPct.
	UserPct, SystemPct, TotalPct float32
	UserTime, SystemTime         uint64 // cumulative, USER_HZ ticks
	RSS, VMS, Swap               uint64 // bytes

	// IO rates per second over the last interval, Unknown when unreadable.
	ReadRate, WriteRate           float32 // syscalls
	ReadBytesRate, WriteBytesRate float32

	VolCtxSwitches, InvolCtxSwitches uint64 // cumulative

	ContainerID string // "" on the host
}

func (p *Process) reset() {
	*p = Process{Args: p.Args[:0], Comm: p.Comm[:0], Exe: p.Exe[:0]}
}

// ContainerState numbers match agent-payload's process.ContainerState.
type ContainerState uint8

const (
	StateUnknown    ContainerState = 0
	StateCreated    ContainerState = 1
	StateRestarting ContainerState = 2
	StateRunning    ContainerState = 3
	StatePaused     ContainerState = 4
	StateExited     ContainerState = 5
	StateDead       ContainerState = 6
)

// Container is one container as CollectorProc.containers carries it.
type Container struct {
	ID      string
	Name    string
	Runtime string   // "docker"
	Tags    []string // all cardinalities, sorted; shared with the producer's cache
	State   ContainerState
	Created int64 // unix seconds
	Started int64 // unix seconds

	CPULimit    float32 // percent of one core; 0 when none
	MemoryLimit uint64  // bytes; 0 when none

	// Rates over the last interval; percent of one core for CPU (Unknown when
	// there is no previous sample).
	UserPct, SystemPct, TotalPct float32
	CPUUsageNs                   float32 // ns per second
	ReadBps, WriteBps            float32
	NetRcvdPs, NetSentPs         float32 // packets per second
	NetRcvdBps, NetSentBps       float32

	MemRSS, MemCache, MemUsage, MemAccounted uint64 // bytes; MemAccounted = working set
	ThreadCount, ThreadLimit                 uint64
}
