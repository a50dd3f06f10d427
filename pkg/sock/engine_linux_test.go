package sock

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/internal/testenv"
)

// privateDockerd is a dockerd of the test's own, started as
// scripts/setup-test-host.sh starts the shared one (--iptables=false
// --bridge=none) but with its own socket, data root, exec root (so its own
// containerd) and pid file. Killing and restarting it leaves the shared daemon,
// which other tests use at the same time, alone.
type privateDockerd struct {
	t      *testing.T
	dir    string
	Socket string
	cmd    *exec.Cmd
	done   chan error
}

func startPrivateDockerd(t *testing.T) *privateDockerd {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "restarting a dockerd needs root")
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		testenv.Skip(t, "no dockerd binary: %v", err)
	}
	dir, err := os.MkdirTemp("", "wsockd") // short: the socket path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	d := &privateDockerd{t: t, dir: dir, Socket: filepath.Join(dir, "docker.sock")}
	t.Cleanup(func() {
		d.stop()
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("leaving %s: %v", dir, err)
		}
	})
	d.start()
	return d
}

func (d *privateDockerd) start() {
	d.t.Helper()
	logf, err := os.OpenFile(filepath.Join(d.dir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	defer logf.Close()
	d.cmd = exec.Command("dockerd", "--iptables=false", "--bridge=none",
		"--data-root", filepath.Join(d.dir, "data"), "--exec-root", filepath.Join(d.dir, "exec"),
		"--pidfile", filepath.Join(d.dir, "dockerd.pid"), "-H", "unix://"+d.Socket)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // not killed by a ^C meant for go test
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start dockerd: %v", err)
	}
	d.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(d.cmd, d.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := New(d.Socket, Options{Timeout: time.Second})
		_, err := c.Negotiate(context.Background())
		c.Close()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(d.dir, "dockerd.log"))
			d.t.Fatalf("private dockerd not up within 30 s: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM (what pkill sends) to the dockerd this test started, by its
// pid, and waits for it to exit.
func (d *privateDockerd) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.t.Logf("dockerd %d ignored SIGTERM for 30 s; killing it", d.cmd.Process.Pid)
		d.cmd.Process.Kill()
		<-d.done
	}
	d.cmd = nil
}

func TestEngineDaemonRestart(t *testing.T) {
	shared := engine(t) // the image comes from the shared daemon
	t.Parallel()
	d := startPrivateDockerd(t)
	load := exec.Command("sh", "-c", `docker -H "unix://$1" save "$3" | docker -H "unix://$2" load`, "sh", shared, d.Socket, testImage)
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("load %s into the private dockerd: %v: %s", testImage, err, out)
	}
	// --init: the containers stop at once on the daemon's SIGTERM.
	plain := dockerCLI(t, d.Socket, "run", "-d", "--init", "--network", "none", "--name", "whippet-sock-test-plain", testImage, "sleep", "1000")
	always := dockerCLI(t, d.Socket, "run", "-d", "--init", "--network", "none", "--restart", "always", "--name", "whippet-sock-test-always", testImage, "sleep", "1000")
	removed := dockerCLI(t, d.Socket, "run", "-d", "--init", "--network", "none", "--name", "whippet-sock-test-removed", testImage, "sleep", "1000")

	h := startWatcherOn(t, d.Socket, 0, WatcherOptions{})
	h.waitFor("connected", func() bool { return h.w.Stats().Connected && len(h.set) == 3 })
	oldPid := h.set[always].Pid
	if h.state(plain) != "running" || h.state(always) != "running" || oldPid == 0 {
		t.Fatalf("before the restart: %s, %s (pid %d)", h.state(plain), h.state(always), oldPid)
	}
	dockerCLI(t, d.Socket, "rm", "-f", removed)
	h.within(time.Second, "remove", func() bool { return h.set[removed] == nil })

	// Without --live-restore, containers do not survive the daemon: plain is
	// exited afterwards, always is restarted by the new daemon with a new pid.
	stopped := time.Now()
	d.stop()
	h.waitFor("disconnected", func() bool { return !h.w.Stats().Connected })
	d.start()
	up := time.Now()
	t.Logf("dockerd down for %v", up.Sub(stopped).Round(time.Millisecond))
	h.waitFor("resync after the restart", func() bool {
		s := h.w.Stats()
		return s.Connected && s.Resyncs >= 2 && h.state(plain) == "exited" && h.state(always) == "running" && h.set[always].Pid != oldPid
	})
	t.Logf("resynchronised %v after the daemon answered again", time.Since(up).Round(time.Millisecond))
	if time.Since(up) > 6*time.Second {
		t.Errorf("resync took %v after the daemon was back, want within the 5 s backoff cap", time.Since(up))
	}
	if h.set[plain].Pid != 0 || h.set[plain].FinishedAt.IsZero() {
		t.Errorf("plain after the restart = %+v, want exited with no pid", h.set[plain])
	}
	if len(h.set) != 2 {
		t.Errorf("set after the restart has %d containers, want 2", len(h.set))
	}
	if s := h.w.Stats(); s.Reconnects == 0 || s.Errors == 0 {
		t.Errorf("Stats() = %+v, want the loss counted", s)
	}
	if ids := dockerCLI(t, d.Socket, "ps", "-aq", "--no-trunc"); len(ids) != 2*64+1 {
		t.Errorf("private dockerd lists %q, want 2 containers", ids)
	}
	// And events flow again on the new stream.
	followLifecycle(t, d.Socket, h)
	t.Logf("stats %+v", h.w.Stats())
}
