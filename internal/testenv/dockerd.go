package testenv

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Dockerd is a dockerd of a test's own, started as scripts/setup-test-host.sh
// starts the shared one (--iptables=false --bridge=none) but with its own
// socket, data root, exec root (so its own containerd) and pid file: a test can
// stop, freeze and restart it without disturbing the shared engine other tests
// use at the same time.
type Dockerd struct {
	Dir    string // data, exec root, pid file and dockerd.log
	Socket string // the API socket

	t    *testing.T
	cmd  *exec.Cmd
	done chan error
}

// StartDockerd starts a private dockerd in a new directory named after prefix
// (keep it short: a unix socket path holds 108 bytes) and stops and removes it
// when the test ends. It skips without root or a dockerd binary.
func StartDockerd(t *testing.T, prefix string) *Dockerd {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "a private dockerd needs root")
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		Skip(t, "no dockerd binary: %v", err)
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	d := &Dockerd{t: t, Dir: dir, Socket: filepath.Join(dir, "docker.sock")}
	t.Cleanup(func() {
		d.Thaw()
		d.Stop()
		exec.Command("umount", "-R", "-l", filepath.Join(dir, "exec")).Run()
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("leaving %s: %v", dir, err)
		}
	})
	d.Start()
	return d
}

// Start (re)starts the daemon and waits up to 60 s for its API to answer.
func (d *Dockerd) Start() {
	d.t.Helper()
	logf, err := os.OpenFile(filepath.Join(d.Dir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	defer logf.Close()
	d.cmd = exec.Command("dockerd", "--iptables=false", "--bridge=none",
		"--data-root", filepath.Join(d.Dir, "data"), "--exec-root", filepath.Join(d.Dir, "exec"),
		"--pidfile", filepath.Join(d.Dir, "dockerd.pid"), "--host", "unix://"+d.Socket)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // not hit by a ^C meant for go test
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start dockerd: %v", err)
	}
	d.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(d.cmd, d.done)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.Socket)
		},
	}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get("http://docker/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(d.Dir, "dockerd.log"))
			d.t.Fatalf("private dockerd not up within 60 s: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop sends SIGTERM to this test's dockerd, by pid, and waits for it to exit
// (SIGKILL after 30 s).
func (d *Dockerd) Stop() {
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

// Signal sends sig to the running daemon (SIGSTOP and SIGCONT freeze and thaw
// it).
func (d *Dockerd) Signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal dockerd: %v", err)
	}
}

// Thaw sends SIGCONT to the daemon if it runs, in case a test froze it.
func (d *Dockerd) Thaw() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGCONT)
	}
}
