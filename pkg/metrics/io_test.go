package metrics

import (
	"testing"

	"github.com/whippet-agent/whippet/pkg/collect/cgroup"
)

// TestIOFirstUseOfDevice: cgroup v1 lists a block device only after the
// cgroup's first IO on it, so a device absent from the previous sample had
// counters of 0 there; the interval of that first IO must be reported, not lost
// (found by the end-to-end suite: a container's first 16 MiB write read 0).
func TestIOFirstUseOfDevice(t *testing.T) {
	t.Parallel()
	s := synthSnapshot(1)
	c := s.Containers[0]
	c.Cur.Stats.IO.Devices = c.Cur.Stats.IO.Devices[:0] // no IO yet: no device listed
	d := New(allOptions())
	var m = derived(t, d, s, 10) // prime and a first interval without IO
	if got := find(m, ContainerIOWrite); len(got) != 1 || got[0].Value != 0 {
		t.Fatalf("before any IO: container.io.write = %+v, want one 0 point", got)
	}
	c.Cur.Stats.IO.Devices = append(c.Cur.Stats.IO.Devices, cgroup.IODevice{Major: 8, Minor: 0, WriteBytes: 16 << 20, WriteOps: 16})
	tick(s, 2) // grows the synthetic counters a little more
	want := float64(c.Cur.Stats.IO.Devices[0].WriteBytes) / 2
	d.Derive(s, m)
	if got := find(m, ContainerIOWrite); len(got) != 1 || got[0].Value != want {
		t.Errorf("first IO on a new device: container.io.write = %+v, want all of it over 2 s = %.0f B/s", got, want)
	}
	if got := find(m, DockerIOWriteBytes); len(got) != 1 || got[0].Value != want {
		t.Errorf("first IO on a new device: docker.io.write_bytes = %+v, want %.0f B/s", got, want)
	}
}
