//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// buildAgent compiles ./cmd/agent of the module holding this package into dir,
// statically, as the image ships it.
func buildAgent(ctx context.Context, dir string) (string, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("module root %s: %w", root, err)
	}
	gobin, err := exec.LookPath("go") // go test puts GOROOT/bin first in PATH
	if err != nil {
		return "", fmt.Errorf("find the go command: %w", err)
	}
	bin := filepath.Join(dir, "whippet")
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin, "./cmd/agent")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/agent: %w\n%s", err, out)
	}
	return bin, nil
}

// freeAddr returns a loopback address with a port nobody listens on right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// agentEnv is the whole environment of the agent's processes: nothing of the
// test's own leaks in.
func agentEnv(apiKey, intakeURL, spoolDir, statusAddr string) []string {
	return []string{
		"DD_API_KEY=" + apiKey,
		"DD_SITE=datadoghq.com",
		"DD_DD_URL=" + intakeURL,
		"DD_PROCESS_CONFIG_PROCESS_DD_URL=" + intakeURL,
		"DD_PROCESS_AGENT_ENABLED=true",
		"DD_WHIPPET_METRICS_INTERVAL=2s",
		"DD_PROCESS_CONFIG_INTERVALS_PROCESS=2s",
		"DD_WHIPPET_SPOOL_DIR=" + spoolDir,
		"DD_WHIPPET_STATUS_ADDR=" + statusAddr,
		"DD_HOSTNAME=e2e-host",
		"DD_LOG_LEVEL=debug",
	}
}

// agentProc is a running `whippet run`.
type agentProc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // Wait's, once done is closed
	stdout string
	stderr string
}

// startAgent runs `whippet run` with env, its output in files under dir.
func startAgent(bin, dir string, env []string) (*agentProc, error) {
	a := &agentProc{done: make(chan struct{}), stdout: filepath.Join(dir, "stdout.log"), stderr: filepath.Join(dir, "stderr.log")}
	out, err := os.Create(a.stdout)
	if err != nil {
		return nil, fmt.Errorf("agent stdout: %w", err)
	}
	defer out.Close()
	errf, err := os.Create(a.stderr)
	if err != nil {
		return nil, fmt.Errorf("agent stderr: %w", err)
	}
	defer errf.Close()
	a.cmd = exec.Command(bin, "run")
	a.cmd.Env = env
	a.cmd.Dir = dir
	a.cmd.Stdout, a.cmd.Stderr = out, errf
	if err := a.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s run: %w", bin, err)
	}
	go func() { a.err = a.cmd.Wait(); close(a.done) }()
	return a, nil
}

// exited reports whether the agent has ended.
func (a *agentProc) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to limit for the exit. It returns the exit
// status, how long the agent took, and an error when it did not end in time
// (it is then killed).
func (a *agentProc) stop(limit time.Duration) (code int, took time.Duration, err error) {
	start := time.Now()
	if !a.exited() {
		if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return -1, 0, fmt.Errorf("signal agent: %w", err)
		}
	}
	select {
	case <-a.done:
	case <-time.After(limit):
		a.kill()
		return -1, time.Since(start), fmt.Errorf("agent still running %v after SIGTERM: killed", limit)
	}
	took = time.Since(start)
	var ee *exec.ExitError
	switch {
	case a.err == nil:
		return 0, took, nil
	case errors.As(a.err, &ee):
		return ee.ExitCode(), took, nil
	}
	return -1, took, fmt.Errorf("wait for agent: %w", a.err)
}

// kill ends the agent if it still runs (cleanup after a failed test).
func (a *agentProc) kill() {
	if !a.exited() {
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// runStatus runs `whippet status args…` with the agent's environment. A
// non-zero exit (the report lists problems) is returned with the output.
func runStatus(ctx context.Context, bin string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"status"}, args...)...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out, fmt.Errorf("whippet status %v: %w: %s", args, err, ee.Stderr)
		}
		return out, fmt.Errorf("whippet status %v: %w", args, err)
	}
	return out, nil
}

// httpGet returns the body of a GET.
func httpGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, nil
}
