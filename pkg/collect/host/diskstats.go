package host

import "math"

// Disk is one line of /proc/diskstats (Documentation/admin-guide/iostats.rst).
// Times are in milliseconds, sectors are 512 bytes.
type Disk struct {
	Major, Minor uint32
	// Name is the kernel's name for the device ("sda", "nvme0n1p1", "dm-0"). It is
	// the same string from one parse to the next while the device exists.
	Name string

	ReadIOs, ReadMerges, ReadSectors, ReadTicks     uint64
	WriteIOs, WriteMerges, WriteSectors, WriteTicks uint64
	InFlight, IOTicks, TimeInQueue                  uint64
	// Linux 4.18+.
	DiscardIOs, DiscardMerges, DiscardSectors, DiscardTicks uint64
	// Linux 5.5+.
	FlushIOs, FlushTicks uint64

	// Fields is how many statistics the line had: 11, 15 with the discard
	// fields, 17 with the flush fields. Statistics past Fields are zero.
	Fields int
}

// HasDiscard reports whether the kernel reported the discard statistics (4.18+).
func (d *Disk) HasDiscard() bool { return d.Fields >= 15 }

// HasFlush reports whether the kernel reported the flush statistics (5.5+).
func (d *Disk) HasFlush() bool { return d.Fields >= 17 }

// Diskstats is /proc/diskstats: one Disk per block device and partition, in the
// kernel's order. Reuse one Diskstats across parses: Disks keeps its capacity and
// names are not re-allocated.
type Diskstats struct {
	Disks []Disk
	names names
}

var diskNames = []string{
	"read_ios", "read_merges", "read_sectors", "read_ticks",
	"write_ios", "write_merges", "write_sectors", "write_ticks",
	"in_flight", "io_ticks", "time_in_queue",
	"discard_ios", "discard_merges", "discard_sectors", "discard_ticks",
	"flush_ios", "flush_ticks",
}

// ParseDiskstats parses the content of /proc/diskstats into d. Every line needs
// major, minor, name and the 11 statistics every kernel since 2.6.25 prints; the
// discard and flush ones are taken when present and further fields are ignored.
// An empty file (no block devices) is valid. On error d.Disks holds the lines
// before the bad one. It keeps nothing of b.
func ParseDiskstats(b []byte, d *Diskstats) error {
	d.Disks = d.Disks[:0]
	d.names.begin()
	for len(b) > 0 {
		var ln []byte
		ln, b = line(b)
		maj, rest := field(ln)
		if len(maj) == 0 {
			continue
		}
		mi, rest := field(rest)
		name, rest := field(rest)
		if len(mi) == 0 {
			return missing("diskstats", "minor")
		}
		if len(name) == 0 {
			return missing("diskstats", "name")
		}
		major, err := parseUint32(maj)
		if err != nil {
			return errAt("diskstats", "major", maj, err)
		}
		minor, err := parseUint32(mi)
		if err != nil {
			return errAt("diskstats", "minor", mi, err)
		}
		var v [17]uint64
		n, bad, err := uints(rest, v[:])
		if err != nil {
			return errAt("diskstats", string(name)+": "+diskNames[n], bad, err)
		}
		if n < 11 {
			return missing("diskstats", string(name)+": "+diskNames[n])
		}
		d.Disks = append(d.Disks, Disk{
			Major: major, Minor: minor, Name: d.names.get(name),
			ReadIOs: v[0], ReadMerges: v[1], ReadSectors: v[2], ReadTicks: v[3],
			WriteIOs: v[4], WriteMerges: v[5], WriteSectors: v[6], WriteTicks: v[7],
			InFlight: v[8], IOTicks: v[9], TimeInQueue: v[10],
			DiscardIOs: v[11], DiscardMerges: v[12], DiscardSectors: v[13], DiscardTicks: v[14],
			FlushIOs: v[15], FlushTicks: v[16],
			Fields: n,
		})
	}
	return nil
}

func parseUint32(b []byte) (uint32, error) {
	v, err := parseUint(b)
	if err != nil {
		return 0, err
	}
	if v > math.MaxUint32 {
		return 0, ErrRange
	}
	return uint32(v), nil
}
