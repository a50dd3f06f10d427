//go:build linux

package proc

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/procfs"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

// Differential tests: for every process of a host root our reader+parsers and
// prometheus/procfs (the independent oracle) must agree on every field both parse.
// On the fixtures the files do not change, so equality is exact; on the live /proc
// counters may only have grown between our read and procfs's.

var fixtures = []string{"../../../testdata/fakehost/v1", "../../../testdata/fakehost/v2"}

func TestOracleFixtures(t *testing.T) {
	t.Parallel()
	for _, dir := range fixtures {
		t.Run(dir[len("../../../testdata/"):], func(t *testing.T) {
			t.Parallel()
			n := diffRoot(t, hostfs.At(dir), false)
			if n < 30 {
				t.Errorf("compared %d processes, want the fixture's ~40", n)
			}
		})
	}
}

func TestOracleLive(t *testing.T) {
	t.Parallel()
	if n := diffRoot(t, liveRoot(), true); n < 5 {
		t.Errorf("compared only %d live processes", n)
	}
}

// diffRoot compares every process of root and returns how many were compared.
func diffRoot(t *testing.T, root hostfs.Root, live bool) int {
	t.Helper()
	r := newReader(t, root, Options{})
	fs, err := procfs.NewFS(root.Proc())
	if err != nil {
		t.Fatalf("procfs.NewFS(%s): %v", root.Proc(), err)
	}
	pids, err := r.Pids(nil)
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, pid := range pids {
		h := &Handle{PID: pid}
		if diffProcess(t, r, fs, h, live) {
			compared++
		}
		r.Release(h)
	}
	return compared
}

func diffProcess(t *testing.T, r *Reader, fs procfs.FS, h *Handle, live bool) bool {
	t.Helper()
	pid := int(h.PID)
	p, perr := fs.Proc(pid)
	b, err := r.Read(h, FileStat)
	if errors.Is(err, ErrGone) {
		// Only a vanished process may fail; procfs must agree (unless it is live and
		// exited in between).
		if perr == nil && !live {
			if _, serr := p.Stat(); serr == nil {
				t.Errorf("pid %d: our stat read says gone, procfs read it", pid)
			}
		}
		return false
	}
	if err != nil {
		t.Errorf("pid %d: read stat: %v", pid, err)
		return false
	}
	var s Stat
	if err := ParseStat(b, &s); err != nil {
		t.Errorf("pid %d: %v", pid, err)
		return false
	}
	if perr != nil {
		if !live {
			t.Errorf("pid %d: procfs.Proc: %v", pid, perr)
		}
		return false
	}
	ps, err := p.Stat()
	if err != nil {
		if !live {
			t.Errorf("pid %d: procfs Stat: %v", pid, err)
		}
		return false
	}
	eq := func(field string, ours, theirs any) {
		t.Helper()
		if ours != theirs {
			t.Errorf("pid %d %s: ours %v, procfs %v", pid, field, ours, theirs)
		}
	}
	// grew: on a live host a counter may only have advanced between the two reads.
	grew := func(field string, ours, theirs uint64) {
		t.Helper()
		if (!live && ours != theirs) || (live && ours > theirs) {
			t.Errorf("pid %d %s: ours %d, procfs %d", pid, field, ours, theirs)
		}
	}
	comm := string(s.CommBytes())
	if len(ps.Comm) <= CommSize {
		eq("comm", comm, ps.Comm)
	}
	eq("pid", int(s.PID), ps.PID)
	eq("ppid", int(s.PPID), ps.PPID)
	eq("pgrp", int(s.PGRP), ps.PGRP)
	eq("session", int(s.Session), ps.Session)
	eq("tty", int(s.TTY), ps.TTY)
	eq("starttime", s.StartTime, ps.Starttime)
	grew("utime", s.UTime, uint64(ps.UTime))
	grew("stime", s.STime, uint64(ps.STime))
	grew("minflt", s.MinFlt, uint64(ps.MinFlt))
	grew("majflt", s.MajFlt, uint64(ps.MajFlt))
	if !live {
		eq("state", string(s.State), ps.State)
		eq("tpgid", int(s.TPGID), ps.TPGID)
		eq("flags", uint(s.Flags), ps.Flags)
		eq("cutime", int(s.CUTime), ps.CUTime)
		eq("cstime", int(s.CSTime), ps.CSTime)
		eq("priority", int(s.Priority), ps.Priority)
		eq("nice", int(s.Nice), ps.Nice)
		eq("num_threads", int(s.NumThreads), ps.NumThreads)
		eq("vsize", uint(s.VSize), ps.VSize)
		eq("rss", int(s.RSS), ps.RSS)
		eq("rsslim", s.RSSLimit, ps.RSSLimit)
		eq("processor", uint(s.Processor), ps.Processor)
		eq("rt_priority", uint(s.RTPriority), ps.RTPriority)
		eq("policy", uint(s.Policy), ps.Policy)
		eq("delayacct", s.DelayAcctBlkIOTicks, ps.DelayAcctBlkIOTicks)
		eq("guest_time", int(s.GuestTime), ps.GuestTime)
		eq("cguest_time", int(s.CGuestTime), ps.CGuestTime)
	}

	if b, err := r.Read(h, FileStatus); err == nil {
		var st Status
		if err := ParseStatus(b, &st); err != nil {
			t.Errorf("pid %d: %v", pid, err)
		} else if pst, err := p.NewStatus(); err == nil {
			eq("status tgid", int(st.Tgid), pst.TGID)
			for i := range 4 {
				eq("uid", uint64(st.UID[i]), pst.UIDs[i])
				eq("gid", uint64(st.GID[i]), pst.GIDs[i])
			}
			if len(pst.NSpids) > 0 {
				eq("nspid", uint64(st.NSpid), pst.NSpids[len(pst.NSpids)-1])
			}
			grew("voluntary_ctxt_switches", st.VolCtxt, pst.VoluntaryCtxtSwitches)
			grew("nonvoluntary_ctxt_switches", st.NonVolCtxt, pst.NonVoluntaryCtxtSwitches)
			if !live {
				eq("VmRSS", st.VmRSS, pst.VmRSS)
				eq("VmSize", st.VmSize, pst.VmSize)
				eq("VmHWM", st.VmHWM, pst.VmHWM)
				eq("VmPeak", st.VmPeak, pst.VmPeak)
				eq("VmSwap", st.VmSwap, pst.VmSwap)
				eq("RssAnon", st.RssAnon, pst.RssAnon)
				eq("RssFile", st.RssFile, pst.RssFile)
				eq("RssShmem", st.RssShmem, pst.RssShmem)
				eq("VmData", st.VmData, pst.VmData)
			}
		} else if !live {
			t.Errorf("pid %d: procfs NewStatus: %v", pid, err)
		}
	} else if !errors.Is(err, ErrGone) {
		t.Errorf("pid %d: read status: %v", pid, err)
	}

	ioB, ioErr := r.Read(h, FileIO)
	pio, pioErr := p.IO()
	switch {
	case ioErr == nil && pioErr == nil:
		var io IO
		if err := ParseIO(ioB, &io); err != nil {
			t.Errorf("pid %d: %v", pid, err)
			break
		}
		grew("rchar", io.RChar, pio.RChar)
		grew("wchar", io.WChar, pio.WChar)
		grew("syscr", io.SyscR, pio.SyscR)
		grew("syscw", io.SyscW, pio.SyscW)
		grew("read_bytes", io.ReadBytes, pio.ReadBytes)
		grew("write_bytes", io.WriteBytes, pio.WriteBytes)
		grew("cancelled_write_bytes", io.CancelledWriteBytes, uint64(pio.CancelledWriteBytes))
	case (ioErr == nil) != (pioErr == nil) && !live:
		t.Errorf("pid %d io: ours err %v, procfs err %v", pid, ioErr, pioErr)
	}

	if b, err := r.Read(h, FileCmdline); err == nil {
		if args, err := p.CmdLine(); err == nil {
			eq("cmdline", string(AppendJoined(nil, b)), strings.Join(args, " "))
		}
	}

	if b, err := r.Read(h, FileCgroup); err == nil {
		var c Cgroups
		if err := ParseCgroups(b, &c); err != nil {
			t.Errorf("pid %d: %v", pid, err)
		} else if pc, err := p.Cgroups(); err == nil {
			if len(pc) != len(c.Lines) {
				t.Errorf("pid %d cgroup lines: ours %d, procfs %d", pid, len(c.Lines), len(pc))
			} else {
				for i, l := range c.Lines {
					eq("cgroup id", int(l.ID), pc[i].HierarchyID)
					eq("cgroup controllers", string(l.Controllers), strings.Join(pc[i].Controllers, ","))
					eq("cgroup path", string(l.Path), pc[i].Path)
				}
			}
		}
	}
	return true
}
