//go:build linux

package collect

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/sock"
)

const dockerSocket = "/var/run/docker.sock"

// dockerStats asks the engine for its own view of a container
// (GET /containers/{id}/stats?stream=false&one-shot=true): test-only, the agent
// never calls it.
func dockerStats(t *testing.T, id string) (cpuNs, memBytes uint64) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", dockerSocket)
	}}, Timeout: 10 * time.Second}
	resp, err := hc.Get("http://docker/containers/" + id + "/stats?stream=false&one-shot=true")
	if err != nil {
		t.Fatalf("docker stats: %v", err)
	}
	defer resp.Body.Close()
	var v struct {
		CPUStats struct {
			CPUUsage struct {
				TotalUsage uint64 `json:"total_usage"`
			} `json:"cpu_usage"`
		} `json:"cpu_stats"`
		MemoryStats struct {
			Usage uint64 `json:"usage"`
		} `json:"memory_stats"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("docker stats decode: %v", err)
	}
	return v.CPUStats.CPUUsage.TotalUsage, v.MemoryStats.Usage
}

func dockerRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	_ = exec.Command("docker", "rm", "-f", name).Run()
	out, err := exec.Command("docker", append([]string{"run", "-d", "--network", "none", "--name", name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	return strings.TrimSpace(string(out))
}

// TestDockerStatsAgree runs a CPU burner and a memory holder on the real engine
// and compares our cgroup figures with Docker's own stats API, taken back to back:
// our read, Docker's, our read again; Docker's value must lie between ours
// (within 2 % for CPU, 5 % for memory).
func TestDockerStatsAgree(t *testing.T) {
	if _, err := os.Stat(dockerSocket); err != nil || exec.Command("docker", "version").Run() != nil {
		testenv.Skip(t, "no Docker engine at %s", dockerSocket)
	}
	burner := dockerRun(t, "whippet-collect-test-burner", "whippet-busybox:latest", "sh", "-c", "while :; do :; done")
	holder := dockerRun(t, "whippet-collect-test-holder", "whippet-busybox:latest", "sh", "-c",
		"dd if=/dev/zero of=/dev/shm/hold bs=1M count=40 2>/dev/null; sleep 1000")

	root, err := hostfs.Detect(os.Getenv, hostfs.DirExists)
	if err != nil {
		t.Fatal(err)
	}
	client := sock.New(root.DockerSocket(), sock.Options{})
	defer client.Close()
	w := sock.NewWatcher(client, sock.WatcherOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	c := newCollector(t, root, Options{Containers: w})
	deadline := time.Now().Add(10 * time.Second)
	var s *Snapshot
	for {
		if s, err = c.Collect(time.Now()); err != nil {
			t.Fatal(err)
		}
		b, h := findCtr(s, burner), findCtr(s, holder)
		if b != nil && h != nil && b.Sampled() && h.Sampled() && h.Cur.Stats.Memory.Usage > 40<<20 &&
			b.Cur.Stats.CPU.Usage > 1e9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containers not sampled in time: burner %v holder %v (errors %d)", b != nil, h != nil, s.Stats.ContainerErrors)
		}
		time.Sleep(200 * time.Millisecond)
	}

	within := func(what string, lo, theirs, hi uint64, tol float64) {
		t.Helper()
		if float64(theirs) < float64(lo)*(1-tol) || float64(theirs) > float64(hi)*(1+tol) {
			t.Errorf("%s: Docker %d outside ours [%d, %d] ± %.0f%%", what, theirs, lo, hi, tol*100)
		} else {
			t.Logf("%s: ours %d..%d, Docker %d", what, lo, hi, theirs)
		}
	}
	read := func(id string) (cpu, mem uint64) {
		s, err := c.Collect(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ct := findCtr(s, id)
		return ct.Cur.Stats.CPU.Usage, ct.Cur.Stats.Memory.Usage
	}
	cpu0, _ := read(burner)
	dcpu, _ := dockerStats(t, burner)
	cpu1, _ := read(burner)
	within("burner CPU total ns", cpu0, dcpu, cpu1, 0.02)

	_, mem0 := read(holder)
	_, dmem := dockerStats(t, holder)
	_, mem1 := read(holder)
	within("holder memory usage bytes", min(mem0, mem1), dmem, max(mem0, mem1), 0.05)

	// The burner uses up to one core (less when the machine is busy), the holder
	// next to nothing.
	_, _ = c.Collect(time.Now())
	time.Sleep(500 * time.Millisecond)
	s, _ = c.Collect(time.Now())
	bp, bok := findCtr(s, burner).CPUPercent()
	hp, hok := findCtr(s, holder).CPUPercent()
	if !bok || !hok || bp < 2 || bp > 110 || hp > bp/5 { // 2 %: a burner starved by a loaded host still runs
		t.Errorf("CPU: burner %.1f%% (%v), holder %.1f%% (%v); want burner busy up to one core, holder idle", bp, bok, hp, hok)
	}
}

// TestDockerTableFollowsEvents: containers started, renamed, stopped and removed
// on the real engine show in the collector's table within a second, from events.
func TestDockerTableFollowsEvents(t *testing.T) {
	if _, err := os.Stat(dockerSocket); err != nil || exec.Command("docker", "version").Run() != nil {
		testenv.Skip(t, "no Docker engine at %s", dockerSocket)
	}
	root, err := hostfs.Detect(os.Getenv, hostfs.DirExists)
	if err != nil {
		t.Fatal(err)
	}
	client := sock.New(root.DockerSocket(), sock.Options{})
	defer client.Close()
	w := sock.NewWatcher(client, sock.WatcherOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	c := newCollector(t, root, Options{Containers: w})
	for w.Stats().LastResync.IsZero() {
		time.Sleep(10 * time.Millisecond)
	}
	lists := w.Stats().Lists

	// within polls the collector until cond holds, for at most a second.
	within := func(what string, cond func(*Snapshot) bool) {
		t.Helper()
		start := time.Now()
		for {
			s, err := c.Collect(time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if cond(s) {
				t.Logf("%s: seen after %v", what, time.Since(start).Round(time.Millisecond))
				return
			}
			if time.Since(start) > time.Second {
				t.Fatalf("%s: not reflected within 1 s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	id := dockerRun(t, "whippet-collect-test-events", "-l", "com.amazonaws.ecs.task-arn=arn:aws:ecs:us-east-1:1:task/c/t1",
		"-l", "com.amazonaws.ecs.task-definition-family=fam", "whippet-busybox:latest", "sleep", "1000")
	within("start", func(s *Snapshot) bool {
		ct := findCtr(s, id)
		return ct != nil && ct.Sampled() && ct.Meta.ECS.Family == "fam"
	})
	if err := exec.Command("docker", "rename", "whippet-collect-test-events", "whippet-collect-test-renamed").Run(); err != nil {
		t.Fatal(err)
	}
	within("rename", func(s *Snapshot) bool {
		ct := findCtr(s, id)
		return ct != nil && ct.Meta.Name == "whippet-collect-test-renamed"
	})
	if err := exec.Command("docker", "kill", id).Run(); err != nil {
		t.Fatal(err)
	}
	within("stop", func(s *Snapshot) bool { ct := findCtr(s, id); return ct != nil && !ct.Meta.Running() && !ct.Sampled() })
	if err := exec.Command("docker", "rm", id).Run(); err != nil {
		t.Fatal(err)
	}
	within("remove", func(s *Snapshot) bool { return findCtr(s, id) == nil })
	if n := w.Stats().Lists; n != lists {
		t.Errorf("the watcher listed containers %d times while following events, want 0", n-lists)
	}
}
