package host

// VmField is a presence bit for a /proc/vmstat counter.
type VmField uint8

const (
	VmPswpin VmField = 1 << iota
	VmPswpout
	VmPgpgin
	VmPgpgout
	VmPgfault
	VmPgmajfault
)

// Vmstat is what system.swap.swap_in/out and system.io.block_in/out need of
// /proc/vmstat. The counters are events since boot (pswp* in pages, pgpg* in KiB).
type Vmstat struct {
	Pswpin, Pswpout     uint64
	Pgpgin, Pgpgout     uint64
	Pgfault, Pgmajfault uint64
	Has                 VmField // which counters were present
}

const vmAll = VmPswpin | VmPswpout | VmPgpgin | VmPgpgout | VmPgfault | VmPgmajfault

// ParseVmstat parses the content of /proc/vmstat into v. No counter is required
// (kernels without CONFIG_VM_EVENT_COUNTERS have none of them), but an empty file
// is an error. Unknown lines are skipped without reading their numbers. It keeps
// nothing of b.
func ParseVmstat(b []byte, v *Vmstat) error {
	*v = Vmstat{}
	empty := true
	for len(b) > 0 {
		var ln []byte
		ln, b = line(b)
		key, rest := field(ln)
		if len(key) > 0 {
			empty = false
		}
		var bit VmField
		var dst *uint64
		switch string(key) {
		case "pswpin":
			bit, dst = VmPswpin, &v.Pswpin
		case "pswpout":
			bit, dst = VmPswpout, &v.Pswpout
		case "pgpgin":
			bit, dst = VmPgpgin, &v.Pgpgin
		case "pgpgout":
			bit, dst = VmPgpgout, &v.Pgpgout
		case "pgfault":
			bit, dst = VmPgfault, &v.Pgfault
		case "pgmajfault":
			bit, dst = VmPgmajfault, &v.Pgmajfault
		default:
			continue
		}
		n, f, _, err := nextUint(rest)
		if err != nil {
			return errAt("vmstat", string(key), f, err)
		}
		if len(f) == 0 {
			return missing("vmstat", string(key))
		}
		*dst = n
		if v.Has |= bit; v.Has == vmAll {
			break // the rest of the file is counters we do not read
		}
	}
	if empty {
		return missing("vmstat", "")
	}
	return nil
}
