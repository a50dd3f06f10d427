//go:build linux

package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/ship/fakeintake"
	"github.com/whippet-agent/whippet/pkg/status"
)

const secret = "hunter2" // planted as --password=hunter2 in a container's argv

// leakCheck collects named texts and reports which of them hold a needle.
type leakCheck map[string][]byte

func (l leakCheck) find(needles ...string) []string {
	var out []string
	for name, b := range l {
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) || bytes.Contains(bytes.ToUpper(b), bytes.ToUpper([]byte(n))) {
				out = append(out, fmt.Sprintf("%q in %s", n, name))
			}
		}
	}
	return out
}

func httpGet(url string) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return []byte(err.Error())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// addSpool adds every spool file's name and content.
func (l leakCheck) addSpool(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Logf("read %s: %v", p, err)
			return nil
		}
		l["spool file "+p] = b
		l["spool file name "+p] = []byte(p)
		n++
		return nil
	})
	return n
}

// addIntake adds what reached the intake: URLs, headers but DD-API-KEY,
// every point and every process message (as protobuf and as text).
func (l leakCheck) addIntake(in *fakeintake.Intake) {
	var b bytes.Buffer
	for _, r := range in.Requests() {
		fmt.Fprintf(&b, "%s %s %s\n", r.Method, r.Path, r.Reason)
		for k, vs := range r.Header {
			if http.CanonicalHeaderKey(k) != "Dd-Api-Key" {
				fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ","))
			}
		}
	}
	l["intake requests"] = bytes.Clone(b.Bytes())
	b.Reset()
	for _, p := range in.Points() {
		fmt.Fprintf(&b, "%s %s %v\n", p.Metric, p.Host, p.Tags)
	}
	l["intake points"] = bytes.Clone(b.Bytes())
	b.Reset()
	for _, m := range in.Processes() {
		pb, _ := m.Msg.Marshal()
		b.Write(pb)
		b.WriteString(m.Msg.String())
	}
	l["intake process messages"] = bytes.Clone(b.Bytes())
}

// secretArgs finds the planted process in the intake's process messages and
// returns its arguments as sent.
func secretArgs(in *fakeintake.Intake, marker string) []string {
	for _, m := range in.Processes() {
		for _, p := range m.Msg.Processes {
			if p.Command == nil {
				continue
			}
			for _, a := range p.Command.Args {
				if strings.Contains(a, marker) {
					return p.Command.Args
				}
			}
		}
	}
	return nil
}

// TestSecretsNeverLeak runs the agent with a canary API key, debug logging and
// intake errors, next to a container whose argv holds --password=hunter2: the
// key appears nowhere but the DD-API-KEY header, the password nowhere at all.
func TestSecretsNeverLeak(t *testing.T) {
	requireEngine(t)
	t.Parallel()
	marker := "whippet-faults-marker-" + run
	name := "whippet-faults-secret-" + run
	removeContainers(t, "", name)
	docker(t, "", "run", "-d", "--network", "none", "--name", name, image,
		"sh", "-c", "sleep 3600; :", marker, "--password="+secret, "--api_key", secret)

	in, url := newIntake(t)
	// Errors to log: a few 500s and resets first.
	in.QueueFaults(fakeintake.Fault{Status: 500}, 3)
	in.QueueFaults(fakeintake.Fault{Reset: true}, 3)
	a := startAgent(t, agentOpts{intake: url, env: []string{"DD_LOG_LEVEL=debug"}})
	waitIntake(t, in, "the planted process in a process payload", time.Minute, func(in *fakeintake.Intake) bool { return secretArgs(in, marker) != nil })
	args := secretArgs(in, marker)

	// An outage, so that the spool holds process records while we read it.
	in.SetFault(fakeintake.Fault{Status: 503})
	r := a.waitReport("records spooled", time.Minute, func(r status.Report) bool { return r.Spool.Records >= 2 })
	l := leakCheck{}
	files := l.addSpool(t, a.spool)
	in.ClearFaults()
	a.waitReport("spool drained", 2*time.Minute, func(r status.Report) bool { return r.Spool.Records == 0 })

	out, _, err := a.statusCLI()
	if err != nil {
		t.Errorf("whippet status --json: %v", err)
	}
	l["whippet status --json"] = out
	l["/metrics"] = httpGet("http://" + a.addr + "/metrics")
	l["/status"] = httpGet("http://" + a.addr + "/status")
	l["/healthz"] = httpGet("http://" + a.addr + "/healthz")
	a.stop()
	l["agent stderr"] = []byte(a.stderr())
	l.addIntake(in)

	// The same with a key the intake refuses: the rejection is logged and reported.
	bad := fakeintake.New(fakeintake.Options{APIKey: randHex(16)})
	badURL := bad.Start()
	t.Cleanup(bad.Close)
	b := startAgent(t, agentOpts{intake: badURL})
	br := b.waitReport("key rejected", time.Minute, func(r status.Report) bool { return r.APIKeyState == "invalid" })
	bout, _, _ := b.statusCLI()
	l["rejected key: whippet status --json"] = bout
	l["rejected key: /metrics"] = httpGet("http://" + b.addr + "/metrics")
	b.stop()
	l["rejected key: agent stderr"] = []byte(b.stderr())
	l.addSpool(t, b.spool)

	hdrOK := 0
	for _, req := range in.Requests() {
		if req.Header.Get("Dd-Api-Key") == a.key {
			hdrOK++
		}
	}
	t.Logf("checked %d texts (%d spool files while %d records were spooled; %d intake requests, %d with the key in DD-API-KEY); planted argv sent as %q; rejected key: state %s, problems %q",
		len(l), files, r.Spool.Records, len(in.Requests()), hdrOK, args, br.APIKeyState, br.Problems)
	for _, leak := range l.find(a.key, b.key, secret) {
		t.Errorf("leak: %s", leak)
	}
	if files == 0 {
		t.Errorf("no spool file to check during the outage")
	}
	if len(br.Problems) == 0 {
		t.Errorf("rejected key: status reports no problem")
	}
}

// runOnce runs `whippet run` with env until it exits or limit passes.
func runOnce(t *testing.T, env []string, limit time.Duration) (exited bool, stderr string, err error) {
	t.Helper()
	var buf bytes.Buffer
	cmd := exec.Command(binary(t), "run")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return true, buf.String(), err
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		return false, buf.String(), nil
	}
}

// TestStatusLoopbackOnly checks the status server refuses a wildcard address
// (the agent exits non-zero, saying why) unless remote access is allowed.
func TestStatusLoopbackOnly(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	_, url := newIntake(t)
	port := freeAddr(t)[len("127.0.0.1:"):]
	env := agentEnv(agentOpts{intake: url, key: randHex(16), spool: filepath.Join(t.TempDir(), "spool"), statusAddr: "0.0.0.0:" + port})
	exited, stderr, err := runOnce(t, env, 30*time.Second)
	t.Logf("DD_WHIPPET_STATUS_ADDR=0.0.0.0:%s: exited=%v (%v): %s", port, exited, err, lastLine(stderr))
	if !exited || err == nil {
		t.Errorf("agent with a wildcard status address: exited=%v err=%v, want a non-zero exit", exited, err)
	}
	if !strings.Contains(stderr, "loopback") {
		t.Errorf("stderr does not say the address is not loopback:\n%s", stderr)
	}

	a := startAgent(t, agentOpts{intake: url, statusAddr: "0.0.0.0:" + port, env: []string{"DD_WHIPPET_STATUS_ALLOW_REMOTE=true"}})
	r := a.waitReport("status on 0.0.0.0 with remote access allowed", time.Minute, func(r status.Report) bool { return r.Cycles >= 1 })
	t.Logf("with DD_WHIPPET_STATUS_ALLOW_REMOTE=true: serving, %d cycles", r.Cycles)
	a.stop()
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// TestSpoolPrivate checks the spool directory is 0700, whether the agent makes
// it or finds it more open.
func TestSpoolPrivate(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	_, url := newIntake(t)
	for _, tc := range []struct {
		name   string
		create bool
	}{{"created", false}, {"existing 0755", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "spool")
			if tc.create {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			a := startAgent(t, agentOpts{intake: url, spool: dir})
			a.waitReport("running", time.Minute, func(r status.Report) bool { return r.Cycles >= 1 })
			fi, err := os.Stat(dir)
			a.stop()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("spool dir %s", fi.Mode().Perm())
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("spool dir mode %v, want 0700", fi.Mode().Perm())
			}
		})
	}
}

// bindRO bind-mounts src, with its submounts (a v1 host's cgroup controllers
// are mounts under a tmpfs), read-only at dst until the test ends. The copy is
// made private first, so unmounting it cannot propagate to the originals.
func bindRO(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	mount := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			testenv.Skip(t, "mount %v: %v: %s", args, err, out)
		}
	}
	mount("--rbind", src, dst)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-R", "-l", dst).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dst, err, out)
		}
	})
	mount("--make-rprivate", dst)
	out, err := exec.Command("findmnt", "-R", "-n", "-l", "-o", "TARGET", dst).Output()
	if err != nil {
		t.Fatalf("findmnt %s: %v", dst, err)
	}
	for _, m := range strings.Fields(string(out)) {
		mount("-o", "remount,bind,ro", m)
	}
}

// TestReadOnlyHostMounts runs the agent on read-only bind mounts of /proc and
// /sys/fs/cgroup (HOST_PROC, HOST_SYS), as the task definition mounts them: it
// collects host, process and container data and never tries to write there.
func TestReadOnlyHostMounts(t *testing.T) {
	requireEngine(t)
	t.Parallel()
	name := "whippet-faults-ro-" + run
	removeContainers(t, "", name)
	docker(t, "", "run", "-d", "--network", "none", "--name", name, image, "sleep", "3600")
	root, err := os.MkdirTemp("", "wfro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Never RemoveAll: were an unmount to fail, it would delete through the mount.
		for _, d := range []string{"proc", "sys/fs/cgroup", "sys/fs", "sys", ""} {
			os.Remove(filepath.Join(root, d))
		}
	})
	bindRO(t, "/proc", filepath.Join(root, "proc"))
	bindRO(t, "/sys/fs/cgroup", filepath.Join(root, "sys", "fs", "cgroup"))
	in, url := newIntake(t)
	a := startAgent(t, agentOpts{intake: url, env: []string{
		"HOST_PROC=" + filepath.Join(root, "proc"), "HOST_SYS=" + filepath.Join(root, "sys"),
	}})
	waitIntake(t, in, "container metrics through the read-only cgroup mount", time.Minute, func(in *fakeintake.Intake) bool {
		return containerPointSince(in, name, a.started)
	})
	r := a.waitReport("processes through the read-only proc mount", time.Minute, func(r status.Report) bool { return r.Processes > 0 && r.Cycles >= 5 })
	a.stop()
	logs := a.stderr()
	host := len(in.Series("system.mem.total")) + len(in.Series("system.cpu.user"))
	t.Logf("read-only HOST_PROC/HOST_SYS: host root %q, %d processes, %d containers, %d host points; report %s", r.HostRoot, r.Processes, r.Containers, host, brief(r))
	if !strings.Contains(r.HostRoot, root) {
		t.Errorf("host root %q, want the read-only mounts under %s", r.HostRoot, root)
	}
	if host == 0 {
		t.Errorf("no host metrics from the read-only mounts")
	}
	for _, s := range []string{"read-only file system", "EROFS"} {
		if strings.Contains(logs, s) {
			t.Errorf("the agent tried to write to a read-only mount: %q in its log", s)
		}
	}
	if r.Errors["host"] > 0 || r.Errors["container"] > 0 {
		t.Errorf("errors reading the read-only mounts: %v", nonZero(r.Errors))
	}
}
