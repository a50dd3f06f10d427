package encode

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/DataDog/agent-payload/v5/gogen"
	"github.com/DataDog/agent-payload/v5/process"

	"github.com/whippet-agent/whippet/pkg/batch"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The oracle: the agent-payload structs a batch should decode to, built
// field by field from the batch with the generated types.

func wantSeries(m *batch.Metrics) []*gogen.MetricPayload_MetricSeries {
	var out []*gogen.MetricPayload_MetricSeries
	for i := range m.Points {
		p := &m.Points[i]
		if p.Name == "" || math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			continue
		}
		if p.Tags != batch.NoTags && (p.Tags < 0 || int(p.Tags) >= len(m.TagSets)) {
			continue
		}
		s := &gogen.MetricPayload_MetricSeries{
			Metric: p.Name,
			Tags:   m.Tags(p),
			Points: []*gogen.MetricPayload_MetricPoint{{Value: p.Value, Timestamp: m.Timestamp}},
			Type:   gogen.MetricPayload_MetricType(p.Type),
		}
		if len(s.Tags) == 0 {
			s.Tags = nil
		}
		if m.Host != "" {
			s.Resources = []*gogen.MetricPayload_Resource{{Type: "host", Name: m.Host}}
		}
		if p.Type == batch.Count || p.Type == batch.Rate {
			s.Interval = m.Interval
		}
		out = append(out, s)
	}
	return out
}

var stateOf = map[byte]process.ProcessState{
	'D': process.ProcessState_D, 'R': process.ProcessState_R, 'S': process.ProcessState_S,
	'T': process.ProcessState_T, 'W': process.ProcessState_W, 'X': process.ProcessState_X,
	'Z': process.ProcessState_Z,
}

func wantProcess(p *batch.Process) *process.Process {
	var args []string
	if len(p.Args) > 0 {
		args = []string{}
		for a := range bytes.SplitSeq(bytes.TrimSuffix(p.Args, []byte{0}), []byte{0}) {
			args = append(args, string(a))
		}
	}
	return &process.Process{
		Pid:   p.PID,
		NsPid: p.NsPID,
		Command: &process.Command{
			Args: args,
			Ppid: p.PPID,
			Exe:  string(p.Exe),
			Comm: string(p.Comm),
		},
		User:   &process.ProcessUser{Name: p.User, Uid: int32(p.UID), Gid: int32(p.GID)},
		Memory: &process.MemoryStat{Rss: p.RSS, Vms: p.VMS, Swap: p.Swap},
		Cpu: &process.CPUStat{
			LastCpu: "cpu", TotalPct: p.TotalPct, UserPct: p.UserPct, SystemPct: p.SystemPct,
			NumThreads: p.Threads, Nice: p.Nice,
			UserTime: int64(p.UserTime), SystemTime: int64(p.SystemTime),
		},
		CreateTime:  p.CreateTime,
		OpenFdCount: p.OpenFDs,
		State:       stateOf[p.State],
		IoStat: &process.IOStat{
			ReadRate: p.ReadRate, WriteRate: p.WriteRate,
			ReadBytesRate: p.ReadBytesRate, WriteBytesRate: p.WriteBytesRate,
		},
		ContainerId:            p.ContainerID,
		VoluntaryCtxSwitches:   p.VolCtxSwitches,
		InvoluntaryCtxSwitches: p.InvolCtxSwitches,
	}
}

func wantContainer(c *batch.Container) *process.Container {
	return &process.Container{
		Type: c.Runtime, Id: c.ID, CpuLimit: c.CPULimit, MemoryLimit: c.MemoryLimit,
		State: process.ContainerState(c.State), Created: c.Created, Started: c.Started,
		Rbps: c.ReadBps, Wbps: c.WriteBps,
		NetRcvdPs: c.NetRcvdPs, NetSentPs: c.NetSentPs, NetRcvdBps: c.NetRcvdBps, NetSentBps: c.NetSentBps,
		UserPct: c.UserPct, SystemPct: c.SystemPct, TotalPct: c.TotalPct, CpuUsageNs: c.CPUUsageNs,
		MemRss: c.MemRSS, MemCache: c.MemCache, MemUsage: c.MemUsage, MemAccounted: c.MemAccounted,
		ThreadCount: c.ThreadCount, ThreadLimit: c.ThreadLimit,
		Tags: c.Tags,
	}
}

func wantInfo(s *batch.System) *process.SystemInfo {
	info := &process.SystemInfo{
		Os:          &process.OSInfo{Name: s.OS, KernelVersion: s.KernelVersion},
		TotalMemory: int64(s.TotalMemory),
	}
	for i := range s.CPUs {
		info.Cpus = append(info.Cpus, &process.CPUInfo{Number: i, Cores: 1})
	}
	return info
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes differ from the golden %d bytes (run with -update after checking the decoded diff)", path, len(got), len(want))
	}
}
