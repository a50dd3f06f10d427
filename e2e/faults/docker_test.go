//go:build linux

package faults

import (
	"github.com/whippet-agent/whippet/internal/testenv"
	"syscall"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/pkg/ship/fakeintake"
	"github.com/whippet-agent/whippet/pkg/status"
)

// dockerdAgent starts a private dockerd with one --restart=always container
// and an agent following that daemon, and waits until the container's metrics
// reach the intake.
func dockerdAgent(t *testing.T, scenario string) (*testenv.Dockerd, *agent, *fakeintake.Intake, string) {
	t.Helper()
	d := startPrivateDockerd(t)
	name := "whippet-faults-" + scenario + "-" + run
	// --init: the container stops at once on the daemon's SIGTERM.
	docker(t, d.Socket, "run", "-d", "--init", "--network", "none", "--restart", "always", "--name", name, image, "sleep", "3600")
	in, url := newIntake(t)
	a := startAgent(t, agentOpts{intake: url, env: []string{"DOCKER_HOST=unix://" + d.Socket}})
	a.waitReport("container listed", time.Minute, func(r status.Report) bool { return r.Containers >= 1 && !dockerProblem(r) })
	waitIntake(t, in, "container metrics", time.Minute, func(in *fakeintake.Intake) bool { return containerPointSince(in, name, a.started) })
	return d, a, in, name
}

// collectorAccepted counts process payloads the intake accepted in [from, to].
func collectorAccepted(in *fakeintake.Intake, from, to time.Time) int {
	n := 0
	for _, r := range in.Requests() {
		if r.Path == fakeintake.RouteCollector && r.Status == 200 && !r.Time.Before(from) && !r.Time.After(to) {
			n++
		}
	}
	return n
}

// TestDockerdRestart stops the agent's Docker daemon (SIGTERM, as `systemctl
// restart docker` does) and starts it again: host and process data keep
// flowing while it is down, the status names the problem, and the container
// (restarted by the daemon) is followed again once the daemon answers.
func TestDockerdRestart(t *testing.T) {
	requireEngine(t)
	t.Parallel()
	d, a, in, name := dockerdAgent(t, "restart")

	down := time.Now()
	d.Stop()
	r := a.waitReport("Docker problem reported", time.Minute, dockerProblem)
	noticed := time.Since(down)
	a.waitReport("cycles go on without Docker", time.Minute, func(x status.Report) bool { return x.Cycles >= r.Cycles+5 })
	up := time.Now()
	hostCycles := stampsIn(runningStamps(in), down.Add(time.Second), up)
	procs := collectorAccepted(in, down, up)
	if hostCycles < 3 {
		t.Errorf("%d %s timestamps while dockerd was down (%v), want the host metrics to keep flowing", hostCycles, mRunning, up.Sub(down))
	}
	if procs == 0 {
		t.Errorf("no process payload accepted while dockerd was down (%v)", up.Sub(down))
	}

	d.Start()
	daemonUp := time.Now()
	a.waitReport("Docker problem cleared", time.Minute, func(x status.Report) bool { return !dockerProblem(x) && x.Containers >= 1 })
	statusBack := time.Since(daemonUp)
	waitIntake(t, in, "container metrics after the restart", time.Minute, func(in *fakeintake.Intake) bool {
		return containerPointSince(in, name, daemonUp.Add(time.Second))
	})
	dataBack := time.Since(daemonUp)
	final := a.waitReport("report", time.Minute, func(status.Report) bool { return true })
	t.Logf("dockerd down %v: problem reported after %v; %d host cycles and %d process payloads delivered meanwhile",
		daemonUp.Sub(down).Round(time.Millisecond), noticed.Round(time.Millisecond), hostCycles, procs)
	t.Logf("dockerd back: status clear after %v, container metrics again after %v; report %s",
		statusBack.Round(time.Millisecond), dataBack.Round(time.Millisecond), brief(final))
	if final.Panics != 0 {
		t.Errorf("panics = %d, want 0", final.Panics)
	}
	a.stop()
}

// TestDockerdFrozen freezes the agent's Docker daemon (SIGSTOP: the socket
// accepts connections, nothing answers): host and process data keep flowing,
// the status names the problem, and SIGCONT brings the containers back.
func TestDockerdFrozen(t *testing.T) {
	requireEngine(t)
	t.Parallel()
	d, a, in, name := dockerdAgent(t, "frozen")

	frozen := time.Now()
	d.Signal(syscall.SIGSTOP)
	r0 := a.waitReport("report", time.Minute, func(status.Report) bool { return true })
	// A frozen daemon is noticed by the agent's own calls timing out (5 s each)
	// or by its resync; give it several of those.
	r, reported := a.pollReport(30*time.Second, dockerProblem)
	noticed := time.Since(frozen)
	if !reported {
		t.Errorf("dockerd frozen for %v: status reports no problem (last report %s)", noticed.Round(time.Second), brief(r))
	}
	a.waitReport("cycles go on with Docker frozen", time.Minute, func(x status.Report) bool { return x.Cycles >= r0.Cycles+5 })
	thawed := time.Now()
	hostCycles := stampsIn(runningStamps(in), frozen.Add(time.Second), thawed)
	procs := collectorAccepted(in, frozen, thawed)
	// Container numbers come from cgroupfs, not from the daemon.
	containerFlow := containerPointSince(in, name, frozen.Add(2*time.Second))
	if !containerFlow {
		t.Errorf("no metrics of %s while dockerd was frozen, want them from cgroupfs", name)
	}
	if hostCycles < 3 {
		t.Errorf("%d %s timestamps while dockerd was frozen (%v), want the host metrics to keep flowing", hostCycles, mRunning, thawed.Sub(frozen))
	}
	if procs == 0 {
		t.Errorf("no process payload accepted while dockerd was frozen (%v)", thawed.Sub(frozen))
	}

	d.Signal(syscall.SIGCONT)
	a.waitReport("Docker problem cleared", time.Minute, func(x status.Report) bool { return !dockerProblem(x) && x.Containers >= 1 })
	clear := time.Since(thawed)
	waitIntake(t, in, "container metrics after SIGCONT", time.Minute, func(in *fakeintake.Intake) bool {
		return containerPointSince(in, name, thawed.Add(time.Second))
	})
	dataBack := time.Since(thawed)
	final := a.waitReport("report", time.Minute, func(status.Report) bool { return true })
	t.Logf("dockerd frozen %v: problem reported=%v after %v; %d host cycles, %d process payloads and container metrics=%v delivered meanwhile",
		thawed.Sub(frozen).Round(time.Millisecond), reported, noticed.Round(time.Millisecond), hostCycles, procs, containerFlow)
	t.Logf("SIGCONT: status clear after %v, container metrics after %v; report %s",
		clear.Round(time.Millisecond), dataBack.Round(time.Millisecond), brief(final))
	if final.Panics != 0 {
		t.Errorf("panics = %d, want 0", final.Panics)
	}
	a.stop()
}
