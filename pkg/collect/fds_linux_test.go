//go:build linux

package collect

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/pfile"
	"github.com/whippet-agent/whippet/pkg/sock"
)

// TestCountFDs counts the descriptors of a child holding stdin, stdout, stderr,
// two extra files and whatever the test binary inherited without close-on-exec,
// against a listing of its /proc/<pid>/fd; it skips a vanished pid and a host
// process, and a steady count allocates nothing.
func TestCountFDs(t *testing.T) {
	f1, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	cmd := exec.Command("sleep", "100")
	cmd.ExtraFiles = []*os.File{f1, f1}
	if err := cmd.Start(); err != nil {
		testenv.Skip(t, "cannot start sleep: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	var p pfile.Path
	procfd, err := pfile.OpenDir(pfile.AtCWD, p.Str("/proc"))
	if err != nil {
		testenv.Skip(t, "no /proc: %v", err)
	}
	defer pfile.Close(procfd)
	ctr := &Container{ID: "c"}
	tab := &containerTable{procfd: procfd, byID: map[string]*Container{"c": ctr}}
	procs := []*Process{
		{PID: int32(cmd.Process.Pid), ContainerID: "c"},
		{PID: 1<<22 + 7, ContainerID: "c"}, // above pid_max: never exists
		{PID: int32(os.Getpid())},          // a host process: not counted
		{PID: int32(cmd.Process.Pid), ContainerID: "unknown"},
	}
	testenv.WaitExec(t, cmd.Process.Pid, "sleep")
	childFD := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/fd"
	ents, err := os.ReadDir(childFD)
	if err != nil {
		t.Fatal(err)
	}
	ctr.Procs = ProcAggregate{}
	tab.countFDs(procs)
	if a := ctr.Procs; a.OpenFDs != int64(len(ents)) || a.OpenFDs < 5 || !a.FDsKnown {
		t.Errorf("countFDs = %d (known %v), want %d as listed, at least stdio and two extra files", a.OpenFDs, a.FDsKnown, len(ents))
	}
	if n := testing.AllocsPerRun(20, func() {
		ctr.Procs = ProcAggregate{}
		tab.countFDs(procs)
	}); n != 0 {
		t.Errorf("countFDs allocates %v times per run, want 0", n)
	}

	// Only vanished processes: nothing known, nothing sent.
	ctr.Procs = ProcAggregate{}
	tab.countFDs(procs[1:2])
	if a := ctr.Procs; a.OpenFDs != 0 || a.FDsKnown {
		t.Errorf("countFDs over a vanished pid = %+v, want unknown", a)
	}
}

// TestCollectWithExtrasFixture: the extras on a fixture without fd directories
// or a mount table leave both unknown and count the missing mount table once.
func TestCollectWithExtrasFixture(t *testing.T) {
	t.Parallel()
	src := &fakeSource{}
	c := newCollector(t, hostfs.At("../../testdata/fakehost/v1"), Options{Containers: src})
	src.up(meta(v1Web, "web", 32351, "running"))
	t0 := time.Unix(1_700_000_000, 0)
	s, err := c.Collect(t0)
	if err != nil {
		t.Fatal(err)
	}
	before := s.Stats.HostErrors
	s, err = c.CollectWith(t0.Add(15*time.Second), ExtraFDs|ExtraFilesystems)
	if err != nil {
		t.Fatal(err)
	}
	if s.Host.HasFS || s.Host.FSErr == nil {
		t.Errorf("fixture without mountinfo: HasFS %v, FSErr %v", s.Host.HasFS, s.Host.FSErr)
	}
	if got := s.Stats.HostErrors - before; got != 1 {
		t.Errorf("HostErrors grew by %d, want 1 (the mount table)", got)
	}
	web := findCtr(s, v1Web)
	if web == nil || web.Procs.Count != 4 || web.Procs.FDsKnown {
		t.Errorf("web: %+v, want 4 processes and no fd count", web)
	}
	// A plain cycle clears what the extras read.
	if s, err = c.Collect(t0.Add(30 * time.Second)); err != nil || s.Host.HasFS || s.Host.FSErr != nil {
		t.Errorf("plain cycle after extras: %v, HasFS %v, FSErr %v", err, s.Host.HasFS, s.Host.FSErr)
	}
}

// TestDockerOpenFDs runs a container whose shell holds two extra descriptors
// and compares the collector's sum with a listing of /proc/<pid>/fd of every
// process in the container; the host's filesystems come with the same cycle.
func TestDockerOpenFDs(t *testing.T) {
	if _, err := os.Stat(dockerSocket); err != nil || exec.Command("docker", "version").Run() != nil {
		testenv.Skip(t, "no Docker engine at %s", dockerSocket)
	}
	id := dockerRun(t, "whippet-collect-test-fds", "whippet-busybox:latest", "sh", "-c",
		"exec 3</etc/passwd 4</etc/passwd; sleep 1000 & wait")
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
	for {
		s, err := c.CollectWith(time.Now(), ExtraFDs|ExtraFilesystems)
		if err != nil {
			t.Fatal(err)
		}
		ct := findCtr(s, id)
		if ct != nil && ct.Procs.Count >= 2 && ct.Procs.FDsKnown {
			want := int64(0)
			for _, p := range s.Processes {
				if p.ContainerID == id {
					ents, err := os.ReadDir(root.Proc(strconv.Itoa(int(p.PID)), "fd"))
					if err != nil {
						t.Fatal(err)
					}
					want += int64(len(ents))
				}
			}
			if ct.Procs.OpenFDs != want || want < 2*5 {
				t.Errorf("open fds = %d, /proc listing %d (want at least sh's and sleep's 5 each)", ct.Procs.OpenFDs, want)
			}
			if !s.Host.HasFS || len(s.Host.FS.Mounts) == 0 {
				t.Errorf("host filesystems not read: HasFS %v, err %v, %+v", s.Host.HasFS, s.Host.FSErr, s.Host.FS)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container processes not seen in time: %+v", ct)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
