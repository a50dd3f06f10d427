//go:build linux

package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/DataDog/agent-payload/v5/gogen"
	"github.com/DataDog/agent-payload/v5/process"

	"github.com/whippet-agent/whippet/internal/fixture"
	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/passwd"
	"github.com/whippet-agent/whippet/pkg/config"
	"github.com/whippet-agent/whippet/pkg/encode"
	"github.com/whippet-agent/whippet/pkg/encode/mpack"
	"github.com/whippet-agent/whippet/pkg/ship"
)

// varies are self-telemetry series whose value depends on the test run.
var varies = map[string]bool{"whippet.collector.duration": true, "whippet.fds.held": true}

// TestFixturePayloadGolden runs the whole output path — collector on a fixture
// host with its recorded containers, metric derivation, process batch, msgpack
// spool record, intake payloads — and decodes what would be posted with
// agent-payload's own types: the metrics, tags, hosts, processes and containers
// must equal the golden rendering (`go test ./cmd/agent -run Golden -update`).
func TestFixturePayloadGolden(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("..", "..", "testdata", "fakehost", v)
			root := hostfs.At(dir)
			users, err := passwd.New(root)
			if err != nil {
				t.Fatal(err)
			}
			metas, err := fixture.Metas(dir)
			if err != nil {
				t.Fatal(err)
			}
			coll, err := collect.New(root, collect.Options{Containers: &fixture.Source{Metas: metas}, Users: users})
			if err != nil {
				t.Fatal(err)
			}
			defer coll.Close()
			cfg, err := config.Load(config.Sources{
				Flags: map[string]string{"hostname": "fixture-host", "tags": "team:core", "status-addr": "off"},
				Env:   []string{"DD_PROCESS_CONFIG_PROCESS_COLLECTION_ENABLED=true", "DD_ENV=prod"},
			})
			if err != nil {
				t.Fatal(err)
			}
			d := &daemon{cfg: cfg, log: slog.New(slog.DiscardHandler), a: &agent{root: root, coll: coll}, host: hostInfo{name: "fixture-host"}, errs: map[string]uint64{}}
			if err := d.build(); err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
			for i, now := range []time.Time{t0, t0.Add(15 * time.Second)} {
				snap, err := coll.CollectWith(now, collect.ExtraFDs|collect.ExtraFilesystems)
				if err != nil {
					t.Fatalf("cycle %d: %v", i, err)
				}
				d.deriver.Derive(snap, &d.mb)
				d.procs.Build(snap, &d.pb)
			}
			got := renderPayloads(t, &d.mb, &d.pb)
			golden := filepath.Join("testdata", "golden", v+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
				for i := range max(len(gl), len(wl)) {
					var g, w string
					if i < len(gl) {
						g = gl[i]
					}
					if i < len(wl) {
						w = wl[i]
					}
					if g != w {
						t.Fatalf("payloads differ from %s at line %d:\n got: %s\nwant: %s\n(-update rewrites it)", golden, i+1, g, w)
					}
				}
			}
		})
	}
}

// renderPayloads encodes both batches the way the intake sink does (a spool
// record each, turned into payloads) and renders the decoded payloads as sorted
// lines.
func renderPayloads(t *testing.T, mb *batch.Metrics, pb *batch.Processes) string {
	t.Helper()
	var enc mpack.Encoder
	pe, err := newPayloadEncoder("fixture-host")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	series := func(p *ship.Payload) error {
		raw, err := encode.Decompress(p.Header.Get("Content-Encoding"), p.Body)
		if err != nil {
			return err
		}
		var mp gogen.MetricPayload
		if err := mp.Unmarshal(raw); err != nil {
			return err
		}
		for _, s := range mp.Series {
			var hosts []string
			for _, r := range s.Resources {
				hosts = append(hosts, r.Type+":"+r.Name)
			}
			for _, pt := range s.Points {
				val := fmt.Sprintf("%g", pt.Value)
				if varies[s.Metric] {
					val = "<varies>"
				}
				lines = append(lines, fmt.Sprintf("series %s %s interval=%d ts=%d %s %s [%s]",
					s.Metric, s.Type, s.Interval, pt.Timestamp, strings.Join(hosts, ","), val, strings.Join(s.Tags, " ")))
			}
		}
		return nil
	}
	if err := pe.Encode(ship.KindSeries, enc.AppendMetrics(nil, mb), 0, series); err != nil {
		t.Fatal(err)
	}
	procs := func(p *ship.Payload) error {
		m, err := process.DecodeMessage(p.Body)
		if err != nil {
			return err
		}
		cp, ok := m.Body.(*process.CollectorProc)
		if !ok {
			return fmt.Errorf("process payload body is %T", m.Body)
		}
		if p.Header.Get("X-Dd-Hostname") != cp.HostName {
			return fmt.Errorf("X-Dd-Hostname %q, body host %q", p.Header.Get("X-Dd-Hostname"), cp.HostName)
		}
		for _, pr := range cp.Processes {
			lines = append(lines, fmt.Sprintf("process host=%s pid=%d ppid=%d user=%s uid=%d state=%s create=%d rss=%d vms=%d threads=%d container=%s args=%q",
				cp.HostName, pr.Pid, pr.Command.Ppid, pr.User.Name, pr.User.Uid, pr.State, pr.CreateTime, pr.Memory.Rss, pr.Memory.Vms,
				pr.Cpu.NumThreads, pr.ContainerId, pr.Command.Args))
		}
		for _, c := range cp.Containers {
			tags := slices.Clone(c.Tags)
			slices.Sort(tags)
			lines = append(lines, fmt.Sprintf("container host=%s id=%s state=%s cpuLimit=%g memLimit=%d threads=%d tags=[%s]",
				cp.HostName, c.Id, c.State, c.CpuLimit, c.MemoryLimit, c.ThreadCount, strings.Join(tags, " ")))
		}
		return nil
	}
	if err := pe.Encode(ship.KindProcesses, enc.AppendProcesses(nil, pb), 0, procs); err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}
