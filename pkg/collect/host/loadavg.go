package host

import "bytes"

// Loadavg is /proc/loadavg: "0.28 0.18 0.07 1/102 4540".
type Loadavg struct {
	Load1, Load5, Load15 float64
	Running, Total       uint64 // runnable and existing tasks (threads)
	LastPID              uint64 // the most recently allocated pid
}

var loadNames = [...]string{"load1", "load5", "load15"}

// ParseLoadavg parses the content of /proc/loadavg into l. All five fields are
// required; anything after them is ignored. It keeps nothing of b.
func ParseLoadavg(b []byte, l *Loadavg) error {
	*l = Loadavg{}
	b, _ = line(b)
	var loads [3]float64
	for i := range loads {
		var f []byte
		f, b = field(b)
		if len(f) == 0 {
			return missing("loadavg", loadNames[i])
		}
		v, err := parseFixed(f)
		if err != nil {
			return errAt("loadavg", loadNames[i], f, err)
		}
		loads[i] = v
	}
	f, b := field(b)
	if len(f) == 0 {
		return missing("loadavg", "running")
	}
	r, t, ok := bytes.Cut(f, slash)
	if !ok {
		return errAt("loadavg", "running/total", f, ErrSyntax)
	}
	running, err := parseUint(r)
	if err != nil {
		return errAt("loadavg", "running", r, err)
	}
	total, err := parseUint(t)
	if err != nil {
		return errAt("loadavg", "total", t, err)
	}
	f, _ = field(b)
	if len(f) == 0 {
		return missing("loadavg", "last_pid")
	}
	last, err := parseUint(f)
	if err != nil {
		return errAt("loadavg", "last_pid", f, err)
	}
	*l = Loadavg{loads[0], loads[1], loads[2], running, total, last}
	return nil
}
