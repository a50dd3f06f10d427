package cgroup

import (
	"fmt"
	"os"
	"strings"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

// Detect tells the cgroup layout of root from its cgroup mount: cgroup.controllers at
// the root is cgroup v2; v1 controller directories (cpu, memory, or co-mounted ones
// such as cpu,cpuacct) are v1, hybrid when a cgroup2 mount sits at unified/. It reads
// only files, so it works on a fixture as on a host.
func Detect(root hostfs.Root) (Mode, error) {
	if isFile(root.Cgroup("cgroup.controllers")) {
		return ModeV2, nil
	}
	dirs, err := controllerDirs(root.Cgroup())
	if err != nil {
		return ModeUnknown, fmt.Errorf("detect cgroup mode: %w", err)
	}
	if dirs == 0 {
		return ModeUnknown, fmt.Errorf("detect cgroup mode: no cgroup2 root and no v1 controller under %s", root.Cgroup())
	}
	if isFile(root.Cgroup("unified", "cgroup.controllers")) {
		return ModeHybrid, nil
	}
	return ModeV1, nil
}

// controllerDirs returns a bitmask of the v1 controllers mounted below dir.
func controllerDirs(dir string) (uint32, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var m uint32
	for _, e := range ents {
		for _, ctl := range v1Controllers {
			if hasController(e.Name(), ctl) {
				m |= 1 << ctl
			}
		}
	}
	return m, nil
}

// hasController reports whether a mount directory name ("cpu", "cpu,cpuacct") holds
// controller c.
func hasController(name string, c Controller) bool {
	for _, one := range strings.Split(name, ",") {
		if one == controllerNames[c] {
			return true
		}
	}
	return false
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
