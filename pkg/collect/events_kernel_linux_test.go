//go:build linux

package collect

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/bpf"
	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/procevent"
	"github.com/whippet-agent/whippet/pkg/sock"
)

// testPoll is the eBPF ring's drain interval here: shorter than the agent's
// default, so the test waits a second for a quiet ring.
const testPoll = time.Second

// TestKernelShortLived runs each process event rung on the real kernel: a process
// that lives ~50 ms between two cycles is reported in the next one; with an eBPF
// rung, one run by `docker exec` in a real container is attributed to that
// container by its cgroup id (netlink carries no cgroup: host attribution only);
// polling reports no short-lived process rather than inventing one.
func TestKernelShortLived(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "process events need root")
	}
	if exec.Command("docker", "version").Run() != nil {
		testenv.Skip(t, "no Docker engine")
	}
	root, err := hostfs.Detect(os.Getenv, hostfs.DirExists)
	if err != nil {
		t.Fatal(err)
	}
	client := sock.New(root.DockerSocket(), sock.Options{})
	defer client.Close()
	ctr := dockerRun(t, "whippet-collect-test-shortlived", "whippet-busybox:latest", "sleep", "1000")

	for _, mode := range []string{"tp_btf", "raw_tracepoint", "tracepoint", procevent.ModeNetlink, procevent.ModePoll} {
		t.Run(mode, func(t *testing.T) {
			src, rungs, err := procevent.OpenOptions(procevent.Options{Mode: mode, BPF: bpf.Options{PollInterval: testPoll}}, nil)
			if err != nil {
				testenv.Skip(t, "rung %s unavailable: %v (%v)", mode, err, rungs)
			}
			// A watcher per collector: a Source's changes go to one consumer.
			w := sock.NewWatcher(client, sock.WatcherOptions{})
			wctx, wcancel := context.WithCancel(context.Background())
			wdone := make(chan struct{})
			go func() { w.Run(wctx); close(wdone) }()
			defer func() { wcancel(); <-wdone }()
			opts := Options{Containers: w}
			var done chan struct{}
			if mode != procevent.ModePoll {
				feed := NewEventFeed(0)
				opts.Events, opts.EventsLost, opts.EventMode = feed, src.Lost, src.Mode()
				ctx, cancel := context.WithCancel(context.Background())
				done = make(chan struct{})
				go func() { src.Run(ctx, feed.Add); close(done) }()
				defer func() { cancel(); src.Close(); <-done }()
			} else {
				src.Close()
			}
			c := newCollector(t, root, opts)
			// Cycle until the container is sampled (located, cgroup ids known).
			deadline := time.Now().Add(10 * time.Second)
			for {
				s, err := c.Collect(time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if ct := findCtr(s, ctr); ct != nil && ct.Sampled() {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("container never sampled")
				}
				time.Sleep(100 * time.Millisecond)
			}

			host := exec.Command("sh", "-c", "sleep 0.05; exit 3")
			if err := host.Run(); err == nil {
				t.Fatal("sh -c 'exit 3' succeeded")
			}
			if out, err := exec.Command("docker", "exec", ctr, "sh", "-c", "exit 4").CombinedOutput(); err == nil {
				t.Fatalf("docker exec exit 4 succeeded: %s", out)
			}
			time.Sleep(testPoll + 300*time.Millisecond) // a quiet ring is drained once a poll interval

			s, err := c.Collect(time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if mode == procevent.ModePoll {
				if len(s.ShortLived) != 0 || s.Stats.ShortLivedCount != 0 || s.Stats.EventMode != "poll" {
					t.Errorf("polling reported short-lived processes: %d (%s)", len(s.ShortLived), s.Stats.EventMode)
				}
				return
			}
			var hostSeen, ctrSeen bool
			for _, sl := range s.ShortLived {
				switch {
				case sl.PID == int32(host.Process.Pid):
					hostSeen = true
					if sl.ExitStatus != 3 || sl.ContainerID != "" {
						t.Errorf("host short-lived = %+v", sl)
					}
					if mode != procevent.ModeNetlink && (sl.Lifetime < 40*time.Millisecond || sl.Lifetime > 5*time.Second) {
						t.Errorf("host short-lived lifetime %v, want about 50ms", sl.Lifetime)
					}
				case sl.ContainerID == ctr && sl.ExitStatus == 4:
					ctrSeen = true
				}
			}
			wantCtr := mode != procevent.ModeNetlink
			if !hostSeen || ctrSeen != wantCtr {
				t.Errorf("short-lived: host process seen %v, container process attributed %v (want %v), among %d (%d counted)",
					hostSeen, ctrSeen, wantCtr, len(s.ShortLived), s.Stats.ShortLivedCount)
				for _, sl := range s.ShortLived {
					t.Logf("  %d %q %q ctr %.12s exit %d", sl.PID, sl.Comm, sl.Path, sl.ContainerID, sl.ExitStatus)
				}
			}
			if s.Stats.EventMode != src.Mode() || s.Stats.Events == 0 {
				t.Errorf("stats: mode %q events %d", s.Stats.EventMode, s.Stats.Events)
			}
		})
	}
}
