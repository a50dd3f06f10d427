package cgroup

import (
	"fmt"

	"github.com/whippet-agent/whippet/pkg/collect/proc"
)

// Paths is a container's cgroup: its path below each v1 controller, and below the
// cgroup2 hierarchy (the only one on v2; the unified mount on hybrid hosts). Paths are
// as /proc/<pid>/cgroup prints them, rooted at the hierarchy ("/docker/<id>").
type Paths struct {
	mode Mode
	dirs [NumControllers]string
	id   string
}

// Mode is the layout the paths were located on.
func (p *Paths) Mode() Mode { return p.mode }

// Path is the container's cgroup below controller c ("" when the container has
// none there, or the controller is not mounted). On v2 every controller gives the
// unified path.
func (p *Paths) Path(c Controller) string {
	if c >= NumControllers {
		return ""
	}
	if p.mode == ModeV2 {
		return p.dirs[Unified]
	}
	return p.dirs[c]
}

// ID is the container id found in the path (64 hex digits); "" for a parent.
func (p *Paths) ID() string { return p.id }

// Parent returns the cgroup above the container's in every hierarchy: the ECS task's
// (/ecs/<task>, ecstasks-<task>.slice) where its task limits are, /docker or
// system.slice for a plain container. It shares p's strings and does not allocate.
func (p *Paths) Parent() Paths {
	q := Paths{mode: p.mode}
	for i, d := range p.dirs {
		if d != "" {
			q.dirs[i] = parentDir(d)
		}
	}
	return q
}

// String is the path of the container's base hierarchy (v2: unified; v1: memory),
// for logs.
func (p *Paths) String() string {
	if p.mode != ModeV2 {
		for _, c := range v1Controllers {
			if d := p.dirs[c]; d != "" {
				return d
			}
		}
	}
	return p.dirs[Unified]
}

func parentDir(d string) string {
	for i := len(d) - 1; i > 0; i-- {
		if d[i] == '/' {
			return d[:i]
		}
	}
	return "/"
}

// v1Controllers are the hierarchies a v1 container is read from, base first: the
// container is identified in its memory cgroup, as the Datadog agent does.
var v1Controllers = [...]Controller{Memory, CPU, CPUAcct, CPUSet, Blkio, Pids}

// locate fills p from a parsed /proc/<pid>/cgroup on a host of mode m. A path only
// changes (and allocates) when it differs from what p holds.
func locate(c *proc.Cgroups, m Mode, p *Paths) error {
	var raw [NumControllers][]byte
	var have [NumControllers]bool
	base := NumControllers
	switch m {
	case ModeV2:
		raw[Unified], have[Unified] = c.Unified()
		if !have[Unified] {
			return fmt.Errorf("no cgroup2 (0::) line on a cgroup v2 host: %w", ErrNotContainer)
		}
		base = Unified
	case ModeV1, ModeHybrid:
		for _, ctl := range v1Controllers {
			raw[ctl], have[ctl] = c.Controller(controllerNames[ctl])
			if have[ctl] && base == NumControllers {
				base = ctl
			}
		}
		if m == ModeHybrid {
			raw[Unified], have[Unified] = c.Unified()
		}
		if base == NumControllers {
			return fmt.Errorf("no cpu, cpuacct, cpuset, memory, blkio or pids line: %w", ErrNotContainer)
		}
	default:
		return fmt.Errorf("locate on a host of unknown cgroup mode: %w", ErrNotContainer)
	}
	for i, path := range raw {
		if !have[i] {
			continue
		}
		if len(path) >= 3 && string(path[:3]) == "/.." {
			return ErrNamespace
		}
		if len(path) == 0 || path[0] != '/' {
			return fmt.Errorf("%v cgroup path %q is not absolute: %w", Controller(i), path, ErrNotContainer)
		}
	}
	b, ok := trimDeleted(raw[base])
	if !ok {
		return ErrGone // the container's cgroup was removed: its last process is exiting
	}
	id := containerID(b)
	if id == nil {
		if string(b) == "/" {
			return fmt.Errorf("cgroup path %q names no container (a host process; or, for a container's process, the agent runs in its own cgroup namespace: run it with the host cgroup namespace): %w", b, ErrNotContainer)
		}
		return fmt.Errorf("cgroup path %q names no container: %w", b, ErrNotContainer)
	}
	p.mode = m
	p.id = ""
	for i := range p.dirs {
		if !have[i] {
			p.dirs[i] = ""
			continue
		}
		path, _ := trimDeleted(raw[i])
		if j := indexOf(path, id); j >= 0 {
			// Cut below the container: a process may sit in a sub-cgroup of it.
			e := j + len(id)
			for e < len(path) && path[e] != '/' {
				e++
			}
			path = path[:e]
		}
		if p.dirs[i] != string(path) {
			p.dirs[i] = string(path)
		}
		if p.id == "" {
			if j := indexOfString(p.dirs[i], id); j >= 0 {
				p.id = p.dirs[i][j : j+len(id)] // a substring of a path held: no allocation
			}
		}
	}
	return nil
}

// trimDeleted removes the " (deleted)" that v2 appends to the path of a removed
// cgroup (kernel/cgroup/cgroup.c proc_cgroup_show); ok is false when it was there.
func trimDeleted(path []byte) ([]byte, bool) {
	const del = " (deleted)"
	if len(path) >= len(del) && string(path[len(path)-len(del):]) == del {
		return path[:len(path)-len(del)], false
	}
	return path, true
}

// containerID finds the deepest path element that names a container: 64 hex digits
// (cgroupfs driver: /docker/<id>, /ecs/<task>/<id>) or <prefix>-<id>.scope (systemd
// driver: docker-<id>.scope; cri-containerd-, crio-, libpod- alike). ECS task ids
// (32 hex) do not match.
func containerID(path []byte) []byte {
	e := len(path)
	for e > 0 {
		s := e - 1
		for s >= 0 && path[s] != '/' {
			s--
		}
		elem := path[s+1 : e]
		if isID(elem) {
			return elem
		}
		if n := len(elem); n > 6+64 && string(elem[n-6:]) == ".scope" && elem[n-6-64-1] == '-' && isID(elem[n-6-64:n-6]) {
			return elem[n-6-64 : n-6]
		}
		e = s
	}
	return nil
}

func isID(b []byte) bool {
	if len(b) != 64 {
		return false
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func indexOf(b, sub []byte) int {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return i
		}
	}
	return -1
}

func indexOfString(s string, sub []byte) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == string(sub) {
			return i
		}
	}
	return -1
}
