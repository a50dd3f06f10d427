// Package hostfs locates the filesystems of the host being observed.
//
// whippet usually runs inside a container (the ECS DAEMON task) that sees the host
// through bind mounts: /proc at /host/proc, /sys/fs/cgroup at /host/sys/fs/cgroup and
// /etc/passwd at /etc/passwd. Tests run the same readers over testdata/fakehost/<name>.
// Every reader takes a Root, so nothing else in the agent names a host path.
package hostfs

import (
	"fmt"
	"os"
	"path/filepath"
)

// Defaults for a process that sees the host directly.
const (
	DefaultProc   = "/proc"
	DefaultSys    = "/sys"
	DefaultEtc    = "/etc"
	DefaultDocker = "/var/run/docker.sock"

	// ECS task mounts, as in Datadog's documented task definition.
	ecsProc   = "/host/proc"
	ecsCgroup = "/host/sys/fs/cgroup"
	// hostEtc is preferred when mounted: a single-file bind mount of /etc/passwd
	// (Datadog's task definition) keeps the old inode when useradd replaces the file
	// by rename, so changes never show; a directory mount follows them.
	hostEtc = "/host/etc"
)

// Root locates a host's filesystems: "/" in production, "testdata/fakehost/v2" in tests.
// It is a small value: pass it by value, never keep it global.
type Root struct {
	proc   string // the proc mount, e.g. /host/proc
	cgroup string // the cgroup mount, e.g. /host/sys/fs/cgroup
	etc    string // the directory holding passwd
	docker string // the docker socket path
}

// New returns a Root from explicit locations. sys is the sysfs mount; the cgroup
// root is sys/fs/cgroup.
func New(proc, sys, etc, dockerSocket string) Root {
	return Root{
		proc:   filepath.Clean(proc),
		cgroup: filepath.Join(sys, "fs", "cgroup"),
		etc:    filepath.Clean(etc),
		docker: dockerSocket,
	}
}

// At returns the Root of a host whose filesystems sit under prefix: prefix/proc,
// prefix/sys/fs/cgroup, prefix/etc and prefix/var/run/docker.sock. It is how tests
// and `--root` point the agent at a fake host.
func At(prefix string) Root {
	return New(
		filepath.Join(prefix, "proc"),
		filepath.Join(prefix, "sys"),
		filepath.Join(prefix, "etc"),
		filepath.Join(prefix, "var", "run", "docker.sock"),
	)
}

// Detect builds the Root of the host the agent runs on. Explicit settings win
// (HOST_PROC, HOST_SYS, HOST_ETC, DOCKER_HOST=unix://…, as gopsutil and the Datadog
// agent honour them); otherwise the ECS task mounts /host/proc and
// /host/sys/fs/cgroup (and /host/etc) are used when they exist; otherwise the defaults.
// getenv and exists are injected so detection is testable without touching the
// machine; pass os.Getenv and DirExists.
func Detect(getenv func(string) string, exists func(string) bool) (Root, error) {
	r := New(DefaultProc, DefaultSys, DefaultEtc, DefaultDocker)
	if exists(ecsProc) {
		r.proc = ecsProc
	}
	if exists(ecsCgroup) {
		r.cgroup = ecsCgroup
	}
	if exists(hostEtc) {
		r.etc = hostEtc
	}
	if v := getenv("HOST_PROC"); v != "" {
		r.proc = filepath.Clean(v)
	}
	if v := getenv("HOST_SYS"); v != "" {
		r.cgroup = filepath.Join(v, "fs", "cgroup")
	}
	if v := getenv("HOST_ETC"); v != "" {
		r.etc = filepath.Clean(v)
	}
	if v := getenv("DOCKER_HOST"); v != "" {
		const scheme = "unix://"
		if len(v) <= len(scheme) || v[:len(scheme)] != scheme {
			return Root{}, fmt.Errorf("DOCKER_HOST %q: only unix:// sockets are supported", v)
		}
		r.docker = v[len(scheme):]
	}
	return r, nil
}

// DirExists reports whether path is an existing directory.
func DirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// WithProc returns r with its proc mount replaced.
func (r Root) WithProc(p string) Root { r.proc = filepath.Clean(p); return r }

// WithCgroup returns r with its cgroup mount replaced.
func (r Root) WithCgroup(p string) Root { r.cgroup = filepath.Clean(p); return r }

// WithEtc returns r with its etc directory replaced.
func (r Root) WithEtc(p string) Root { r.etc = filepath.Clean(p); return r }

// WithDockerSocket returns r with its docker socket path replaced.
func (r Root) WithDockerSocket(p string) Root { r.docker = p; return r }

// Proc joins elem under the proc mount: r.Proc("1", "stat") is <proc>/1/stat.
// It allocates; hot paths keep directory fds instead (see package proc).
func (r Root) Proc(elem ...string) string { return join(r.proc, elem) }

// Cgroup joins elem under the cgroup mount.
func (r Root) Cgroup(elem ...string) string { return join(r.cgroup, elem) }

// Etc joins elem under the etc directory.
func (r Root) Etc(elem ...string) string { return join(r.etc, elem) }

// Passwd is the passwd file used to name uids.
func (r Root) Passwd() string { return filepath.Join(r.etc, "passwd") }

// DockerSocket is the Docker Engine API unix socket.
func (r Root) DockerSocket() string { return r.docker }

// HostNetProc is the proc directory whose net/ files describe the host's network
// namespace. Inside a bridge-mode container <proc>/net is the container's own
// namespace; <proc>/1/net is init's, i.e. the host's, which is what the Datadog
// agent reads too.
func (r Root) HostNetProc() string { return filepath.Join(r.proc, "1") }

// InContainer reports whether the host's processes are reached through a mount
// other than our own /proc (the ECS task's /host/proc): then we run in a
// container and our own host name is the container's, not the host's.
func (r Root) InContainer() bool { return r.proc != DefaultProc }

// String describes r for logs and `whippet status`.
func (r Root) String() string {
	return fmt.Sprintf("proc=%s cgroup=%s etc=%s docker=%s", r.proc, r.cgroup, r.etc, r.docker)
}

func join(base string, elem []string) string {
	if len(elem) == 0 {
		return base
	}
	return filepath.Join(append([]string{base}, elem...)...)
}
