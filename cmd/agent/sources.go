package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/whippet-agent/whippet/bpf"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/ecs"
	"github.com/whippet-agent/whippet/pkg/procevent"
	"github.com/whippet-agent/whippet/pkg/sock"
)

// containerSources runs the Docker watcher and, on ECS, the ECS agent poller, each
// in one goroutine, until stop is called.
type containerSources struct {
	watcher *sock.Watcher
	client  *sock.Client
	poller  *ecs.Poller
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu        sync.Mutex
	pingErr   error     // the last health check's failure, nil when it answered
	pingSince time.Time // when the daemon stopped answering
}

// Health checks: a hung daemon keeps its events stream open and silent, so the
// watcher alone would not notice it for minutes.
const (
	pingEvery   = 10 * time.Second
	pingTimeout = 5 * time.Second
)

// watchHealth pings the daemon every pingEvery until ctx ends.
func (s *containerSources) watchHealth(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := s.client.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		was := s.pingErr
		s.pingErr = err
		if err != nil && was == nil {
			s.pingSince = time.Now()
		}
		s.mu.Unlock()
		switch {
		case err != nil && was == nil:
			log.Warn("Docker engine not answering: container metrics are stale", "err", err)
		case err == nil && was != nil:
			log.Info("Docker engine answering again")
		}
	}
}

// health is since when the daemon has not answered, and the last failure (nil: answering).
func (s *containerSources) health() (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pingSince, s.pingErr
}

// startContainers starts following the host's Docker daemon when its socket
// exists; without one it returns nil and the agent reports host and processes only.
func startContainers(ctx context.Context, root hostfs.Root, log *slog.Logger) *containerSources {
	path := root.DockerSocket()
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		log.Info("no Docker socket: container metrics disabled", "socket", path)
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &containerSources{client: sock.New(path, sock.Options{}), cancel: cancel}
	opts := sock.WatcherOptions{Logger: log.With("component", "docker")}
	if urls := ecsCandidates(root, log); len(urls) > 0 {
		var w *sock.Watcher
		s.poller = ecs.NewPoller(ecs.PollerOptions{
			Candidates: urls,
			Logger:     log.With("component", "ecs"),
			OnChange:   func() { w.Reenrich() },
		})
		opts.Enrich = s.poller.Enrich
		s.watcher = sock.NewWatcher(s.client, opts)
		w = s.watcher
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.poller.Run(ctx) }()
	} else {
		s.watcher = sock.NewWatcher(s.client, opts)
	}
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.watcher.Run(ctx) }()
	go func() { defer s.wg.Done(); s.watchHealth(ctx, log.With("component", "docker")) }()
	return s
}

// ecsCandidates are the ECS agent introspection URLs to probe: the configured one
// (DD_ECS_AGENT_URL), or, only when whippet itself runs as an ECS task (the ECS
// agent sets ECS_CONTAINER_METADATA_URI[_V4] in every task container), the
// Datadog agent's detection order. Elsewhere nothing is probed: a host that is
// not an ECS container instance gets no stray connections to its gateway.
func ecsCandidates(root hostfs.Root, log *slog.Logger) []string {
	if u := os.Getenv("DD_ECS_AGENT_URL"); u != "" {
		return ecs.Candidates(u, netip.Addr{})
	}
	if os.Getenv("ECS_CONTAINER_METADATA_URI_V4") == "" && os.Getenv("ECS_CONTAINER_METADATA_URI") == "" {
		log.Debug("not running as an ECS task: ECS agent introspection off (set DD_ECS_AGENT_URL to force)")
		return nil
	}
	gw, err := ecs.DefaultGateway(root.Proc("self", "net", "route"))
	if err != nil {
		log.Debug("no default gateway for ECS agent detection", "err", err)
	}
	return ecs.Candidates("", gw)
}

// waitSynced waits until the watcher has listed the containers once, for
// one-shot commands; false when it could not within d.
func (s *containerSources) waitSynced(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !s.watcher.Stats().LastResync.IsZero() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// stop ends the goroutines and closes the client. It is idempotent.
func (s *containerSources) stop() {
	if s == nil || s.cancel == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
	s.client.Close()
	s.cancel = nil
}

// processEvents runs the process event source the flag asks for and feeds the
// collector; with "poll" (or when nothing better loads under "auto") it returns
// nil and the collector scans /proc every cycle.
type processEvents struct {
	src    procevent.Source
	feed   *collect.EventFeed
	cancel context.CancelFunc
	done   chan struct{}
}

// eventPoll is how often the eBPF ring is drained between its wake-ups: at
// most half the shorter interval, so that an exit event comes by the next
// cycle after the one whose walk found its process gone (collect counts it
// as an exit then, not as a short-lived process).
func eventPoll(metrics, processes time.Duration) time.Duration {
	return min(bpf.DefaultPollInterval, min(metrics, processes)/2)
}

func startProcessEvents(ctx context.Context, mode string, poll time.Duration, log *slog.Logger) (*processEvents, error) {
	opt := procevent.Options{Mode: mode, BPF: bpf.Options{PollInterval: poll}}
	src, rungs, err := procevent.OpenOptions(opt, log.With("component", "procevents"))
	for _, r := range rungs {
		if r.Err != nil {
			log.Info("process events: rung skipped", "rung", r.Mode, "reason", r.Err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("-process-events %s: %w", mode, err)
	}
	log.Info("process events", "mode", src.Mode())
	if src.Mode() == procevent.ModePoll {
		log.Warn("process events unavailable: scanning /proc every cycle; processes living less than a cycle are not seen")
		src.Close()
		return nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	pe := &processEvents{src: src, feed: collect.NewEventFeed(0), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(pe.done)
		if err := src.Run(ctx, pe.feed.Add); err != nil {
			log.Error("process events stopped", "err", err)
		}
	}()
	return pe, nil
}

func (p *processEvents) stop() {
	if p == nil || p.cancel == nil {
		return
	}
	p.cancel()
	p.src.Close()
	<-p.done
	p.cancel = nil
}
