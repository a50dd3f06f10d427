package container

// IDFromCgroup finds a container id in a cgroup path: the last path element that
// holds a run of exactly 64 hex digits, as cgroupfs (/docker/<id>), ECS on AL2
// (/ecs/<task>/<id>), systemd (/system.slice/docker-<id>.scope) and the ECS AL2023
// slices (ecstasks-<task>.slice/docker-<id>.scope) all name it. Like Datadog's id
// extractor it does not assume a layout. It returns a sub-slice of path.
func IDFromCgroup(path []byte) ([]byte, bool) {
	end := len(path)
	for end > 0 {
		start := end
		for start > 0 && path[start-1] != '/' {
			start--
		}
		if id, ok := hex64(path[start:end]); ok {
			return id, true
		}
		end = start - 1
	}
	return nil, false
}

// hex64 returns the run of exactly 64 hex digits in elem, if there is one.
func hex64(elem []byte) ([]byte, bool) {
	run := 0
	for i := 0; i <= len(elem); i++ {
		if i < len(elem) && isHex(elem[i]) {
			run++
			continue
		}
		if run == 64 {
			return elem[i-64 : i], true
		}
		run = 0
	}
	return nil, false
}

func isHex(c byte) bool { return c-'0' <= 9 || c-'a' <= 5 }
