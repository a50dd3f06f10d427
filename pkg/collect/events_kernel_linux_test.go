//go:build linux

package collect

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/procevent"
	"github.com/whippet-agent/whippet/pkg/sock"
)

// TestKernelShortLived runs the real eBPF source: a process that lives ~50 ms
// between two cycles is reported in the next one, and one run with `docker exec`
// in a real container is attributed to that container by its cgroup id.
func TestKernelShortLived(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "eBPF needs root")
	}
	src, rungs, err := procevent.Open(procevent.ModeEBPF, nil)
	if err != nil {
		testenv.Skip(t, "no eBPF rung: %v (%v)", err, rungs)
	}
	feed := NewEventFeed(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.Run(ctx, feed.Add); close(done) }()
	defer func() { cancel(); src.Close(); <-done }()

	root, err := hostfs.Detect(os.Getenv, hostfs.DirExists)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Events: feed, EventsLost: src.Lost}
	var ctr string
	if exec.Command("docker", "version").Run() == nil {
		client := sock.New(root.DockerSocket(), sock.Options{})
		defer client.Close()
		w := sock.NewWatcher(client, sock.WatcherOptions{})
		wctx, wcancel := context.WithCancel(context.Background())
		wdone := make(chan struct{})
		go func() { w.Run(wctx); close(wdone) }()
		defer func() { wcancel(); <-wdone }()
		opts.Containers = w
		ctr = dockerRun(t, "whippet-collect-test-shortlived", "whippet-busybox:latest", "sleep", "1000")
	} else {
		testenv.Skip(t, "no Docker engine")
	}
	c := newCollector(t, root, opts)

	// Cycle 1, then wait until the container is sampled (located, cgroup ids known).
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
	time.Sleep(300 * time.Millisecond) // the reader polls every 100 ms

	s, err := c.Collect(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var hostSeen, ctrSeen bool
	for _, sl := range s.ShortLived {
		switch {
		case sl.PID == int32(host.Process.Pid):
			hostSeen = true
			if sl.ExitStatus != 3 || sl.ContainerID != "" || sl.Lifetime < 40*time.Millisecond || sl.Lifetime > 5*time.Second {
				t.Errorf("host short-lived = %+v", sl)
			}
		case sl.ContainerID == ctr && sl.ExitStatus == 4:
			ctrSeen = true
		}
	}
	if !hostSeen || !ctrSeen {
		t.Errorf("short-lived: host process seen %v, container process seen %v, among %d (%d counted)",
			hostSeen, ctrSeen, len(s.ShortLived), s.Stats.ShortLivedCount)
		for _, sl := range s.ShortLived {
			t.Logf("  %d %q %q ctr %.12s exit %d", sl.PID, sl.Comm, sl.Path, sl.ContainerID, sl.ExitStatus)
		}
	}
}
