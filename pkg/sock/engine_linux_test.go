package sock

import (
	"os/exec"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/internal/testenv"
)

func TestEngineDaemonRestart(t *testing.T) {
	shared := engine(t) // the image comes from the shared daemon
	t.Parallel()
	d := testenv.StartDockerd(t, "wsockd")
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
	d.Stop()
	h.waitFor("disconnected", func() bool { return !h.w.Stats().Connected })
	d.Start()
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
