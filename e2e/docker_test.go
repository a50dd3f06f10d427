//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/internal/testenv"
)

const (
	dockerSocket = "/var/run/docker.sock"
	image        = "whippet-busybox:latest"
	cgroupRoot   = "/sys/fs/cgroup"
)

// requireDocker skips (or, under WHIPPET_REQUIRE_E2E=1, fails) unless the test
// runs as root next to a Docker engine that holds the local busybox image.
func requireDocker(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "not root: the agent needs /proc of every process and BPF")
	}
	if _, err := os.Stat(dockerSocket); err != nil {
		testenv.Skip(t, "no Docker engine at %s", dockerSocket)
	}
	if out, err := exec.Command("docker", "version").CombinedOutput(); err != nil {
		testenv.Skip(t, "docker version: %v: %s", err, out)
	}
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		testenv.Skip(t, "image %s missing: run scripts/setup-test-host.sh", image)
	}
}

// docker runs the docker CLI and returns its trimmed output.
func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(bytes.TrimSpace(out)), nil
}

// container is one workload of the suite.
type container struct {
	role  string   // burner, holder, …; also its ECS container name
	name  string   // whippet-e2e-<run>-<role>
	extra []string // docker run options beyond the common ones
	cmd   []string
	id    string // set by start
}

// ecsLabels are the labels the ECS agent puts on a task's containers.
func ecsLabels(taskARN, role string) []string {
	return []string{
		"--label", "com.amazonaws.ecs.cluster=e2e-cluster",
		"--label", "com.amazonaws.ecs.task-arn=" + taskARN,
		"--label", "com.amazonaws.ecs.container-name=" + role,
		"--label", "com.amazonaws.ecs.task-definition-family=e2e-family",
		"--label", "com.amazonaws.ecs.task-definition-version=3",
	}
}

// start runs c detached, without a network, labelled as a task container and
// with the suite's run label.
func (c *container) start(ctx context.Context, run, taskARN string) error {
	args := []string{"run", "-d", "--network", "none", "--name", c.name, "--label", "whippet-e2e=" + run}
	args = append(args, ecsLabels(taskARN, c.role)...)
	args = append(args, c.extra...)
	args = append(args, image)
	args = append(args, c.cmd...)
	id, err := docker(ctx, args...)
	if err != nil {
		return err
	}
	if len(id) != 64 {
		return fmt.Errorf("docker run %s: unexpected output %q", c.name, id)
	}
	c.id = id
	return nil
}

// inspectTime reads a time field of docker inspect (e.g. .State.FinishedAt).
func inspectTime(ctx context.Context, id, field string) (time.Time, error) {
	s, err := docker(ctx, "inspect", "-f", "{{"+field+"}}", id)
	if err != nil {
		return time.Time{}, err
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("inspect %s %s: %w", id[:12], field, err)
	}
	return ts, nil
}

// dockerMemory asks the engine for its own view of a container's memory
// (GET /containers/{id}/stats?stream=false&one-shot=true, memory_stats.usage):
// the figure `docker stats` starts from.
func dockerMemory(ctx context.Context, id string) (uint64, error) {
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", dockerSocket)
	}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/containers/"+id+"/stats?stream=false&one-shot=true", nil)
	if err != nil {
		return 0, fmt.Errorf("docker stats %s: %w", id[:12], err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("docker stats %s: %w", id[:12], err)
	}
	defer resp.Body.Close()
	var v struct {
		MemoryStats struct {
			Usage uint64 `json:"usage"`
		} `json:"memory_stats"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, fmt.Errorf("docker stats %s: decode: %w", id[:12], err)
	}
	return v.MemoryStats.Usage, nil
}

// cgroupDir finds the directory of pid's cgroup for a v1 controller, or its
// unified (v2) cgroup when the controller has no v1 hierarchy, from
// /proc/<pid>/cgroup: the same discovery the agent does, written
// independently.
func cgroupDir(pid int, controller string) (dir string, v2 bool, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", false, fmt.Errorf("open cgroup of %d: %w", pid, err)
	}
	defer f.Close()
	var unified string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controller-list:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			unified = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				return filepath.Join(cgroupRoot, controller, parts[2]), false, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", false, fmt.Errorf("read cgroup of %d: %w", pid, err)
	}
	if unified == "" {
		return "", false, fmt.Errorf("pid %d: no %s or unified cgroup", pid, controller)
	}
	if _, err := os.Stat(filepath.Join(cgroupRoot, "unified")); err == nil {
		return filepath.Join(cgroupRoot, "unified", unified), true, nil // hybrid
	}
	return filepath.Join(cgroupRoot, unified), true, nil
}

// containerPid is the host pid of a running container's init process.
func containerPid(ctx context.Context, id string) (int, error) {
	s, err := docker(ctx, "inspect", "-f", "{{.State.Pid}}", id)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("inspect %s: pid %q", id[:12], s)
	}
	return pid, nil
}

// cgroupWriteBytes sums the bytes the cgroup of pid wrote to block devices
// (v1 blkio.throttle.io_service_bytes "Write" lines, v2 io.stat wbytes) and
// counts the devices listed: the kernel lists a device only once the cgroup
// did IO on it.
func cgroupWriteBytes(pid int) (sum uint64, devices int, err error) {
	dir, v2, err := cgroupDir(pid, "blkio")
	if err != nil {
		return 0, 0, err
	}
	name, key := "blkio.throttle.io_service_bytes", "Write"
	if v2 {
		name, key = "io.stat", "wbytes="
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", name, err)
	}
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		for i, f := range fields {
			var v string
			switch {
			case !v2 && i == 1 && f == key && len(fields) == 3:
				v = fields[2]
			case v2 && strings.HasPrefix(f, key):
				v = strings.TrimPrefix(f, key)
			default:
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("%s: %q: %w", name, line, err)
			}
			sum += n
			devices++
		}
	}
	return sum, devices, nil
}

// cgroupCPUNanos is the CPU time the cgroup of pid used: v1 cpuacct.usage, v2
// cpu.stat usage_usec.
func cgroupCPUNanos(pid int) (uint64, error) {
	dir, v2, err := cgroupDir(pid, "cpuacct")
	if err != nil {
		return 0, err
	}
	if !v2 {
		b, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage"))
		if err != nil {
			return 0, fmt.Errorf("read cpuacct.usage: %w", err)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpuacct.usage: %w", err)
		}
		return n, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return 0, fmt.Errorf("read cpu.stat: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "usage_usec "); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cpu.stat usage_usec: %w", err)
			}
			return n * 1000, nil
		}
	}
	return 0, fmt.Errorf("cpu.stat: no usage_usec")
}
