//go:build linux

package procs

import (
	"bytes"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/passwd"
	"github.com/whippet-agent/whippet/pkg/container"
)

// source hands the collector a fixed set of containers once.
type source struct{ pending []container.Change }

func (s *source) Drain(fn func(container.Change)) {
	for _, c := range s.pending {
		fn(c)
	}
	s.pending = nil
}

// v1 fixture containers (testdata/fakehost/README.md).
const (
	v1Web     = "0cbed5dba142072315d496a4f4f21230c74020775cb2f6249dc24ea7f8a2129f"
	v1Router  = "bbc5b1de8e830fe0a04e3eb756f9f9ba2ac242881ce502cf8f3d35b92c9c56e8"
	v1Billing = "2840cb82852a3dc8063896aa9ec42f2d966e5a8f1180b0acd2b379d28feaa3ad"
)

// TestFixtureV1 builds the batch from real collection cycles over the v1 fake
// host: pids, users from its passwd, container attribution, containers with
// tags and limits, and the fixture's planted secrets never leave.
func TestFixtureV1(t *testing.T) {
	root := hostfs.At("../../testdata/fakehost/v1")
	users, err := passwd.New(root)
	if err != nil {
		t.Fatalf("passwd.New: %v", err)
	}
	src := &source{}
	for _, m := range []*container.Meta{
		{ID: v1Web, Name: "ecs-webapp-7-web", Pid: 32351, State: "running", Image: "whippet-busybox:latest",
			Labels: map[string]string{container.LabelTaskARN: "arn:aws:ecs:us-east-1:123456789012:task/prod-ecs/df3680a1ae7b4506c757ecd12e08f10e",
				container.LabelFamily: "webapp", container.LabelVersion: "7", container.LabelContainerName: "web"}},
		{ID: v1Router, Name: "ecs-webapp-7-log-router", Pid: 32423, State: "running", Image: "whippet-busybox:latest"},
		{ID: v1Billing, Name: "billing-worker", Pid: 32496, State: "running", Image: "whippet-busybox:latest"},
	} {
		m.Finish()
		src.pending = append(src.pending, container.Change{ID: m.ID, Meta: m})
	}
	c, err := collect.New(root, collect.Options{Users: users, Containers: src})
	if err != nil {
		t.Fatalf("collect.New: %v", err)
	}
	defer c.Close()
	b := New(Options{Host: "fixture", Interval: 10 * time.Second})
	var out batch.Processes
	now := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		s, err := c.Collect(now.Add(time.Duration(i) * 10 * time.Second))
		if err != nil {
			t.Fatalf("Collect: %v", err)
		}
		b.Build(s, &out)
	}

	byPID := map[int32]*batch.Process{}
	for i := range out.Procs {
		byPID[out.Procs[i].PID] = &out.Procs[i]
	}
	for _, w := range []struct {
		pid       int32
		user, ctr string
	}{
		{1, "root", ""}, {2, "root", ""}, {32294, "www-data", ""}, {32246, "4242", ""},
		{32351, "root", v1Web}, {32423, "app", v1Router}, {32496, "root", v1Billing}, {32524, "root", v1Billing},
	} {
		p := byPID[w.pid]
		if p == nil {
			t.Errorf("pid %d not listed", w.pid)
			continue
		}
		if p.User != w.user || p.ContainerID != w.ctr {
			t.Errorf("pid %d: user %q container %q, want %q %q", w.pid, p.User, p.ContainerID, w.user, w.ctr)
		}
		if p.CreateTime < 1_000_000_000_000 || p.OpenFDs != batch.Unknown {
			t.Errorf("pid %d: create time %d ms, open fds %d", w.pid, p.CreateTime, p.OpenFDs)
		}
	}
	if p := byPID[32292]; p == nil || string(p.Args) != "nginx: master process /usr/sbin/nginx\x00" {
		t.Errorf("nginx master args = %q", p.Args)
	}
	if p := byPID[2]; p == nil || len(p.Args) != 0 {
		t.Errorf("kthreadd listed with args %q", p.Args)
	}
	billing := byPID[32496]
	if billing == nil || !bytes.Contains(billing.Args, []byte("-Dspring.datasource.password=********\x00")) ||
		!bytes.Contains(billing.Args, []byte("--api-key=********\x00")) {
		t.Errorf("billing-worker args not scrubbed as expected: %.300q…", billing.Args)
	}
	for _, p := range out.Procs {
		for _, secret := range []string{"NOT-A-REAL-SECRET", "NOT-A-REAL-KEY"} {
			if bytes.Contains(p.Args, []byte(secret)) {
				t.Errorf("pid %d leaks %s", p.PID, secret)
			}
		}
	}

	if len(out.Containers) != 3 {
		t.Fatalf("%d containers, want 3", len(out.Containers))
	}
	for _, ct := range out.Containers {
		if ct.State != batch.StateRunning || len(ct.Tags) == 0 || ct.MemUsage == 0 || ct.MemoryLimit == 0 || ct.TotalPct != 0 {
			t.Errorf("container %s: %+v", ct.Name, ct)
		}
		if ct.ID == v1Billing && ct.CPULimit != 150 {
			t.Errorf("billing-worker (--cpus 1.5) CPU limit %v%%, want 150", ct.CPULimit)
		}
	}
}
