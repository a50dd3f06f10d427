package host

// Uptime is /proc/uptime: seconds since boot, and the idle time summed over CPUs.
type Uptime struct {
	Uptime, Idle float64
}

// ParseUptime parses the content of /proc/uptime into u. Both fields are required.
// It keeps nothing of b.
func ParseUptime(b []byte, u *Uptime) error {
	*u = Uptime{}
	b, _ = line(b)
	up, b := field(b)
	if len(up) == 0 {
		return missing("uptime", "uptime")
	}
	v, err := parseFixed(up)
	if err != nil {
		return errAt("uptime", "uptime", up, err)
	}
	idle, _ := field(b)
	if len(idle) == 0 {
		return missing("uptime", "idle")
	}
	w, err := parseFixed(idle)
	if err != nil {
		return errAt("uptime", "idle", idle, err)
	}
	*u = Uptime{v, w}
	return nil
}
