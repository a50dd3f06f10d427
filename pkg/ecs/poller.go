package ecs

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whippet-agent/whippet/pkg/container"
)

// PollerOptions tune a Poller.
type PollerOptions struct {
	// Candidates are the agent URLs to try, in order (see Candidates). Empty: the
	// poller never finds an agent and Enrich does nothing.
	Candidates []string
	// Interval between refreshes of /v1/tasks while the agent answers; 0 means 30 s.
	Interval time.Duration
	// RetryInterval between detection attempts while no agent answers; 0 means 1 min.
	RetryInterval time.Duration
	// Timeout of each call; 0 means DefaultTimeout (1 s).
	Timeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// OnChange, when set, is called (from the poller's goroutine) after a refresh
	// changed what Enrich reports: wire it to sock.Watcher.Reenrich, since a
	// task's status changes without a Docker event.
	OnChange func()
}

// PollerStats are a Poller's counters.
type PollerStats struct {
	Available bool   // the last refresh succeeded
	URL       string // the agent's URL, once found
	Cluster   string
	Version   string // the agent's version
	Tasks     int
	Refreshes uint64 // successful refreshes
	Errors    uint64 // failed refreshes and detections
	LastError string
}

// Poller keeps the ECS agent's view of the tasks on this host, refreshed in its
// own single goroutine (Run), and completes Metas from it (Enrich) without I/O.
type Poller struct {
	opts PollerOptions
	log  *slog.Logger
	snap atomic.Pointer[snapshot]

	refreshes, errs atomic.Uint64

	mu      sync.Mutex // the fields below, used by Run's goroutine and Stats
	client  *Client
	lastErr string
	failed  int // refreshes failed in a row
}

// snapshot is one refresh's result: what Enrich reads.
type snapshot struct {
	md     Metadata
	url    string
	ntasks int
	byID   map[string]agentContainer // docker id → its task
}

// agentContainer is what Enrich takes from the agent for one container.
type agentContainer struct {
	arn, family, version, known, desired, name string
}

// keepStale is how many failed refreshes in a row keep the last snapshot in use
// (an agent restarting for an update) before Enrich stops reporting agent data.
const keepStale = 3

// NewPoller returns a poller; start it with Run.
func NewPoller(opts PollerOptions) *Poller {
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	p := &Poller{opts: opts, log: opts.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p
}

// Run refreshes until ctx ends, then returns nil: every Interval while the agent
// answers, every RetryInterval while it does not. An absent agent is logged once.
func (p *Poller) Run(ctx context.Context) error {
	if len(p.opts.Candidates) == 0 {
		p.log.Info("ecs agent: no URL to try; ECS identity from container labels only")
		<-ctx.Done()
		return nil
	}
	t := time.NewTimer(0)
	defer t.Stop()
	wasUp, logged := false, false
	for {
		select {
		case <-ctx.Done():
			p.close()
			return nil
		case <-t.C:
		}
		err := p.Refresh(ctx)
		if ctx.Err() != nil {
			p.close()
			return nil
		}
		next := p.opts.Interval
		switch {
		case err == nil && !wasUp:
			s := p.snap.Load()
			p.log.Info("ecs agent found", "url", s.url, "cluster", s.md.Cluster, "version", s.md.Version, "tasks", s.ntasks)
			wasUp, logged = true, false
		case err != nil && wasUp:
			p.log.Warn("ecs agent stopped answering; retrying", "err", err)
			wasUp, logged = false, true
		case err != nil && !logged:
			p.log.Info("ecs agent not reachable; ECS identity from container labels only, retrying",
				"every", p.opts.RetryInterval, "err", err)
			logged = true
		case err != nil:
			p.log.Debug("ecs agent still not reachable", "err", err)
		}
		if err != nil && p.snap.Load() == nil {
			next = p.opts.RetryInterval
		}
		t.Reset(next)
	}
}

func (p *Poller) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		p.client.Close()
	}
}

// Refresh finds the agent if needed and reads its metadata and tasks once. Run
// calls it; it is exported for one-shot use (whippet check) and tests.
func (p *Poller) Refresh(ctx context.Context) error {
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	var (
		md  Metadata
		err error
	)
	if c == nil {
		c, md, err = Detect(ctx, p.opts.Candidates, p.opts.Timeout)
	} else {
		md, err = c.Metadata(ctx)
	}
	var tasks []Task
	if err == nil {
		tasks, err = c.Tasks(ctx)
	}
	if err != nil {
		p.errs.Add(1)
		p.mu.Lock()
		p.lastErr = err.Error()
		if c != nil && len(p.opts.Candidates) > 1 {
			c.Close()
			c = nil // detect again: the agent may be reachable elsewhere now
		}
		p.client = c
		p.failed++
		drop := p.failed == keepStale
		p.mu.Unlock()
		if drop && p.snap.Swap(nil) != nil && p.opts.OnChange != nil {
			p.opts.OnChange()
		}
		return err
	}
	next := build(c.URL(), md, tasks)
	p.mu.Lock()
	p.client, p.failed = c, 0
	p.mu.Unlock()
	p.refreshes.Add(1)
	if old := p.snap.Swap(next); !next.same(old) && p.opts.OnChange != nil {
		p.opts.OnChange()
	}
	return nil
}

func build(url string, md Metadata, tasks []Task) *snapshot {
	s := &snapshot{md: md, url: url, ntasks: len(tasks), byID: make(map[string]agentContainer)}
	for _, t := range tasks {
		for _, c := range t.Containers {
			if c.DockerID == "" {
				continue // not created yet
			}
			s.byID[c.DockerID] = agentContainer{arn: t.Arn, family: t.Family, version: t.Version,
				known: t.KnownStatus, desired: t.DesiredStatus, name: c.Name}
		}
	}
	return s
}

// same reports whether Enrich gives the same results from s and o.
func (s *snapshot) same(o *snapshot) bool {
	return o != nil && s.md == o.md && maps.Equal(s.byID, o.byID)
}

// Enrich completes m from the agent's view when the agent knows its Docker id:
// the task's KnownStatus and DesiredStatus, the container instance ARN, the
// cluster name when the labels lacked it, and the whole task identity for a
// container without ECS labels; it sets AgentAvailable. It does nothing for a
// container the agent does not know. It never blocks: it reads the last refresh.
// Call it before m.Finish (sock.WatcherOptions.Enrich).
func (p *Poller) Enrich(m *container.Meta) {
	s := p.snap.Load()
	if s == nil {
		return
	}
	a, ok := s.byID[m.ID]
	if !ok {
		return
	}
	if m.ECS.IsZero() {
		m.ECS = container.ParseECS(m.Labels)
	}
	if m.ECS.IsZero() {
		m.ECS = container.ParseECS(map[string]string{
			container.LabelTaskARN: a.arn, container.LabelCluster: s.md.Cluster, container.LabelFamily: a.family,
			container.LabelVersion: a.version, container.LabelContainerName: a.name,
		})
	}
	if m.ECS.Cluster == "" {
		m.ECS.Cluster = clusterName(s.md.Cluster)
	}
	m.ECS.KnownStatus = a.known
	m.ECS.DesiredStatus = a.desired
	m.ECS.InstanceARN = s.md.ContainerInstanceArn
	m.ECS.AgentAvailable = true
}

// clusterName reduces a cluster ARN to its name, as container.ParseECS does.
func clusterName(s string) string {
	if strings.HasPrefix(s, "arn:") {
		if i := strings.LastIndexByte(s, '/'); i >= 0 {
			return s[i+1:]
		}
	}
	return s
}

// Stats returns the poller's counters.
func (p *Poller) Stats() PollerStats {
	st := PollerStats{Refreshes: p.refreshes.Load(), Errors: p.errs.Load()}
	if s := p.snap.Load(); s != nil {
		st.URL, st.Cluster, st.Version, st.Tasks = s.url, clusterName(s.md.Cluster), s.md.Version, s.ntasks
	}
	p.mu.Lock()
	st.Available = p.client != nil && p.failed == 0
	st.LastError = p.lastErr
	p.mu.Unlock()
	return st
}
