package genhost

import (
	"path/filepath"
	"strconv"
)

// Command-line shapes beyond NUL-separated argv (fs/proc/base.c get_mm_cmdline).
const (
	argvPlain  = iota // "a\0b\0"
	argvTitle         // setproctitle() overflowing into the environment: the title and one NUL
	argvFilled        // a title filling argv exactly: no NUL at all
	argvPadded        // a title shorter than argv: the title, then NULs to the old length
)

const memsAllowed = "00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000," +
	"00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000," +
	"00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000," +
	"00000000,00000000,00000000,00000001"

// writeProc writes proc/<pid>/{stat,statm,status,io,cmdline,cgroup,comm} of Procs[i].
func writeProc(h *Host, i int) error {
	pr, x := &h.Procs[i], &h.extra[i]
	dir := filepath.Join(h.Dir, "proc", strconv.Itoa(pr.PID))
	if err := mkdir(dir); err != nil {
		return err
	}
	b := make([]byte, 0, 4096)
	cmd := appendCmdline(nil, pr.Cmdline, x.argv)
	files := []struct {
		name string
		data func([]byte) []byte
	}{
		{"stat", func(b []byte) []byte { return appendStat(b, pr, x, len(cmd)) }},
		{"statm", func(b []byte) []byte { return appendStatm(b, pr, x) }},
		{"status", func(b []byte) []byte { return appendStatus(b, pr, x) }},
		{"io", func(b []byte) []byte { return appendIO(b, &pr.IO) }},
		{"cmdline", func(b []byte) []byte { return append(b, cmd...) }},
		{"cgroup", func(b []byte) []byte { return appendProcCgroup(b, h.CgroupV2, pr.Cgroup) }},
		{"comm", func(b []byte) []byte { return append(append(b, pr.Comm...), '\n') }},
	}
	for _, f := range files {
		b = f.data(b[:0])
		if err := writeFile(filepath.Join(dir, f.name), b); err != nil {
			return err
		}
	}
	return nil
}

func appendCmdline(b []byte, args []string, shape int) []byte {
	for _, a := range args {
		b = append(b, a...)
		b = append(b, 0)
	}
	switch shape {
	case argvFilled:
		b = b[:len(b)-1]
	case argvPadded:
		b = append(b, make([]byte, 16)...)
	}
	return b
}

func sp(b []byte) []byte { return append(b, ' ') }

func appendU(b []byte, v uint64) []byte { return strconv.AppendUint(sp(b), v, 10) }
func appendN(b []byte, v int) []byte    { return strconv.AppendInt(sp(b), int64(v), 10) }
func appendZeros(b []byte, n int) []byte {
	for range n {
		b = append(b, " 0"...)
	}
	return b
}

// appendStat renders /proc/<pid>/stat: 52 fields (fs/proc/array.c do_task_stat).
func appendStat(b []byte, pr *Proc, x *procExtra, argLen int) []byte {
	b = strconv.AppendInt(b, int64(pr.PID), 10)
	b = append(b, " ("...)
	b = append(b, pr.Comm...)
	b = append(b, ") "...)
	b = append(b, pr.State)
	b = appendN(b, pr.PPID)
	b = appendN(b, pr.PGrp)
	b = appendN(b, pr.Sid)
	b = append(b, " 0 -1"...) // tty_nr, tpgid
	b = appendU(b, x.flags)
	b = appendU(b, pr.MinFlt)
	b = append(b, " 0"...) // cminflt
	b = appendU(b, pr.MajFlt)
	b = append(b, " 0"...) // cmajflt
	b = appendU(b, pr.UTime)
	b = appendU(b, pr.STime)
	b = append(b, " 0 0"...) // cutime, cstime
	prio := 20 + pr.Nice
	if x.rt > 0 {
		prio = -1 - x.rt
	}
	b = appendN(b, prio)
	b = appendN(b, pr.Nice)
	b = appendN(b, pr.Threads)
	b = append(b, " 0"...) // itrealvalue
	b = appendU(b, pr.StartTime)
	user := !pr.Kthread && !x.zombie
	var stack, argStart uint64
	if user {
		stack = 0x7ffc_0000_0000 + (x.startCode&0xffff_ffff)*16
		argStart = stack + 0x1f00
		b = appendU(b, pr.VSize)
		b = appendU(b, pr.RSS)
	} else {
		b = append(b, " 0 0"...)
	}
	b = append(b, " 18446744073709551615"...) // rsslim: RLIM_INFINITY
	if user {
		b = appendU(b, x.startCode)
		b = appendU(b, x.startCode+x.codePages*pageSize)
		b = appendU(b, stack)
	} else {
		b = append(b, " 0 0 0"...)
	}
	b = append(b, " 0 0 0 0"...)        // kstkesp, kstkeip, signal, blocked
	b = appendU(b, x.sigIgn&0x7fffffff) // obsolete decimal masks, the low 31 bits
	b = appendU(b, x.sigCgt&0x7fffffff)
	if pr.State == 'R' {
		b = append(b, " 0"...)
	} else {
		b = append(b, " 1"...) // wchan: 1 when not running
	}
	b = append(b, " 0 0"...) // nswap, cnswap
	b = appendN(b, x.exitSignal)
	b = appendN(b, x.processor)
	policy := 0
	if x.rt > 0 {
		policy = 1
	}
	b = appendN(b, x.rt)
	b = appendN(b, policy)
	b = append(b, " 0 0 0"...) // delayacct_blkio_ticks, guest_time, cguest_time
	if user {
		data := x.startCode + x.codePages*pageSize + 0x2c000
		b = appendU(b, data)
		b = appendU(b, data+0x4000)
		b = appendU(b, data+0x1a000000)
		b = appendU(b, argStart)
		b = appendU(b, argStart+uint64(argLen))
		b = appendU(b, argStart+uint64(argLen))
		b = appendU(b, argStart+uint64(argLen)+x.envLen)
	} else {
		b = appendZeros(b, 7)
	}
	b = append(b, " 0\n"...) // exit_code
	return b
}

// appendStatm renders size resident shared text lib data dt, in pages.
func appendStatm(b []byte, pr *Proc, x *procExtra) []byte {
	if pr.Kthread || x.zombie {
		return append(b, "0 0 0 0 0 0 0\n"...)
	}
	b = strconv.AppendUint(b, pr.VSize/pageSize, 10)
	b = appendU(b, pr.RSS)
	b = appendU(b, pr.RSSFile)
	b = appendU(b, x.codePages)
	b = append(b, " 0"...)
	b = appendU(b, x.dataPages+33)
	return append(b, " 0\n"...)
}

var stateNames = map[byte]string{'R': "R (running)", 'S': "S (sleeping)", 'D': "D (disk sleep)", 'Z': "Z (zombie)", 'I': "I (idle)"}

func line(b []byte, key string) []byte { return append(append(b, key...), ":\t"...) }

func lineN(b []byte, key string, v int) []byte {
	return append(strconv.AppendInt(line(b, key), int64(v), 10), '\n')
}

func kB(b []byte, key string, v uint64) []byte {
	b = line(b, key)
	s := strconv.AppendUint(nil, v, 10)
	for range 8 - len(s) {
		b = append(b, ' ')
	}
	return append(append(b, s...), " kB\n"...)
}

func ids4(b []byte, key string, v int) []byte {
	b = line(b, key)
	for i := range 4 {
		if i > 0 {
			b = append(b, '\t')
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return append(b, '\n')
}

func hex16(b []byte, key string, v uint64) []byte {
	b = line(b, key)
	s := strconv.AppendUint(nil, v, 16)
	for range 16 - len(s) {
		b = append(b, '0')
	}
	return append(append(b, s...), '\n')
}

// nsIDs renders "host" or "host\tns" for a process in a container's pid namespace.
func nsIDs(b []byte, key string, host, ns int, inNS bool) []byte {
	b = strconv.AppendInt(line(b, key), int64(host), 10)
	if inNS {
		b = strconv.AppendInt(append(b, '\t'), int64(ns), 10)
	}
	return append(b, '\n')
}

// EscapeName is the Name: field of /proc/<pid>/status for a comm: the kernel escapes
// only newline and backslash there (proc_task_name, ESCAPE_SPACE|ESCAPE_SPECIAL, "\n\\").
func EscapeName(comm string) string {
	return string(appendEscaped(nil, comm))
}

func appendEscaped(b []byte, comm string) []byte {
	for i := range len(comm) {
		switch c := comm[i]; c {
		case '\n':
			b = append(b, `\n`...)
		case '\\':
			b = append(b, `\\`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendStatus renders /proc/<pid>/status in the 6.18 line order.
func appendStatus(b []byte, pr *Proc, x *procExtra) []byte {
	b = append(appendEscaped(line(b, "Name"), pr.Comm), '\n')
	if !x.zombie {
		b = append(line(b, "Umask"), "0022\n"...)
	}
	b = append(append(line(b, "State"), stateNames[pr.State]...), '\n')
	b = lineN(b, "Tgid", pr.PID)
	b = lineN(b, "Ngid", 0)
	b = lineN(b, "Pid", pr.PID)
	b = lineN(b, "PPid", pr.PPID)
	b = lineN(b, "TracerPid", 0)
	b = ids4(b, "Uid", pr.UID)
	b = ids4(b, "Gid", pr.GID)
	fd := x.fdSize
	if x.zombie {
		fd = 0
	}
	b = lineN(b, "FDSize", fd)
	b = line(b, "Groups")
	for i, g := range x.groups {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, int64(g), 10)
	}
	b = append(b, " \n"...) // the kernel's trailing space
	inNS := pr.Container != ""
	b = nsIDs(b, "NStgid", pr.PID, pr.NSPid, inNS)
	b = nsIDs(b, "NSpid", pr.PID, pr.NSPid, inNS)
	nsGrp := 1
	if pr.PGrp == pr.PID {
		nsGrp = pr.NSPid
	}
	b = nsIDs(b, "NSpgid", pr.PGrp, nsGrp, inNS)
	b = nsIDs(b, "NSsid", pr.Sid, nsGrp, inNS)
	if pr.Kthread {
		b = lineN(b, "Kthread", 1)
	} else {
		b = lineN(b, "Kthread", 0)
	}
	if !pr.Kthread && !x.zombie {
		b = kB(b, "VmPeak", (pr.VSize/pageSize+x.peakPages)*4)
		b = kB(b, "VmSize", pr.VSize/1024)
		b = kB(b, "VmLck", 0)
		b = kB(b, "VmPin", 0)
		b = kB(b, "VmHWM", (pr.RSS+x.peakPages/4)*4)
		b = kB(b, "VmRSS", pr.RSS*4)
		b = kB(b, "RssAnon", pr.RSSAnon*4)
		b = kB(b, "RssFile", pr.RSSFile*4)
		b = kB(b, "RssShmem", 0)
		b = kB(b, "VmData", x.dataPages*4)
		b = kB(b, "VmStk", 132)
		b = kB(b, "VmExe", x.codePages*4)
		b = kB(b, "VmLib", x.libKB)
		b = kB(b, "VmPTE", x.pteKB)
		b = kB(b, "VmSwap", 0)
		b = kB(b, "HugetlbPages", 0)
		b = lineN(b, "CoreDumping", 0)
		b = lineN(b, "THP_enabled", 1)
		b = append(line(b, "untag_mask"), "0xffffffffffffffff\n"...)
	}
	b = lineN(b, "Threads", pr.Threads)
	b = append(line(b, "SigQ"), "0/96364\n"...)
	b = hex16(b, "SigPnd", 0)
	b = hex16(b, "ShdPnd", 0)
	b = hex16(b, "SigBlk", 0)
	b = hex16(b, "SigIgn", x.sigIgn)
	b = hex16(b, "SigCgt", x.sigCgt)
	capPrm, capBnd := x.caps, fullCaps
	if x.seccomp {
		capBnd = dockerCaps
	}
	if capPrm == "" {
		capPrm = "0000000000000000"
	}
	b = append(line(b, "CapInh"), "0000000000000000\n"...)
	b = append(append(line(b, "CapPrm"), capPrm...), '\n')
	b = append(append(line(b, "CapEff"), capPrm...), '\n')
	b = append(append(line(b, "CapBnd"), capBnd...), '\n')
	b = append(line(b, "CapAmb"), "0000000000000000\n"...)
	b = lineN(b, "NoNewPrivs", 0)
	if x.seccomp {
		b = lineN(b, "Seccomp", 2)
		b = lineN(b, "Seccomp_filters", 1)
	} else {
		b = lineN(b, "Seccomp", 0)
		b = lineN(b, "Seccomp_filters", 0)
	}
	b = append(line(b, "Speculation_Store_Bypass"), "thread vulnerable\n"...)
	b = append(line(b, "SpeculationIndirectBranch"), "conditional enabled\n"...)
	b = append(line(b, "Cpus_allowed"), "3\n"...)
	b = append(line(b, "Cpus_allowed_list"), "0-1\n"...)
	b = append(append(line(b, "Mems_allowed"), memsAllowed...), '\n')
	b = append(line(b, "Mems_allowed_list"), "0\n"...)
	b = append(strconv.AppendUint(line(b, "voluntary_ctxt_switches"), pr.VolCtxt, 10), '\n')
	b = append(strconv.AppendUint(line(b, "nonvoluntary_ctxt_switches"), pr.NonvolCtxt, 10), '\n')
	return b
}

func appendIO(b []byte, io *IO) []byte {
	for _, kv := range [...]struct {
		k string
		v uint64
	}{
		{"rchar: ", io.RChar}, {"wchar: ", io.WChar}, {"syscr: ", io.SyscR}, {"syscw: ", io.SyscW},
		{"read_bytes: ", io.ReadBytes}, {"write_bytes: ", io.WriteBytes},
		{"cancelled_write_bytes: ", io.CancelledWriteBytes},
	} {
		b = append(strconv.AppendUint(append(b, kv.k...), kv.v, 10), '\n')
	}
	return b
}

// v1Hierarchies are the template machine's: hierarchy id and controllers, as
// /proc/<pid>/cgroup lists them (cgroup v1 hybrid: 0:: is the cgroup2 mount).
var v1Hierarchies = []string{"9:name=systemd:", "8:pids:", "7:blkio:", "6:freezer:", "5:devices:",
	"4:memory:", "3:cpuset:", "2:cpuacct:", "1:cpu:", "0::"}

func appendProcCgroup(b []byte, v2 bool, path string) []byte {
	if v2 {
		return append(append(append(b, "0::"...), path...), '\n')
	}
	for _, hier := range v1Hierarchies {
		b = append(append(append(b, hier...), path...), '\n')
	}
	return b
}
