package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/proc"
)

const (
	idA  = "0cbed5dba142072315d496a4f4f21230c74020775cb2f6249dc24ea7f8a2129f"
	idB  = "2840cb82852a3dc8063896aa9ec42f2d966e5a8f1180b0acd2b379d28feaa3ad"
	task = "df3680a1ae7b4506c757ecd12e08f10e"
)

// v1Lines renders a hybrid /proc/<pid>/cgroup with every hierarchy at path (memory
// at mem when set) and the unified line at uni.
func v1Lines(path, mem, uni string) string {
	if mem == "" {
		mem = path
	}
	return "9:name=systemd:" + path + "\n8:pids:" + path + "\n7:blkio:" + path + "\n6:freezer:" + path +
		"\n5:devices:" + path + "\n4:memory:" + mem + "\n3:cpuset:" + path + "\n2:cpuacct:" + path +
		"\n1:cpu:" + path + "\n0::" + uni + "\n"
}

type locateCase struct {
	name   string
	mode   Mode
	in     string
	path   string // want Path(Memory) on v1, Path(Unified) on v2
	parent string
	id     string
	err    error // errors.Is target
}

var locateCases = []locateCase{
	{"v1 cgroupfs", ModeV1, v1Lines("/docker/"+idA, "", "/"), "/docker/" + idA, "/docker", idA, nil},
	{"hybrid ECS AL2", ModeHybrid, v1Lines("/ecs/"+task+"/"+idA, "", "/ecs/"+task+"/"+idA), "/ecs/" + task + "/" + idA, "/ecs/" + task, idA, nil},
	{"v1 co-mounted cpu,cpuacct", ModeV1, "4:memory:/docker/" + idA + "\n2:cpu,cpuacct:/docker/" + idA + "\n", "/docker/" + idA, "/docker", idA, nil},
	{"v1 custom cgroup parent", ModeV1, v1Lines("/my/parent/"+idA, "", "/"), "/my/parent/" + idA, "/my/parent", idA, nil},
	{"v1 process in a sub-cgroup", ModeV1, v1Lines("/docker/"+idA+"/init", "", "/"), "/docker/" + idA, "/docker", idA, nil},
	{"v1 docker in docker: the inner one", ModeV1, v1Lines("/docker/"+idB+"/docker/"+idA, "", "/"), "/docker/" + idB + "/docker/" + idA, "/docker/" + idB + "/docker", idA, nil},
	{"v1 systemd driver", ModeV1, v1Lines("/system.slice/docker-"+idA+".scope", "", "/"), "/system.slice/docker-" + idA + ".scope", "/system.slice", idA, nil},
	{"v2 systemd", ModeV2, "0::/system.slice/docker-" + idA + ".scope\n", "/system.slice/docker-" + idA + ".scope", "/system.slice", idA, nil},
	{"v2 ECS AL2023 task slice", ModeV2, "0::/ecstasks.slice/ecstasks-" + task + ".slice/docker-" + idA + ".scope\n",
		"/ecstasks.slice/ecstasks-" + task + ".slice/docker-" + idA + ".scope", "/ecstasks.slice/ecstasks-" + task + ".slice", idA, nil},
	{"v2 cgroupfs driver", ModeV2, "0::/docker/" + idA + "\n", "/docker/" + idA, "/docker", idA, nil},
	{"v2 containerd", ModeV2, "0::/system.slice/cri-containerd-" + idA + ".scope\n", "/system.slice/cri-containerd-" + idA + ".scope", "/system.slice", idA, nil},
	{"v2 nested below the container (systemd inside)", ModeV2, "0::/system.slice/docker-" + idA + ".scope/init.scope\n",
		"/system.slice/docker-" + idA + ".scope", "/system.slice", idA, nil},
	{"v2 host process", ModeV2, "0::/system.slice/docker.service\n", "", "", "", ErrNotContainer},
	{"v2 root: own cgroup namespace or a kernel thread", ModeV2, "0::/\n", "", "", "", ErrNotContainer},
	{"v2 private namespace", ModeV2, "0::/../docker-" + idA + ".scope\n", "", "", "", ErrNamespace},
	{"v1 private namespace", ModeV1, v1Lines("/docker/"+idA, "/../../docker/"+idA, "/docker/"+idA), "", "", "", ErrNamespace},
	{"v1 host process in a session cgroup", ModeHybrid, v1Lines("/", "/process_api/280ba27ced1a29c4748b1fa14dff6065", "/"), "", "", "", ErrNotContainer},
	{"v2 removed cgroup", ModeV2, "0::/system.slice/docker-" + idA + ".scope (deleted)\n", "", "", "", ErrGone},
	{"v2 without a unified line", ModeV2, "4:memory:/docker/" + idA + "\n", "", "", "", ErrNotContainer},
	{"v1 without controllers", ModeV1, "0::/docker/" + idA + "\n", "", "", "", ErrNotContainer},
	{"ECS task id is not a container id", ModeV1, v1Lines("/ecs/"+task, "", "/"), "", "", "", ErrNotContainer},
	{"uppercase hex is not an id", ModeV1, v1Lines("/docker/"+strings.ToUpper(idA), "", "/"), "", "", "", ErrNotContainer},
	{"relative path", ModeV1, "1:cpu:" + idA + "\n", "", "", "", ErrNotContainer},
	{"unknown mode", ModeUnknown, v1Lines("/docker/"+idA, "", "/"), "", "", "", ErrNotContainer},
}

func TestLocate(t *testing.T) {
	t.Parallel()
	for _, tc := range locateCases {
		t.Run(tc.name, func(t *testing.T) {
			var c proc.Cgroups
			if err := proc.ParseCgroups([]byte(tc.in), &c); err != nil {
				t.Fatal(err)
			}
			var p Paths
			err := locate(&c, tc.mode, &p)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("locate(%q) error = %v, want %v", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("locate(%q) error = %v", tc.in, err)
			}
			ctl := Memory
			if tc.mode == ModeV2 {
				ctl = Unified
			}
			parent := p.Parent()
			if p.Path(ctl) != tc.path || parent.Path(ctl) != tc.parent || p.ID() != tc.id || parent.ID() != "" || p.Mode() != tc.mode {
				t.Errorf("locate(%q) = path %q, parent %q, id %q, mode %v; want %q, %q, %q, %v",
					tc.in, p.Path(ctl), parent.Path(ctl), p.ID(), p.Mode(), tc.path, tc.parent, tc.id, tc.mode)
			}
			if tc.mode == ModeV2 {
				for c := Controller(0); c < NumControllers; c++ {
					if p.Path(c) != tc.path {
						t.Errorf("v2 Path(%v) = %q, want the unified %q", c, p.Path(c), tc.path)
					}
				}
			}
		})
	}
}

func TestLocateHybridUnified(t *testing.T) {
	t.Parallel()
	in := v1Lines("/docker/"+idA, "", "/docker/"+idA)
	var c proc.Cgroups
	if err := proc.ParseCgroups([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode Mode
		want string
	}{{ModeHybrid, "/docker/" + idA}, {ModeV1, ""}} {
		var p Paths
		if err := locate(&c, tc.mode, &p); err != nil {
			t.Fatal(err)
		}
		if p.Path(Unified) != tc.want || p.Path(Pids) != "/docker/"+idA || p.Path(CPUSet) != "/docker/"+idA {
			t.Errorf("%v: Path(Unified) = %q, Path(Pids) = %q; want %q and the v1 path", tc.mode, p.Path(Unified), p.Path(Pids), tc.want)
		}
	}
}

func TestLocateNoAllocsWhenUnchanged(t *testing.T) {
	var c proc.Cgroups
	if err := proc.ParseCgroups([]byte(v1Lines("/ecs/"+task+"/"+idA, "", "/ecs/"+task+"/"+idA)), &c); err != nil {
		t.Fatal(err)
	}
	var p Paths
	if err := locate(&c, ModeHybrid, &p); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = locate(&c, ModeHybrid, &p) }); n != 0 {
		t.Errorf("locate of unchanged paths: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = p.Parent() }); n != 0 {
		t.Errorf("Parent: %v allocs, want 0", n)
	}
}

// fixtureContainers maps every process of both fixtures to its container
// (testdata/fakehost/README.md); a process not listed is a host process.
var fixtureContainers = map[string]map[int]string{
	"v1": {
		32351: idA, 32437: idA, 32444: idA, 32445: idA,
		32423: "bbc5b1de8e830fe0a04e3eb756f9f9ba2ac242881ce502cf8f3d35b92c9c56e8",
		32464: "bbc5b1de8e830fe0a04e3eb756f9f9ba2ac242881ce502cf8f3d35b92c9c56e8",
		32465: "bbc5b1de8e830fe0a04e3eb756f9f9ba2ac242881ce502cf8f3d35b92c9c56e8",
		32496: idB, 32524: idB, 32525: idB,
	},
	"v2": {
		3305: "15781515b71ab0ec1b49cc3c829cf4fe9a7d2ccf410245c27314f0f6f467e65f",
		3376: "15781515b71ab0ec1b49cc3c829cf4fe9a7d2ccf410245c27314f0f6f467e65f",
		3377: "15781515b71ab0ec1b49cc3c829cf4fe9a7d2ccf410245c27314f0f6f467e65f",
		3378: "15781515b71ab0ec1b49cc3c829cf4fe9a7d2ccf410245c27314f0f6f467e65f",
		3380: "a3b9659cee89239ee34928e965cd5d04b51a2493f5612e52f52ef0a4cddb480a",
		3413: "a3b9659cee89239ee34928e965cd5d04b51a2493f5612e52f52ef0a4cddb480a",
		3414: "a3b9659cee89239ee34928e965cd5d04b51a2493f5612e52f52ef0a4cddb480a",
		3447: "b7873ac01fa2602b1b0c93cac8f72befedcbef80ce7e930185b6ee0790a886d7",
		3473: "b7873ac01fa2602b1b0c93cac8f72befedcbef80ce7e930185b6ee0790a886d7",
		3474: "b7873ac01fa2602b1b0c93cac8f72befedcbef80ce7e930185b6ee0790a886d7",
	},
}

// fixtureCgroups is each fixture container's cgroup path (v1: below every controller).
var fixtureCgroups = map[string]string{
	idA: "/ecs/" + task + "/" + idA,
	"bbc5b1de8e830fe0a04e3eb756f9f9ba2ac242881ce502cf8f3d35b92c9c56e8": "/ecs/" + task + "/bbc5b1de8e830fe0a04e3eb756f9f9ba2ac242881ce502cf8f3d35b92c9c56e8",
	idB: "/docker/" + idB,
	"15781515b71ab0ec1b49cc3c829cf4fe9a7d2ccf410245c27314f0f6f467e65f": "/ecstasks.slice/ecstasks-87ad2cb2f17d45dab6642cd37bd97c50.slice/docker-15781515b71ab0ec1b49cc3c829cf4fe9a7d2ccf410245c27314f0f6f467e65f.scope",
	"a3b9659cee89239ee34928e965cd5d04b51a2493f5612e52f52ef0a4cddb480a": "/ecstasks.slice/ecstasks-87ad2cb2f17d45dab6642cd37bd97c50.slice/docker-a3b9659cee89239ee34928e965cd5d04b51a2493f5612e52f52ef0a4cddb480a.scope",
	"b7873ac01fa2602b1b0c93cac8f72befedcbef80ce7e930185b6ee0790a886d7": "/system.slice/docker-b7873ac01fa2602b1b0c93cac8f72befedcbef80ce7e930185b6ee0790a886d7.scope",
}

func fixtureRoot(host string) hostfs.Root {
	return hostfs.At(filepath.Join("..", "..", "..", "testdata", "fakehost", host))
}

func TestDetect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host string
		want Mode
	}{{"v1", ModeHybrid}, {"v2", ModeV2}} {
		got, err := Detect(fixtureRoot(tc.host))
		if got != tc.want || err != nil {
			t.Errorf("Detect(%s) = %v, %v; want %v", tc.host, got, err, tc.want)
		}
	}
	// Made-up layouts: plain v1, co-mounted v1, nothing.
	for _, tc := range []struct {
		name string
		dirs []string
		want Mode
	}{
		{"v1 without unified", []string{"cpu", "memory"}, ModeV1},
		{"co-mounted", []string{"cpu,cpuacct", "net_cls,net_prio"}, ModeV1},
		{"unified dir without cgroup.controllers", []string{"memory", "unified"}, ModeV1},
		{"empty", nil, ModeUnknown},
		{"unrelated dirs", []string{"systemd", "misc"}, ModeUnknown},
	} {
		dir := t.TempDir()
		for _, d := range tc.dirs {
			if err := os.MkdirAll(filepath.Join(dir, "sys", "fs", "cgroup", d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		got, err := Detect(hostfs.At(dir))
		if got != tc.want || (err != nil) != (tc.want == ModeUnknown) {
			t.Errorf("Detect(%s) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
