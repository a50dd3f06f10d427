package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/config"
)

const taskDefFile = "ecs-task-definition.json"

// datadogMemory is the hard limit of Datadog's documented task (MiB).
const datadogMemory = 256

func readTaskDef(t *testing.T) (*ecs.RegisterTaskDefinitionInput, []byte) {
	t.Helper()
	b, err := os.ReadFile(taskDefFile)
	if err != nil {
		t.Fatal(err)
	}
	var td ecs.RegisterTaskDefinitionInput
	if err := decodeStrict(b, &td, apiName); err != nil {
		t.Fatalf("%s: %v", taskDefFile, err)
	}
	if len(td.ContainerDefinitions) != 1 {
		t.Fatalf("%s: %d containers, want 1", taskDefFile, len(td.ContainerDefinitions))
	}
	return &td, b
}

func TestTaskDefinition(t *testing.T) {
	t.Parallel()
	td, _ := readTaskDef(t)
	c := &td.ContainerDefinitions[0]
	if deref(td.Family) == "" || deref(c.Name) == "" || deref(c.Image) == "" {
		t.Errorf("family %q, container %q, image %q: all required", deref(td.Family), deref(c.Name), deref(c.Image))
	}
	if !slices.Equal(td.RequiresCompatibilities, []types.Compatibility{types.CompatibilityEc2}) {
		t.Errorf("requiresCompatibilities = %v, want [EC2]: a DAEMON task reads the instance's /proc", td.RequiresCompatibilities)
	}
	if !deref(c.Essential) || !deref(c.Privileged) {
		t.Errorf("essential %v, privileged %v: want both (eBPF needs privileges)", deref(c.Essential), deref(c.Privileged))
	}
	if mem := deref(c.Memory); mem <= 0 || mem > datadogMemory/2 {
		t.Errorf("memory = %d MiB, want a hard limit at most half Datadog's %d", mem, datadogMemory)
	}
	// Host pid and network namespaces are not needed: the BPF task iterator and
	// the /host/proc mount see every process, and netlink is only a fallback.
	if td.PidMode != "" || td.NetworkMode != "" || td.IpcMode != "" {
		t.Errorf("pidMode %q networkMode %q ipcMode %q: want the defaults, as Datadog's task", td.PidMode, td.NetworkMode, td.IpcMode)
	}
	env := envMap(c.Environment)
	if env["DD_SITE"] == "" || env["DD_PROCESS_AGENT_ENABLED"] != "true" {
		t.Errorf("environment = %v, want DD_SITE and DD_PROCESS_AGENT_ENABLED=true", env)
	}
	if _, ok := env["DD_API_KEY"]; ok {
		t.Errorf("DD_API_KEY in plain environment: it belongs in secrets")
	}
	if len(c.Secrets) != 1 || deref(c.Secrets[0].Name) != "DD_API_KEY" || !strings.Contains(deref(c.Secrets[0].ValueFrom), ":secretsmanager:") {
		t.Errorf("secrets = %+v, want DD_API_KEY from a Secrets Manager ARN", c.Secrets)
	}
	lc := c.LogConfiguration
	if lc == nil || lc.LogDriver != types.LogDriverAwslogs {
		t.Fatalf("logConfiguration = %+v, want awslogs", lc)
	}
	for _, k := range []string{"awslogs-group", "awslogs-region", "awslogs-stream-prefix"} {
		if lc.Options[k] == "" {
			t.Errorf("logConfiguration.options lacks %s", k)
		}
	}
	if td.ExecutionRoleArn == nil || td.TaskRoleArn == nil {
		t.Errorf("executionRoleArn %v, taskRoleArn %v: both needed (secret, ECS API)", td.ExecutionRoleArn, td.TaskRoleArn)
	}
}

// TestStrictDecode proves what each layer of decodeStrict rejects, on mutations
// of the real file.
func TestStrictDecode(t *testing.T) {
	t.Parallel()
	_, orig := readTaskDef(t)
	tests := []struct {
		name, old, new string
		jsonAccepts    bool // encoding/json with DisallowUnknownFields alone lets it through
	}{
		{name: "misspelled field", old: `"mountPoints"`, new: `"mountPoint"`},
		{name: "unknown field", old: `"family"`, new: `"familly"`},
		{name: "wrong type", old: `"memory": 128`, new: `"memory": "128"`},
		{name: "trailing data", old: "\n}\n", new: "\n}\n{}", jsonAccepts: true}, // one Decode reads one value
		{name: "field in the wrong case", old: `"readOnly"`, new: `"ReadOnly"`, jsonAccepts: true},
		{name: "nested field in the wrong case", old: `"sourcePath"`, new: `"SOURCEPATH"`, jsonAccepts: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !bytes.Contains(orig, []byte(tt.old)) {
				t.Fatalf("%s has no %s to mutate", taskDefFile, tt.old)
			}
			b := bytes.Replace(orig, []byte(tt.old), []byte(tt.new), 1)
			var td ecs.RegisterTaskDefinitionInput
			if err := decodeStrict(b, &td, apiName); err == nil {
				t.Errorf("decodeStrict accepted %s → %s", tt.old, tt.new)
			} else {
				t.Logf("rejected: %v", err)
			}
			dec := newStrictDecoder(b)
			err := dec.Decode(&ecs.RegisterTaskDefinitionInput{})
			if (err == nil) != tt.jsonAccepts {
				t.Errorf("encoding/json alone: err = %v, want accepted %v", err, tt.jsonAccepts)
			}
		})
	}
}

// mount is a mount point with its host volume resolved.
type mount struct {
	containerPath, sourcePath string
	readOnly                  bool
}

func mounts(t *testing.T, c *types.ContainerDefinition, vols []types.Volume) []mount {
	t.Helper()
	var out []mount
	for _, mp := range c.MountPoints {
		i := slices.IndexFunc(vols, func(v types.Volume) bool { return deref(v.Name) == deref(mp.SourceVolume) })
		if i < 0 || vols[i].Host == nil || deref(vols[i].Host.SourcePath) == "" {
			t.Fatalf("mount %s: volume %q is not a host path", deref(mp.ContainerPath), deref(mp.SourceVolume))
		}
		out = append(out, mount{
			containerPath: filepath.Clean(deref(mp.ContainerPath)),
			sourcePath:    filepath.Clean(deref(vols[i].Host.SourcePath)),
			readOnly:      deref(mp.ReadOnly),
		})
	}
	return out
}

// TestMountsMatchHostfs runs hostfs's detection as the agent does inside the
// task — the environment from the task definition, the mount points as the
// directories that exist — and checks each path the agent then reads is a
// read-only mount of the same path on the host.
func TestMountsMatchHostfs(t *testing.T) {
	t.Parallel()
	td, _ := readTaskDef(t)
	c := &td.ContainerDefinitions[0]
	ms := mounts(t, c, td.Volumes)
	env := envMap(c.Environment)
	inTask, err := hostfs.Detect(func(k string) string { return env[k] }, func(p string) bool {
		return slices.ContainsFunc(ms, func(m mount) bool { return m.containerPath == p })
	})
	if err != nil {
		t.Fatal(err)
	}
	onHost := hostfs.New(hostfs.DefaultProc, hostfs.DefaultSys, hostfs.DefaultEtc, hostfs.DefaultDocker)
	used := map[string]bool{}
	for _, p := range []struct{ what, inTask, onHost string }{
		{"proc", inTask.Proc(), onHost.Proc()},
		{"cgroup", inTask.Cgroup(), onHost.Cgroup()},
		{"passwd", inTask.Passwd(), onHost.Passwd()},
		{"docker socket", inTask.DockerSocket(), onHost.DockerSocket()},
	} {
		i := slices.IndexFunc(ms, func(m mount) bool { return m.containerPath == p.inTask })
		if i < 0 {
			t.Errorf("%s: the agent reads %s in the task, but nothing is mounted there", p.what, p.inTask)
			continue
		}
		used[ms[i].containerPath] = true
		if ms[i].sourcePath != p.onHost || !ms[i].readOnly {
			t.Errorf("%s: %s is mounted from %s (read-only %v), want %s read-only", p.what, p.inTask, ms[i].sourcePath, ms[i].readOnly, p.onHost)
		}
	}
	for _, m := range ms {
		if !used[m.containerPath] && m.readOnly {
			t.Errorf("read-only mount %s (from %s): the agent never reads it", m.containerPath, m.sourcePath)
		}
	}
}

// TestSpoolMount loads the agent's configuration from the task's environment and
// checks the spool directory sits on the one writable host mount, so spooled
// payloads survive a task restart.
func TestSpoolMount(t *testing.T) {
	t.Parallel()
	td, _ := readTaskDef(t)
	c := &td.ContainerDefinitions[0]
	var environ []string
	for _, kv := range c.Environment {
		environ = append(environ, deref(kv.Name)+"="+deref(kv.Value))
	}
	for _, s := range c.Secrets { // injected by ECS at start; any well-formed value here
		environ = append(environ, deref(s.Name)+"=0123456789abcdef0123456789abcdef")
	}
	cfg, err := config.Load(config.Sources{Env: environ})
	if err != nil {
		t.Fatalf("the task's environment does not load: %v", err)
	}
	if env := envMap(c.Environment); cfg.Site != env["DD_SITE"] {
		t.Errorf("config Site = %q, want the task's DD_SITE %q", cfg.Site, env["DD_SITE"])
	}
	var writable []mount
	for _, m := range mounts(t, c, td.Volumes) {
		if !m.readOnly {
			writable = append(writable, m)
		}
	}
	if len(writable) != 1 {
		t.Fatalf("writable mounts = %+v, want exactly the spool's", writable)
	}
	if rel, err := filepath.Rel(writable[0].containerPath, cfg.SpoolDir); err != nil || strings.HasPrefix(rel, "..") {
		t.Errorf("spool %s is not under the writable mount %s", cfg.SpoolDir, writable[0].containerPath)
	}
}

func envMap(kvs []types.KeyValuePair) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[deref(kv.Name)] = deref(kv.Value)
	}
	return m
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
