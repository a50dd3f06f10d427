package metrics

import (
	"testing"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect/host"
)

// TestNetProtoAndFS covers what the agent's network, disk and file handle
// checks leave out: no TCP/UDP rate on a first sample, after a counter reset or
// for a column the kernel lacks; no filesystem series on a cycle that did not
// read them (HasFS false), none of inodes for a filesystem without an inode
// count; and no fd series for a container whose fds were not counted.
func TestNetProtoAndFS(t *testing.T) {
	t.Parallel()
	d := New(allOptions())
	s := synthSnapshot(1)
	var m batch.Metrics
	d.Derive(s, &m)
	if got := find(&m, SystemNetTCPRetransSegs); len(got) != 0 {
		t.Errorf("first sample: retrans_segs = %+v, want none", got)
	}
	if got := find(&m, SystemNetTCPCurrentEstablished); len(got) != 1 || got[0].Value != 42 {
		t.Errorf("first sample: current_established = %+v, want 42 (a gauge)", got)
	}
	if got := find(&m, SystemDiskTotal); len(got) != 2 {
		t.Errorf("first sample: %d system.disk.total points, want 2 (gauges need no history)", len(got))
	}
	if got := find(&m, SystemFSInodesTotal, "device:/dev/sdb"); len(got) != 0 {
		t.Errorf("btrfs: inodes.total = %+v, want none", got)
	}

	// A reset TCP counter, UDP without InCsumErrors, no filesystem read, a
	// container without an fd count.
	tick(s, 15)
	s.Host.Snmp.Tcp.InSegs = 0
	s.Host.Snmp.Has &^= host.UdpInCsumErrors
	s.Host.HasFS = false
	s.Containers[0].Procs.FDsKnown = false
	d.Derive(s, &m)
	for _, name := range []string{SystemNetTCPInSegs, SystemNetUDPInCsumErrors, SystemDiskTotal, SystemFSInodesUsed,
		ContainerPidOpenFiles, DockerContainerOpenFDs} {
		if got := find(&m, name); len(got) != 0 {
			t.Errorf("%s = %+v, want none", name, got)
		}
	}
	if got := find(&m, SystemNetTCPRetransSegs); len(got) != 1 || got[0].Value != tcpRetransPerSec {
		t.Errorf("retrans_segs = %+v, want %v", got, tcpRetransPerSec)
	}

	// snmp unreadable this cycle: no rate now, none against the stale sample next.
	tick(s, 15)
	s.Host.Err[host.FileSnmp] = errTest
	d.Derive(s, &m)
	tick(s, 15)
	s.Host.Err[host.FileSnmp] = nil
	d.Derive(s, &m)
	if got := find(&m, SystemNetUDPInDatagrams); len(got) != 0 {
		t.Errorf("after an unreadable snmp: in_datagrams = %+v, want none until two samples", got)
	}
	if got := find(&m, SystemNetTCPCurrentEstablished); len(got) != 1 {
		t.Errorf("current_established = %+v, want one point", got)
	}

	// The filesystem tag sets of a device that went away are dropped.
	s.Host.HasFS = true
	s.Host.FS.Mounts = s.Host.FS.Mounts[:1]
	d.Derive(s, &m)
	if _, ok := d.host.fsTags["/dev/sdb"]; ok || len(d.host.fsTags) != 1 {
		t.Errorf("fs tag sets after /dev/sdb left: %v", d.host.fsTags)
	}
}

type testError string

func (e testError) Error() string { return string(e) }

const errTest = testError("unreadable")
