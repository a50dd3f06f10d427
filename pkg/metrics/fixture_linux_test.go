//go:build linux

package metrics

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/internal/fixture"
	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

// TestDeriveFixtures derives two cycles over the real fixture hosts (a collector
// on testdata/fakehost/v1 and /v2 with the recorded containers) and checks the
// series that must appear. The fixture files do not change between cycles, so
// every rate is 0 and /proc/stat gives no CPU percentages.
func TestDeriveFixtures(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("..", "..", "testdata", "fakehost", v)
			metas, err := fixture.Metas(dir)
			if err != nil {
				t.Fatal(err)
			}
			var now time.Time
			running, stopped := 0, 0
			for _, m := range metas {
				if m.StartedAt.After(now) {
					now = m.StartedAt
				}
				if m.Running() {
					running++
				} else {
					stopped++
				}
			}
			now = now.Add(time.Minute)
			c, err := collect.New(hostfs.At(dir), collect.Options{Containers: &fixture.Source{Metas: metas}})
			if err != nil {
				t.Fatalf("collect.New(%s): %v", dir, err)
			}
			defer c.Close()
			d := New(allOptions())
			var m batch.Metrics
			for i := range 2 {
				s, err := c.Collect(now.Add(time.Duration(i) * 15 * time.Second))
				if err != nil {
					t.Fatal(err)
				}
				d.Derive(s, &m)
			}

			host := []string{SystemCPUNumCores, SystemLoad1, SystemLoadNorm1, SystemUptime, SystemMemTotal,
				SystemMemUsable, SystemSwapTotal, SystemIORs, SystemIOUtil, SystemIOBlockIn, AgentRunning,
				DockerContainersRunningTot, DockerContainersStoppedTot, WhippetProcessesTracked,
				SystemNetTCPCurrentEstablished, SystemNetTCPInSegs, SystemNetTCPListenDrops, SystemNetUDPInDatagrams,
				SystemFSFileHandlesAllocated, SystemFSFileHandlesInUse}
			for _, name := range host {
				if len(find(&m, name)) == 0 {
					t.Errorf("%s missing", name)
				}
			}
			if got := find(&m, SystemCPUNumCores); len(got) == 1 && got[0].Value != 2 {
				t.Errorf("num_cores = %v, want 2 (the capture VM's)", got[0].Value)
			}
			if got := find(&m, DockerContainersRunningTot); len(got) != 1 || got[0].Value != float64(running) {
				t.Errorf("running.total = %+v, want %d", got, running)
			}
			if got := find(&m, DockerContainersStoppedTot); len(got) != 1 || got[0].Value != float64(stopped) {
				t.Errorf("stopped.total = %+v, want %d", got, stopped)
			}

			perCtr := []string{ContainerUptime, ContainerCPUUsage, ContainerCPUUser, ContainerCPUSystem,
				ContainerCPULimit, ContainerMemUsage, ContainerMemRSS, ContainerMemCache, ContainerMemWorkingSet,
				ContainerMemLimit, ContainerPidThreadCount, ContainerMemPageFaults,
				DockerCPUUsage, DockerCPUShares, DockerMemRSS, DockerMemLimit, DockerMemInUse, DockerThreadCount,
				DockerCPUThrottled, DockerUptime}
			if v == "v2" {
				perCtr = append(perCtr, ContainerCPUPartialStall, ContainerMemPartialStall, ContainerIOPartialStall)
			}
			for _, meta := range metas {
				if !meta.Running() {
					continue
				}
				tag := "container_id:" + meta.ID
				for _, name := range perCtr {
					got := find(&m, name, tag)
					if len(got) != 1 {
						t.Errorf("%s %s: %d points, want 1", meta.Name, name, len(got))
						continue
					}
					if name == ContainerCPUUsage && got[0].Value != 0 {
						t.Errorf("%s %s = %v on an unchanging fixture, want 0", meta.Name, name, got[0].Value)
					}
				}
				if got := find(&m, ContainerMemUsage, tag); len(got) == 1 && got[0].Value <= 0 {
					t.Errorf("%s memory.usage = %v", meta.Name, got[0].Value)
				}
			}
			// The ECS web/api container: 256 MiB limit, 256 CPU shares, ECS tags.
			for _, meta := range metas {
				if meta.ECS.ContainerName != "web" && meta.ECS.ContainerName != "api" {
					continue
				}
				tag := "container_id:" + meta.ID
				if got := find(&m, ContainerMemLimit, tag, "task_family:"+meta.ECS.Family, "ecs_container_name:"+meta.ECS.ContainerName); len(got) != 1 || got[0].Value != 256<<20 {
					t.Errorf("%s memory.limit = %+v, want 256 MiB with ECS tags", meta.Name, got)
				}
				// v2: runc turned shares 256 into cpu.weight 10; the agent's
				// conversion back gives 238.
				wantShares := map[string]float64{"v1": 256, "v2": 238}[v]
				if got := find(&m, DockerCPUShares, tag); len(got) != 1 || got[0].Value != wantShares {
					t.Errorf("%s docker.cpu.shares = %+v, want %v", meta.Name, got, wantShares)
				}
			}
		})
	}
}
