package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/ship/fakeintake"
)

const testImage = "whippet:test"

// TestImage builds the agent and its image as `make image` does and runs it on
// the local engine with the task definition's mounts, environment and
// privileges: `version`, then one `check` cycle, which must find the host
// through the mounts exactly as hostfs's detection predicts.
func TestImage(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "running containers with the task's host mounts needs root")
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		testenv.Skip(t, "no docker engine (scripts/setup-test-host.sh): %v: %s", err, bytes.TrimSpace(out))
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		testenv.Skip(t, "no go tool to build the agent: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute) // bounds a hung engine, asserts nothing
	defer cancel()

	dir := t.TempDir()
	bin := filepath.Join(dir, "whippet")
	build := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags", "-s -w -X main.version=deploy-test", "-o", bin, "./cmd/agent")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.CommandContext(ctx, "./build-image.sh", bin, testImage).CombinedOutput(); err != nil {
		t.Fatalf("build-image.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", testImage).Run() })

	t.Run("contents", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, "docker", "create", testImage).Output()
		if err != nil {
			t.Fatalf("docker create: %v", err)
		}
		id := strings.TrimSpace(string(out))
		defer exec.Command("docker", "rm", "-f", id).Run()
		ca := filepath.Join(dir, "ca.crt")
		if out, err := exec.CommandContext(ctx, "docker", "cp", id+":/etc/ssl/certs/ca-certificates.crt", ca).CombinedOutput(); err != nil {
			t.Fatalf("no CA bundle in the image: %v: %s", err, out)
		}
		got, err1 := os.ReadFile(ca)
		want, err2 := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("image CA bundle (%d bytes, %v) differs from the build host's (%d bytes, %v)", len(got), err1, len(want), err2)
		}
		if err := exec.CommandContext(ctx, "docker", "cp", id+":/bin/sh", filepath.Join(dir, "sh")).Run(); err == nil {
			t.Errorf("the image has /bin/sh; it should hold the agent and CA roots only")
		}
	})

	td, _ := readTaskDef(t)
	c := &td.ContainerDefinitions[0]
	ms := mounts(t, c, td.Volumes)
	args := []string{"run", "--rm", "--network", "none"} // the test engine has no bridge
	if deref(c.Privileged) {
		args = append(args, privileged(t)...)
	}
	for _, m := range ms {
		src := m.sourcePath
		if !m.readOnly {
			src = t.TempDir() // the spool: not the test machine's /opt
		}
		v := src + ":" + m.containerPath
		if m.readOnly {
			v += ":ro"
		}
		args = append(args, "-v", v)
	}
	for _, kv := range c.Environment {
		args = append(args, "-e", deref(kv.Name)+"="+deref(kv.Value))
	}
	args = append(args, testImage)
	run := func(t *testing.T, cmd ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		r := exec.CommandContext(ctx, "docker", append(args, cmd...)...)
		r.Stdout, r.Stderr = &stdout, &stderr
		if err := r.Run(); err != nil {
			t.Fatalf("docker %s: %v\n%s%s", strings.Join(r.Args[1:], " "), err, stdout.Bytes(), stderr.Bytes())
		}
		return stdout.String()
	}

	t.Logf("docker %s", strings.Join(args, " "))
	t.Run("version", func(t *testing.T) {
		if got := run(t, "version"); got != "whippet deploy-test\n" {
			t.Errorf("version printed %q, want %q", got, "whippet deploy-test\n")
		}
	})

	t.Run("check", func(t *testing.T) {
		env := envMap(c.Environment)
		want, err := hostfs.Detect(func(k string) string { return env[k] }, func(p string) bool {
			for _, m := range ms {
				if m.containerPath == p {
					return true
				}
			}
			return false
		})
		if err != nil {
			t.Fatal(err)
		}
		out := run(t, "check", "-sample", "0", "-top", "5")
		header, _, _ := strings.Cut(out, "\n")
		if !strings.HasSuffix(header, "host "+want.String()) {
			t.Errorf("check header %q, want the task's mounts detected: %s", header, want)
		}
		// The host's init, named through the mounted /etc/passwd: the scratch
		// image has no passwd of its own.
		if !regexp.MustCompile(`(?m)^\s+1 root\s`).MatchString(out) {
			t.Errorf("check output lacks the host's pid 1 owned by root:\n%s", out)
		}
	})

	// The image as the daemon: the task's mounts, environment and privileges,
	// shipping to a fake intake. It must report an ECS-labelled container of
	// the engine with its task tags, and the host's processes with user names.
	t.Run("ships", func(t *testing.T) {
		const key = "0123456789abcdef0123456789abcdef"
		in := fakeintake.New(fakeintake.Options{APIKey: key})
		url := in.Start()
		defer in.Close()
		app := "whippet-deploy-test-app"
		exec.Command("docker", "rm", "-f", app).Run()
		out, err := exec.CommandContext(ctx, "docker", "run", "-d", "--network", "none", "--name", app,
			"--label", "com.amazonaws.ecs.cluster=deploy-cluster",
			"--label", "com.amazonaws.ecs.task-arn=arn:aws:ecs:us-east-1:123456789012:task/deploy-cluster/0123456789abcdef0123456789abcdef",
			"--label", "com.amazonaws.ecs.container-name=app",
			"--label", "com.amazonaws.ecs.task-definition-family=deploy-family",
			"--label", "com.amazonaws.ecs.task-definition-version=4",
			"whippet-busybox:latest", "sleep", "300").CombinedOutput()
		if err != nil {
			testenv.Skip(t, "no whippet-busybox image to run an app container (scripts/setup-test-host.sh): %v: %s", err, out)
		}
		appID := strings.TrimSpace(string(out))
		defer exec.Command("docker", "rm", "-f", app).Run()

		// The fake intake listens on the host's loopback: the agent shares the
		// host's network here (the test engine has no bridge); on ECS it reaches
		// Datadog through the bridge.
		dargs := slices.Clone(args[:len(args)-1])
		if dargs[1] != "--rm" || dargs[3] != "none" {
			t.Fatalf("unexpected docker run arguments %q", dargs[:4])
		}
		dargs = slices.Delete(dargs, 1, 2) // kept after it stops, for its exit code
		dargs[2] = "host"
		dargs = append(dargs, "-d", "--name", "whippet-deploy-test-agent",
			"-e", "DD_API_KEY="+key, "-e", "DD_DD_URL="+url, "-e", "DD_PROCESS_CONFIG_PROCESS_DD_URL="+url,
			"-e", "DD_HOSTNAME=deploy-test-host", "-e", "DD_WHIPPET_METRICS_INTERVAL=2s",
			"-e", "DD_PROCESS_CONFIG_INTERVALS_PROCESS=2s", "-e", "DD_WHIPPET_STATUS_ADDR=off",
			testImage, "run")
		exec.Command("docker", "rm", "-f", "whippet-deploy-test-agent").Run()
		if out, err := exec.CommandContext(ctx, "docker", dargs...).CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(dargs, " "), err, out)
		}
		defer exec.Command("docker", "rm", "-f", "whippet-deploy-test-agent").Run()

		var tagged, named bool
		wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
		defer wcancel()
		err = in.WaitFor(wctx, func(in *fakeintake.Intake) bool {
			for _, p := range in.Series("container.memory.usage") {
				if p.Host == "deploy-test-host" && slices.Contains(p.Tags, "container_id:"+appID) &&
					slices.Contains(p.Tags, "task_family:deploy-family") && slices.Contains(p.Tags, "ecs_cluster_name:deploy-cluster") {
					tagged = true
				}
			}
			for _, m := range in.Processes() {
				for _, p := range m.Msg.Processes {
					if p.Pid == 1 && p.User != nil && p.User.Name == "root" {
						named = true
					}
				}
			}
			return tagged && named
		})
		if err != nil {
			logs, _ := exec.Command("docker", "logs", "--tail", "30", "whippet-deploy-test-agent").CombinedOutput()
			t.Fatalf("the image did not ship the app container with its ECS tags (%v) and the host's pid 1 as root (%v): %v\nagent log:\n%s", tagged, named, err, logs)
		}
		if out, err := exec.CommandContext(ctx, "docker", "stop", "-t", "20", "whippet-deploy-test-agent").CombinedOutput(); err != nil {
			t.Errorf("docker stop: %v: %s", err, out)
		}
		code, _ := exec.Command("docker", "inspect", "-f", "{{.State.ExitCode}}", "whippet-deploy-test-agent").Output()
		if strings.TrimSpace(string(code)) != "0" {
			logs, _ := exec.Command("docker", "logs", "--tail", "30", "whippet-deploy-test-agent").CombinedOutput()
			t.Errorf("the agent exited %s on SIGTERM, want 0:\n%s", code, logs)
		}
	})
}

// privileged returns docker run's flags for the task's `privileged: true`.
// Where this machine's own capability bounding set lacks some capability (a
// sandbox without CAP_SYS_RESOURCE, say), runc cannot grant --privileged; the
// nearest equivalent is every capability we hold, without seccomp or AppArmor
// confinement.
func privileged(t *testing.T) []string {
	t.Helper()
	missing, err := missingCaps()
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) == 0 {
		return []string{"--privileged"}
	}
	t.Logf("this machine's bounding set lacks %v: running with all other capabilities instead of --privileged", missing)
	flags := []string{"--cap-add", "ALL", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined"}
	for _, c := range missing {
		flags = append(flags, "--cap-drop", c)
	}
	return flags
}

// capNames are the kernel's capability numbers' names (include/uapi/linux/capability.h).
var capNames = [...]string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
	"MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"}

// missingCaps lists the known capabilities absent from our bounding set.
func missingCaps() ([]string, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for line := range strings.Lines(string(b)) {
		hex, ok := strings.CutPrefix(line, "CapBnd:")
		if !ok {
			continue
		}
		bnd, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("CapBnd %q: %w", hex, err)
		}
		var missing []string
		for i, name := range capNames {
			if bnd&(1<<i) == 0 {
				missing = append(missing, name)
			}
		}
		return missing, nil
	}
	return nil, errors.New("/proc/self/status: no CapBnd line")
}
