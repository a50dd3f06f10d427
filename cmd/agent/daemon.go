package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/config"
	"github.com/whippet-agent/whippet/pkg/hostname"
	"github.com/whippet-agent/whippet/pkg/metrics"
	"github.com/whippet-agent/whippet/pkg/procs"
	"github.com/whippet-agent/whippet/pkg/sched"
	"github.com/whippet-agent/whippet/pkg/scrub"
	"github.com/whippet-agent/whippet/pkg/status"
)

// sink is where derived batches go: the Datadog intake (through the spool),
// DogStatsD, or stdout. A sink owns nothing of a batch after the call returns.
type sink interface {
	Metrics(m *batch.Metrics) error
	Processes(p *batch.Processes) error
	// Close flushes what it can before ctx ends; the rest stays spooled.
	Close(ctx context.Context) error
	// Report adds the sink's delivery state to a status report.
	Report(r *status.Report)
}

// daemon is the running agent: one goroutine collects on the metrics and process
// schedules, derives and hands batches to the sink; the status server reads a
// copy of its counters under mu.
type daemon struct {
	cfg     *config.Config
	log     *slog.Logger
	a       *agent
	host    hostInfo
	deriver *metrics.Deriver
	procs   *procs.Builder // nil when process collection is off
	out     sink
	started time.Time

	mb batch.Metrics
	pb batch.Processes

	mu        sync.Mutex
	cycles    uint64
	slow      uint64
	panics    uint64
	errs      map[string]uint64
	lastCycle time.Duration
	skipped   uint64
	points    int
	snapStats collect.Stats
	nContain  int
	nProcs    int
	apiKey    string // valid, invalid, unchecked, none
	peakProcs int
	lastTrim  time.Time
	lastFree  time.Time
}

// hostInfo is the resolved host identity.
type hostInfo struct {
	name, source string
}

// stage runs fn, turning a panic into a counted, logged error so one broken
// collector or encoder never takes the agent down.
func (d *daemon) stage(name string, fn func() error) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			d.mu.Lock()
			d.panics++
			d.errs[name]++
			d.mu.Unlock()
			d.log.Error("panic recovered", "stage", name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	if err := fn(); err != nil {
		d.mu.Lock()
		d.errs[name]++
		d.mu.Unlock()
		d.log.Warn("stage failed", "stage", name, "err", err)
		return false
	}
	return true
}

// loop runs cycles until ctx ends. cycles > 0 stops after that many (tests).
// reload is called on SIGHUP.
func (d *daemon) loop(ctx context.Context, cycles int, hup <-chan struct{}, reload func()) error {
	intervals := []time.Duration{d.cfg.MetricsInterval, d.cfg.ProcessInterval}
	offsets := []time.Duration{sched.Offset(d.host.name, intervals[0]), sched.Offset(d.host.name, intervals[1])}
	// The first cycle primes the counters (no rates yet) right away; the first
	// tick comes at least half an interval later, so that no two batches share a
	// timestamp second and no rate spans a sliver of time.
	d.cycle(time.Now(), true, d.procs != nil)
	tk := sched.NewTicker(time.Now().Add(min(intervals[0], intervals[1])/2), intervals, offsets)
	due := make([]bool, 2)
	timer := time.NewTimer(time.Until(tk.Wait()))
	defer timer.Stop()
	for n := 1; cycles == 0 || n < cycles; {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			reload()
			continue
		case <-timer.C:
		}
		now := time.Now()
		tk.Due(now, due)
		if due[0] || (due[1] && d.procs != nil) {
			d.cycle(now, due[0], due[1] && d.procs != nil)
			n++
		}
		d.mu.Lock()
		d.skipped = tk.Skipped[0] + tk.Skipped[1]
		d.mu.Unlock()
		timer.Reset(time.Until(tk.Wait()))
	}
	return nil
}

// cycle collects once and derives what is due.
func (d *daemon) cycle(now time.Time, doMetrics, doProcs bool) {
	start := time.Now()
	var snap *collect.Snapshot
	// Open fds, filesystems and fresh host and cgroup counters feed metrics
	// only: a process-only tick walks the processes alone. A metrics-only tick
	// needs processes only to count containers' descriptors, and with process
	// collection on takes the last process tick's list (at most one process
	// interval old) instead of walking again.
	extras := collect.ProcessesOnly
	if doMetrics {
		extras = collect.ExtraFDs | collect.ExtraFilesystems
		if !doProcs && d.procs != nil {
			extras |= collect.ReuseProcesses
		}
	}
	if !d.stage("collect", func() (err error) {
		snap, err = d.a.coll.CollectWith(now, extras)
		return err
	}) {
		return
	}
	if doMetrics {
		d.stage("metrics", func() error {
			d.deriver.Derive(snap, &d.mb)
			d.mu.Lock()
			d.points = len(d.mb.Points)
			d.mu.Unlock()
			return d.out.Metrics(&d.mb)
		})
	}
	if doProcs {
		d.stage("processes", func() error {
			d.procs.Build(snap, &d.pb)
			return d.out.Processes(&d.pb)
		})
	}
	took := time.Since(start)
	d.mu.Lock()
	d.cycles++
	d.lastCycle = took
	d.snapStats = snap.Stats
	d.nContain = len(snap.Containers)
	d.nProcs = len(snap.Processes)
	trim := d.shrunk(len(snap.Processes), now)
	if took > min(d.cfg.MetricsInterval, d.cfg.ProcessInterval) {
		d.slow++
	}
	d.mu.Unlock()
	if took > min(d.cfg.MetricsInterval, d.cfg.ProcessInterval) {
		d.log.Warn("slow cycle: longer than the interval; ticks it overran are skipped", "took", took)
	}
	if trim {
		// The host had many more processes a while ago: give the tables' peak
		// back.
		d.a.coll.Trim()
		d.log.Debug("trimmed after a process peak", "processes", len(snap.Processes))
	}
	if trim || now.Sub(d.lastFree) >= freeEvery {
		// The cycles allocate next to nothing, so the garbage collector seldom
		// runs on its own and what a burst left (an exec storm's event buffers,
		// a trimmed table) would stay resident: collect and return it to the
		// kernel once a minute (a few ms of CPU for a heap this size).
		d.lastFree = now
		debug.FreeOSMemory()
	}
}

// freeEvery is how often the heap is collected and returned to the kernel.
const freeEvery = time.Minute

// shrunk reports, at most every trimEvery, whether the process count has fallen
// under half of its peak since the last trim (called with mu held).
func (d *daemon) shrunk(n int, now time.Time) bool {
	d.peakProcs = max(d.peakProcs, n)
	if d.peakProcs < 512 || n > d.peakProcs/2 || now.Sub(d.lastTrim) < trimEvery {
		return false
	}
	d.peakProcs, d.lastTrim = n, now
	return true
}

// trimEvery bounds how often a shrinking host triggers a trim.
const trimEvery = time.Minute

// report is the status server's view of the daemon.
func (d *daemon) report() status.Report {
	d.mu.Lock()
	r := status.Report{
		Version:        version,
		Started:        d.started,
		UptimeSeconds:  time.Since(d.started).Seconds(),
		Hostname:       d.host.name,
		HostnameSource: d.host.source,
		Output:         string(d.cfg.Output),
		APIKeyState:    d.apiKey,
		HostRoot:       d.a.root.String(),
		ProcessEvents:  d.snapStats.EventMode,
		Sampler:        d.snapStats.Sampler,
		EventsLost:     d.snapStats.EventsLost,
		Containers:     d.nContain,
		Processes:      d.nProcs,
		Cycles:         d.cycles,
		LastCycleMs:    float64(d.lastCycle.Microseconds()) / 1000,
		SlowCycles:     d.slow,
		SkippedTicks:   d.skipped,
		Panics:         d.panics,
		MetricsPoints:  d.points,
		Drops:          map[string]uint64{},
		Errors:         map[string]uint64{},
	}
	for k, v := range d.errs {
		r.Errors[k] = v
	}
	st := d.snapStats
	d.mu.Unlock()
	if d.cfg.APIKey != "" {
		r.APIKey = d.cfg.RedactedKey()
		r.Site = d.cfg.Site
	}
	r.Errors["container"] += st.ContainerErrors
	r.Errors["host"] += st.HostErrors
	r.Errors["task_iterator"] += st.TaskIterErrors
	r.Errors["passwd"] += st.UserErrors
	var procErr uint64
	for _, n := range st.ReadErrors {
		procErr += n
	}
	for _, n := range st.ParseErrors {
		procErr += n
	}
	r.Errors["proc"] += procErr
	r.Drops["short_lived_unlisted"] = st.ShortLivedDropped
	d.out.Report(&r)
	r.Self = status.ReadSelf()
	if r.APIKeyState == "invalid" {
		r.Problems = append(r.Problems, "the intake rejects the API key (403 from /api/v1/validate): data is spooled, not sent; fix DD_API_KEY")
	}
	if d.a.sources != nil {
		if since, err := d.a.sources.health(); err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("Docker engine not answering on %s since %s (%v): container metrics stale",
				d.a.root.DockerSocket(), since.UTC().Format(time.RFC3339), err))
		} else if !d.a.sources.watcher.Stats().Connected {
			r.Problems = append(r.Problems, "Docker events stream disconnected from "+d.a.root.DockerSocket()+": reconnecting; container changes may lag")
		}
	}
	return r
}

// build makes the metric deriver and, with process collection on, the process
// builder and its scrubber from the configuration.
func (d *daemon) build() error {
	cfg := d.cfg
	d.deriver = metrics.New(metrics.Options{
		Host: d.host.name, Interval: cfg.MetricsInterval, GlobalTags: cfg.HostTags(),
		Docker: cfg.DockerMetrics, Container: cfg.ContainerMetrics, Version: version,
		Log: d.log.With("component", "metrics"),
	})
	d.procs = nil
	if !cfg.ProcessEnabled {
		return nil
	}
	sc, err := scrub.New(scrub.Options{Enabled: cfg.ScrubArgs, CustomWords: cfg.CustomSensitiveWords, StripArgs: cfg.StripProcessArgs})
	if err != nil {
		return fmt.Errorf("process scrubbing: %w", err)
	}
	sys := systemInfo(d.a)
	d.procs = procs.New(procs.Options{
		Host: d.host.name, Interval: cfg.ProcessInterval, Scrubber: sc,
		NumCPU: sys.cpus, TotalMemory: sys.mem, KernelVersion: sys.kernel,
		Log: d.log.With("component", "procs"),
	})
	return nil
}

// reload re-reads the configuration (SIGHUP). Log level, tags, metric families
// and scrubbing apply at once (a rebuilt deriver starts its rates afresh: one
// cycle without rate points); other changes need a restart and are logged.
func (d *daemon) reload(src config.Sources, level *slog.LevelVar) {
	cfg, err := config.Load(src)
	if err != nil {
		d.log.Error("configuration reload refused: keeping the running configuration", "err", err)
		return
	}
	old := d.cfg
	level.Set(cfg.LogLevel)
	if cfg.Output != old.Output || cfg.APIKey != old.APIKey || cfg.Site != old.Site || cfg.DDURL != old.DDURL ||
		cfg.MetricsInterval != old.MetricsInterval || cfg.ProcessInterval != old.ProcessInterval ||
		cfg.ProcessEnabled != old.ProcessEnabled || cfg.SpoolDir != old.SpoolDir || cfg.StatusAddr != old.StatusAddr {
		d.log.Warn("configuration reload: output, API key, site, URLs, intervals, process collection, spool and status address take effect at the next restart")
		cfg.Output, cfg.APIKey, cfg.Site, cfg.DDURL, cfg.ProcessDDURL = old.Output, old.APIKey, old.Site, old.DDURL, old.ProcessDDURL
		cfg.MetricsInterval, cfg.ProcessInterval, cfg.ProcessEnabled = old.MetricsInterval, old.ProcessInterval, old.ProcessEnabled
		cfg.SpoolDir, cfg.StatusAddr = old.SpoolDir, old.StatusAddr
	}
	d.cfg = cfg
	if err := d.build(); err != nil {
		d.log.Error("configuration reload failed: keeping the running configuration", "err", err)
		d.cfg = old
		d.build()
		return
	}
	for _, w := range cfg.Warnings {
		d.log.Warn("configuration", "warning", w)
	}
	d.log.Info("configuration reloaded", "log_level", cfg.LogLevel, "tags", len(cfg.HostTags()))
}

type sysInfo struct {
	cpus   int
	mem    uint64
	kernel string
}

// systemInfo describes the host for process payloads: from the Docker engine
// when there is one (it sees the host, not our cgroup's share), else from the
// kernel.
func systemInfo(a *agent) sysInfo {
	var s sysInfo
	if a.sources != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		info, err := a.sources.client.Info(ctx)
		cancel()
		if err == nil {
			return sysInfo{cpus: info.NCPU, mem: uint64(info.MemTotal), kernel: info.KernelVersion}
		}
	}
	s.cpus = runtime.NumCPU()
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		s.mem = uint64(si.Totalram) * uint64(si.Unit)
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		s.kernel = unix.ByteSliceToString(u.Release[:])
	}
	return s
}

// resolveHost picks the host name as the Datadog agent would (datadog-compat
// §3.8), asking the Docker engine for the host's own name when we run in a
// container.
func resolveHost(ctx context.Context, cfg *config.Config, a *agent, log *slog.Logger) hostInfo {
	o := hostname.Options{
		Configured: cfg.Hostname, ForceConfigAsCanonical: cfg.HostnameForceConfigAsCanonical,
		IMDSURL: cfg.IMDSURL, IMDSTimeout: cfg.IMDSTimeout,
		InContainer: a.root.InContainer(),
		Log:         log.With("component", "hostname"),
	}
	if a.sources != nil {
		o.DockerName = func(ctx context.Context) (string, error) {
			info, err := a.sources.client.Info(ctx)
			return info.Name, err
		}
	}
	r, err := hostname.Resolve(ctx, o)
	if err != nil {
		log.Warn("host name unresolved: using the OS name", "err", err)
		n, _ := os.Hostname()
		return hostInfo{name: n, source: "os"}
	}
	return hostInfo{name: r.Name, source: r.Source}
}
