package genhost

import (
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// v1 "unlimited" as the kernel prints it (PAGE_COUNTER_MAX * PAGE_SIZE).
const unlimited = "9223372036854771712"

// dirWriter writes small files into one directory and keeps the first error.
type dirWriter struct {
	dir string
	b   []byte
	err error
}

func newDir(dir string) *dirWriter {
	return &dirWriter{dir: dir, b: make([]byte, 0, 2048), err: mkdir(dir)}
}

func (w *dirWriter) put(name string, b []byte) {
	if w.err == nil {
		w.err = writeFile(filepath.Join(w.dir, name), b)
	}
}

func (w *dirWriter) str(name, s string) { w.put(name, append(w.b[:0], s...)) }

// num writes "<v>\n".
func (w *dirWriter) num(name string, v uint64) {
	w.put(name, append(strconv.AppendUint(w.b[:0], v, 10), '\n'))
}

// kvs writes "k v\n" lines.
func (w *dirWriter) kvs(name string, kv ...any) {
	b := w.b[:0]
	for i := 0; i < len(kv); i += 2 {
		b = append(append(b, kv[i].(string)...), ' ')
		switch v := kv[i+1].(type) {
		case uint64:
			b = strconv.AppendUint(b, v, 10)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case string:
			b = append(b, v...)
		}
		b = append(b, '\n')
	}
	w.put(name, b)
}

// ids writes one number a line.
func (w *dirWriter) ids(name string, ids []int) {
	b := w.b[:0]
	for _, id := range ids {
		b = append(strconv.AppendInt(b, int64(id), 10), '\n')
	}
	w.put(name, b)
}

func psi(some, full uint64) string {
	return "some avg10=0.00 avg60=0.00 avg300=0.00 total=" + strconv.FormatUint(some, 10) +
		"\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=" + strconv.FormatUint(full, 10) + "\n"
}

// members are the pids (cgroup.procs) and thread ids (tasks, cgroup.threads) of a cgroup.
func members(h *Host, pids []int) (procs, tids []int) {
	for _, pid := range pids {
		pr, _ := h.ProcByPID(pid)
		if pr.State == 'Z' {
			continue // a zombie has left its css_set
		}
		procs = append(procs, pid)
		for t := range pr.Threads {
			tids = append(tids, pid+t)
		}
	}
	return procs, tids
}

func writeContainerCgroups(h *Host, i int) error {
	c := &h.Containers[i]
	procs, tids := members(h, c.Pids)
	if h.CgroupV2 {
		return writeV2(h, c.Cgroup, &c.Stats, procs, tids, 0)
	}
	return writeV1(h, c.Cgroup, &c.Stats, procs, tids, 0, true)
}

func writeTaskCgroups(h *Host, i int) error {
	t := &h.Tasks[i]
	if h.CgroupV2 {
		return writeV2(h, t.Cgroup, &t.Stats, nil, nil, len(t.Containers))
	}
	return writeV1(h, t.Cgroup, &t.Stats, nil, nil, len(t.Containers), false)
}

// cpuSplit divides the usage over the CPUs like cpuacct.usage_percpu*.
func cpuSplit(s *Stats) (user, sys, all [ncpu]uint64) {
	user[0] = s.CPUUserNS / 10_000_000 * 45 / 100 * 10_000_000
	sys[0] = s.CPUSystemNS / 10_000_000 * 55 / 100 * 10_000_000
	user[1], sys[1] = s.CPUUserNS-user[0], s.CPUSystemNS-sys[0]
	extra := s.CPUUsageNS - s.CPUUserNS - s.CPUSystemNS
	all[0] = user[0] + sys[0] + extra/2
	all[1] = s.CPUUsageNS - all[0]
	return
}

func limitStr(v uint64) string {
	if v == 0 {
		return unlimited
	}
	return strconv.FormatUint(v, 10)
}

// writeV1 writes one cgroup under every v1 controller the fixture has, plus its
// cgroup2 directory of the hybrid mount. throttled is true for containers: their blkio
// carries bps rules, without which 6.18 counts nothing in blkio.throttle.*.
func writeV1(h *Host, path string, s *Stats, procs, tids []int, children int, throttled bool) error {
	root := filepath.Join(h.Dir, "sys/fs/cgroup")
	common := func(w *dirWriter) {
		w.str("cgroup.clone_children", "0\n")
		w.ids("cgroup.procs", procs)
		w.str("notify_on_release", "0\n")
		w.ids("tasks", tids)
	}

	w := newDir(filepath.Join(root, "cpu", path))
	common(w)
	w.str("cpu.cfs_burst_us", "0\n")
	w.str("cpu.cfs_period_us", "100000\n")
	w.str("cpu.cfs_quota_us", strconv.FormatInt(s.CPUQuotaUS, 10)+"\n")
	w.str("cpu.idle", "0\n")
	w.str("cpu.rt_period_us", "1000000\n")
	w.str("cpu.rt_runtime_us", "0\n")
	w.num("cpu.shares", s.CPUShares)
	w.kvs("cpu.stat", "nr_periods", s.NrPeriods, "nr_throttled", s.NrThrottled, "throttled_time", s.ThrottledNS,
		"nr_bursts", 0, "burst_time", 0)
	w.kvs("cpu.stat.local", "throttled_time", 0)
	if w.err != nil {
		return w.err
	}

	user, sys, all := cpuSplit(s)
	w = newDir(filepath.Join(root, "cpuacct", path))
	common(w)
	w.kvs("cpuacct.stat", "user", s.CPUUserNS/10_000_000, "system", s.CPUSystemNS/10_000_000)
	w.num("cpuacct.usage", s.CPUUsageNS)
	w.str("cpuacct.usage_all", "cpu user system\n0 "+u(user[0])+" "+u(sys[0])+"\n1 "+u(user[1])+" "+u(sys[1])+"\n")
	w.str("cpuacct.usage_percpu", u(all[0])+" "+u(all[1])+" \n")
	w.str("cpuacct.usage_percpu_sys", u(sys[0])+" "+u(sys[1])+" \n")
	w.str("cpuacct.usage_percpu_user", u(user[0])+" "+u(user[1])+" \n")
	w.num("cpuacct.usage_sys", s.CPUSystemNS)
	w.num("cpuacct.usage_user", s.CPUUserNS)
	if w.err != nil {
		return w.err
	}

	w = newDir(filepath.Join(root, "cpuset", path))
	common(w)
	for _, kv := range [][2]string{{"cpuset.cpu_exclusive", "0"}, {"cpuset.cpus", "0-1"}, {"cpuset.effective_cpus", "0-1"},
		{"cpuset.effective_mems", "0"}, {"cpuset.mem_exclusive", "0"}, {"cpuset.mem_hardwall", "0"},
		{"cpuset.memory_migrate", "0"}, {"cpuset.memory_pressure", "0"}, {"cpuset.memory_spread_page", "0"},
		{"cpuset.memory_spread_slab", "0"}, {"cpuset.mems", "0"}, {"cpuset.sched_load_balance", "1"},
		{"cpuset.sched_relax_domain_level", "-1"}} {
		w.str(kv[0], kv[1]+"\n")
	}
	if w.err != nil {
		return w.err
	}

	w = newDir(filepath.Join(root, "memory", path))
	common(w)
	memsw := uint64(0)
	if s.MemoryLimit != 0 {
		memsw = 2 * s.MemoryLimit // docker's default --memory-swap
	}
	w.str("memory.failcnt", "0\n")
	w.str("memory.kmem.failcnt", "0\n")
	w.str("memory.kmem.limit_in_bytes", unlimited+"\n")
	w.num("memory.kmem.max_usage_in_bytes", s.Kernel+s.Kernel/4)
	w.str("memory.kmem.tcp.failcnt", "0\n")
	w.str("memory.kmem.tcp.limit_in_bytes", unlimited+"\n")
	w.str("memory.kmem.tcp.max_usage_in_bytes", "0\n")
	w.str("memory.kmem.tcp.usage_in_bytes", "0\n")
	w.num("memory.kmem.usage_in_bytes", s.Kernel)
	w.str("memory.kmem.slabinfo", "") // empty on 6.18
	w.str("memory.limit_in_bytes", limitStr(s.MemoryLimit)+"\n")
	w.num("memory.max_usage_in_bytes", s.MemoryPeak)
	w.str("memory.memsw.failcnt", "0\n")
	w.str("memory.memsw.limit_in_bytes", limitStr(memsw)+"\n")
	w.num("memory.memsw.max_usage_in_bytes", s.MemoryPeak)
	w.num("memory.memsw.usage_in_bytes", s.MemoryUsage)
	w.str("memory.move_charge_at_immigrate", "0\n")
	w.put("memory.numa_stat", v1NumaStat(w.b[:0], s))
	w.str("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
	w.str("memory.soft_limit_in_bytes", unlimited+"\n")
	w.put("memory.stat", v1MemoryStat(w.b[:0], s, limitStr(s.MemoryLimit), limitStr(memsw)))
	w.str("memory.swappiness", "60\n")
	w.num("memory.usage_in_bytes", s.MemoryUsage)
	w.str("memory.use_hierarchy", "1\n")
	if w.err != nil {
		return w.err
	}

	w = newDir(filepath.Join(root, "blkio", path))
	common(w)
	for _, f := range []string{"blkio.bfq.io_service_bytes", "blkio.bfq.io_service_bytes_recursive",
		"blkio.bfq.io_serviced", "blkio.bfq.io_serviced_recursive"} {
		w.str(f, "Total 0\n")
	}
	w.str("blkio.bfq.weight", "100\n")
	w.str("blkio.bfq.weight_device", "default 100\n")
	bytes, ios := blkioLines(s.ReadBytes, s.WriteBytes), blkioLines(s.Reads, s.Writes)
	localBytes, localIOs := bytes, ios
	if !throttled { // a task cgroup: its own I/O is its containers'
		localBytes, localIOs = "Total 0\n", "Total 0\n"
	}
	w.str("blkio.throttle.io_service_bytes", localBytes)
	w.str("blkio.throttle.io_service_bytes_recursive", bytes)
	w.str("blkio.throttle.io_serviced", localIOs)
	w.str("blkio.throttle.io_serviced_recursive", ios)
	rule := ""
	if throttled {
		rule = diskDev + " 1073741824\n"
	}
	w.str("blkio.throttle.read_bps_device", rule)
	w.str("blkio.throttle.read_iops_device", "")
	w.str("blkio.throttle.write_bps_device", rule)
	w.str("blkio.throttle.write_iops_device", "")
	if w.err != nil {
		return w.err
	}

	w = newDir(filepath.Join(root, "pids", path))
	common(w)
	w.num("pids.current", s.PidsCurrent)
	w.str("pids.events", "max 0\n")
	if s.PidsLimit == 0 {
		w.str("pids.max", "max\n")
	} else {
		w.num("pids.max", s.PidsLimit)
	}
	w.num("pids.peak", s.PidsCurrent+2)
	if w.err != nil {
		return w.err
	}

	// The hybrid cgroup2 mount: core files only (no controller is enabled there but hugetlb).
	w = newDir(filepath.Join(root, "unified", path))
	writeCore(w, "", "", procs, tids, children)
	w.kvs("cgroup.stat", "nr_descendants", children, "nr_subsys_perf_event", children+1, "nr_subsys_hugetlb", 0,
		"nr_dying_descendants", 0, "nr_dying_subsys_perf_event", 0, "nr_dying_subsys_hugetlb", 0)
	usage := s.CPUUsageNS / 1000
	userUS := usage * s.CPUUserNS / max(1, s.CPUUserNS+s.CPUSystemNS)
	w.kvs("cpu.stat", "usage_usec", usage, "user_usec", userUS, "system_usec", usage-userUS, "nice_usec", 0)
	w.str("cpu.stat.local", "")
	w.str("cpu.pressure", psi(s.CPUSome, s.CPUFull))
	w.str("memory.pressure", psi(s.MemSome, s.MemFull))
	w.str("io.pressure", psi(s.IOSome, s.IOFull))
	return w.err
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }

func blkioLines(read, write uint64) string {
	if read+write == 0 {
		return "Total 0\n"
	}
	d := diskDev + " "
	t := u(read + write)
	return d + "Read " + u(read) + "\n" + d + "Write " + u(write) + "\n" + d + "Sync " + t + "\n" +
		d + "Async 0\n" + d + "Discard 0\n" + d + "Total " + t + "\nTotal " + t + "\n"
}

// memParts splits the kernel memory and the LRU lists the way memory.stat reports them.
type memParts struct {
	percpu, slabR, slabU, iAnon, aAnon, iFile, aFile, mapped, activate uint64
}

func splitMem(s *Stats) memParts {
	m := memParts{percpu: 7680}
	slab := s.Kernel - s.KernelStack - s.PageTables - m.percpu
	m.slabR = slab / 3
	m.slabU = slab - m.slabR
	m.iAnon = s.Anon / pageSize * 9 / 10 * pageSize
	m.aAnon = s.Anon - m.iAnon
	m.iFile = s.File / pageSize * 3 / 10 * pageSize
	m.aFile = s.File - m.iFile
	m.mapped = s.File / 2 / pageSize * pageSize
	m.activate = (m.aAnon + m.aFile) / pageSize
	return m
}

// v1MemoryStat renders the cgroup v1 memory.stat of 6.18 (mm/memcontrol-v1.c).
func v1MemoryStat(b []byte, s *Stats, limit, memsw string) []byte {
	m := splitMem(s)
	pgin := s.MemoryUsage/pageSize + s.PgFault/3
	vals := []uint64{s.File, s.Anon, 0, 0, m.mapped, 0, 0, 0, s.PgMajFault * 3, 0, 0,
		pgin, pgin - s.MemoryUsage/pageSize + s.Kernel/pageSize, s.PgFault, s.PgMajFault,
		m.iAnon, m.aAnon, m.iFile, m.aFile, 0}
	names := []string{"cache", "rss", "rss_huge", "shmem", "mapped_file", "dirty", "writeback",
		"workingset_refault_anon", "workingset_refault_file", "swap", "swapcached", "pgpgin", "pgpgout",
		"pgfault", "pgmajfault", "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable"}
	for i, n := range names {
		b = append(strconv.AppendUint(append(append(b, n...), ' '), vals[i], 10), '\n')
	}
	b = append(b, "hierarchical_memory_limit "+limit+"\nhierarchical_memsw_limit "+memsw+"\n"...)
	for i, n := range names {
		b = append(strconv.AppendUint(append(append(b, "total_"+n...), ' '), vals[i], 10), '\n')
	}
	return b
}

func v1NumaStat(b []byte, s *Stats) []byte {
	file, anon := s.File/pageSize, s.Anon/pageSize
	for _, kv := range []struct {
		k string
		v uint64
	}{{"total", file + anon}, {"file", file}, {"anon", anon}, {"unevictable", 0},
		{"hierarchical_total", file + anon}, {"hierarchical_file", file}, {"hierarchical_anon", anon},
		{"hierarchical_unevictable", 0}} {
		v := u(kv.v)
		b = append(b, kv.k+"="+v+" N0="+v+"\n"...)
	}
	return b
}

// v2Memory is the 6.18 memory.stat order (memory_stats[] then the vm events);
// the values not listed in v2MemoryValues are 0.
var v2Memory = strings.Fields(`anon file kernel kernel_stack pagetables sec_pagetables percpu sock vmalloc
shmem zswap zswapped file_mapped file_dirty file_writeback swapcached anon_thp file_thp shmem_thp
inactive_anon active_anon inactive_file active_file unevictable slab_reclaimable slab_unreclaimable slab
workingset_refault_anon workingset_refault_file workingset_activate_anon workingset_activate_file
workingset_restore_anon workingset_restore_file workingset_nodereclaim pgdemote_kswapd pgdemote_direct
pgdemote_khugepaged pgdemote_proactive pgpromote_success pgscan pgsteal pswpin pswpout pgscan_kswapd
pgscan_direct pgscan_khugepaged pgscan_proactive pgsteal_kswapd pgsteal_direct pgsteal_khugepaged
pgsteal_proactive pgfault pgmajfault pgrefill pgactivate pgdeactivate pglazyfree pglazyfreed swpin_zero
swpout_zero zswpin zswpout zswpwb thp_fault_alloc thp_collapse_alloc thp_swpout thp_swpout_fallback
numa_pages_migrated numa_pte_updates numa_hint_faults`)

func v2MemoryStat(b []byte, s *Stats) []byte {
	m := splitMem(s)
	vals := map[string]uint64{
		"anon": s.Anon, "file": s.File, "kernel": s.Kernel, "kernel_stack": s.KernelStack,
		"pagetables": s.PageTables, "percpu": m.percpu, "file_mapped": m.mapped,
		"inactive_anon": m.iAnon, "active_anon": m.aAnon, "inactive_file": m.iFile, "active_file": m.aFile,
		"slab_reclaimable": m.slabR, "slab_unreclaimable": m.slabU, "slab": m.slabR + m.slabU,
		"pgfault": s.PgFault, "pgmajfault": s.PgMajFault, "pgactivate": m.activate,
	}
	for _, n := range v2Memory {
		b = append(strconv.AppendUint(append(append(b, n...), ' '), vals[n], 10), '\n')
	}
	return b
}

// Controllers of the v2 layout: what the root offers and what systemd enables below it.
const (
	v2RootControllers = "cpuset cpu io memory hugetlb pids rdma misc"
	v2Controllers     = "cpuset cpu io memory pids"
)

// writeCore writes the cgroup core files every cgroup2 directory has.
func writeCore(w *dirWriter, controllers, subtree string, procs, tids []int, children int) {
	nl := func(s string) string {
		if s == "" {
			return ""
		}
		return s + "\n"
	}
	w.str("cgroup.controllers", nl(controllers))
	w.str("cgroup.subtree_control", nl(subtree))
	w.ids("cgroup.procs", procs)
	w.ids("cgroup.threads", tids)
	w.str("cgroup.type", "domain\n")
	w.str("cgroup.max.depth", "max\n")
	w.str("cgroup.max.descendants", "max\n")
	w.str("cgroup.freeze", "0\n")
	w.str("cgroup.pressure", "1\n")
	populated := "1"
	if len(procs) == 0 && children == 0 {
		populated = "0"
	}
	w.str("cgroup.events", "populated "+populated+"\nfrozen 0\n")
	w.str("cgroup.stat.local", "frozen_usec 0\n")
}

// v2Stat writes cgroup.stat for a cgroup2 directory with descendants below it in
// which systemd enabled v2Controllers (perf_event is implicit everywhere).
func v2Stat(w *dirWriter, descendants int) {
	k := descendants + 1
	w.kvs("cgroup.stat", "nr_descendants", descendants,
		"nr_subsys_cpuset", k, "nr_subsys_cpu", k, "nr_subsys_io", k, "nr_subsys_memory", k,
		"nr_subsys_perf_event", k, "nr_subsys_hugetlb", 0, "nr_subsys_pids", k, "nr_subsys_rdma", 0,
		"nr_subsys_misc", 0, "nr_dying_descendants", 0, "nr_dying_subsys_cpuset", 0, "nr_dying_subsys_cpu", 0,
		"nr_dying_subsys_io", 0, "nr_dying_subsys_memory", 0, "nr_dying_subsys_perf_event", 0,
		"nr_dying_subsys_hugetlb", 0, "nr_dying_subsys_pids", 0, "nr_dying_subsys_rdma", 0, "nr_dying_subsys_misc", 0)
}

// cpuWeight is runc's cpu.shares to cpu.weight conversion; docker sets nothing for 1024.
func cpuWeight(shares uint64) uint64 {
	if shares == 1024 || shares == 0 {
		return 100
	}
	return 1 + (shares-2)*9999/262142
}

// weightNice is cpu.weight.nice: the nice level whose weight is closest
// (kernel/sched/core.c cpu_weight_nice_read_s64).
func weightNice(weight uint64) int {
	prioToWeight := [...]int{88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916,
		9548, 7620, 6100, 4904, 3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272,
		215, 172, 137, 110, 87, 70, 56, 45, 36, 29, 23, 18, 15}
	w := int((weight*1024 + 50) / 100)
	last, prio := 1<<62, 0
	for ; prio < len(prioToWeight); prio++ {
		d := prioToWeight[prio] - w
		if d < 0 {
			d = -d
		}
		if d >= last {
			break
		}
		last = d
	}
	return prio - 1 - 20
}

// writeV2 writes one cgroup2 directory with the cpu, cpuset, io, memory and pids files.
func writeV2(h *Host, path string, s *Stats, procs, tids []int, children int) error {
	w := newDir(filepath.Join(h.Dir, "sys/fs/cgroup", path))
	sub := ""
	if children > 0 {
		sub = v2Controllers
	}
	writeCore(w, v2Controllers, sub, procs, tids, children)
	v2Stat(w, children)

	usage := s.CPUUsageNS / 1000
	userUS := usage * s.CPUUserNS / max(1, s.CPUUserNS+s.CPUSystemNS)
	w.kvs("cpu.stat", "usage_usec", usage, "user_usec", userUS, "system_usec", usage-userUS, "nice_usec", 0,
		"nr_periods", s.NrPeriods, "nr_throttled", s.NrThrottled, "throttled_usec", s.ThrottledNS/1000,
		"nr_bursts", 0, "burst_usec", 0)
	w.kvs("cpu.stat.local", "throttled_usec", 0)
	if s.CPUQuotaUS < 0 {
		w.str("cpu.max", "max 100000\n")
	} else {
		w.str("cpu.max", strconv.FormatInt(s.CPUQuotaUS, 10)+" 100000\n")
	}
	w.str("cpu.max.burst", "0\n")
	weight := cpuWeight(s.CPUShares)
	w.num("cpu.weight", weight)
	w.str("cpu.weight.nice", strconv.Itoa(weightNice(weight))+"\n")
	w.str("cpu.idle", "0\n")
	w.str("cpu.pressure", psi(s.CPUSome, s.CPUFull))
	w.str("cpuset.cpus", "\n")
	w.str("cpuset.cpus.effective", "0-1\n")
	w.str("cpuset.cpus.partition", "member\n")
	w.str("cpuset.mems", "\n")
	w.str("cpuset.mems.effective", "0\n")

	w.num("memory.current", s.MemoryUsage)
	w.str("memory.min", "0\n")
	w.str("memory.low", "0\n")
	w.str("memory.high", "max\n")
	if s.MemoryLimit == 0 {
		w.str("memory.max", "max\n")
		w.str("memory.swap.max", "max\n")
	} else {
		w.num("memory.max", s.MemoryLimit)
		w.num("memory.swap.max", s.MemoryLimit) // docker: --memory-swap defaults to twice --memory
	}
	w.num("memory.peak", s.MemoryPeak)
	w.str("memory.oom.group", "0\n")
	events := "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\nsock_throttled 0\n"
	w.str("memory.events", events)
	w.str("memory.events.local", events)
	w.put("memory.stat", v2MemoryStat(w.b[:0], s))
	w.str("memory.swap.current", "0\n")
	w.str("memory.swap.high", "max\n")
	w.str("memory.swap.peak", "0\n")
	w.str("memory.swap.events", "high 0\nmax 0\nfail 0\n")
	w.str("memory.zswap.current", "0\n")
	w.str("memory.zswap.max", "max\n")
	w.str("memory.zswap.writeback", "1\n")
	w.str("memory.pressure", psi(s.MemSome, s.MemFull))

	if s.ReadBytes+s.WriteBytes > 0 {
		w.str("io.stat", diskDev+" rbytes="+u(s.ReadBytes)+" wbytes="+u(s.WriteBytes)+" rios="+u(s.Reads)+
			" wios="+u(s.Writes)+" dbytes=0 dios=0\n")
	} else {
		w.str("io.stat", "")
	}
	w.str("io.max", "")
	w.str("io.weight", "default 100\n")
	w.str("io.pressure", psi(s.IOSome, s.IOFull))

	w.num("pids.current", s.PidsCurrent)
	if s.PidsLimit == 0 {
		w.str("pids.max", "max\n")
	} else {
		w.num("pids.max", s.PidsLimit)
	}
	w.num("pids.peak", s.PidsCurrent+2)
	return w.err
}

// writeCgroupRoot writes the cgroup root and the host processes' cgroups.
func writeCgroupRoot(h *Host) error {
	root := filepath.Join(h.Dir, "sys/fs/cgroup")
	if !h.CgroupV2 {
		// The hybrid cgroup2 root as on the template machine (hugetlb is its only controller).
		w := newDir(filepath.Join(root, "unified"))
		w.str("cgroup.controllers", "hugetlb\n")
		w.str("cgroup.subtree_control", "")
		w.str("cgroup.max.depth", "max\n")
		w.str("cgroup.max.descendants", "max\n")
		w.str("cgroup.pressure", "1\n")
		n := len(h.Containers) + len(h.Tasks) + 2
		w.kvs("cgroup.stat", "nr_descendants", n, "nr_subsys_perf_event", n+1, "nr_subsys_hugetlb", 1,
			"nr_dying_descendants", 0, "nr_dying_subsys_perf_event", 0, "nr_dying_subsys_hugetlb", 0)
		w.kvs("cpu.stat", "usage_usec", rootCPU.usage, "user_usec", rootCPU.user, "system_usec", rootCPU.system, "nice_usec", 0)
		w.str("cpu.stat.local", "")
		w.put("cpu.pressure", hostFile("pressure_cpu"))
		w.put("memory.pressure", hostFile("pressure_memory"))
		w.put("io.pressure", hostFile("pressure_io"))
		return w.err
	}

	// Every cgroup path in use, with its live processes.
	procsAt := map[string][]int{}
	for i := range h.Procs {
		pr := &h.Procs[i]
		if pr.Container != "" {
			continue
		}
		if _, ok := procsAt[pr.Cgroup]; !ok {
			procsAt[pr.Cgroup] = nil
		}
		procsAt[pr.Cgroup] = append(procsAt[pr.Cgroup], pr.PID)
	}
	all := map[string]bool{}
	for p := range procsAt {
		all[p] = true
	}
	for _, c := range h.Containers {
		all[c.Cgroup] = true
	}
	for p := range all {
		for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
			all[d] = true
		}
	}
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	descendants := func(p string) int {
		n := 0
		prefix := strings.TrimSuffix(p, "/") + "/"
		for _, q := range paths {
			if q != p && strings.HasPrefix(q, prefix) {
				n++
			}
		}
		return n
	}
	written := map[string]bool{}
	for _, c := range h.Containers {
		written[c.Cgroup] = true
	}
	for _, t := range h.Tasks {
		written[t.Cgroup] = true
	}
	for _, p := range paths {
		if written[p] || p == "/" {
			continue
		}
		procs, tids := members(h, procsAt[p])
		n := descendants(p)
		w := newDir(filepath.Join(root, p))
		sub := ""
		if n > 0 {
			sub = v2Controllers
		}
		writeCore(w, v2Controllers, sub, procs, tids, n)
		v2Stat(w, n)
		if w.err != nil {
			return w.err
		}
	}

	procs, _ := members(h, procsAt["/"])
	w := newDir(root)
	w.str("cgroup.controllers", v2RootControllers+"\n")
	w.str("cgroup.subtree_control", v2Controllers+"\n")
	w.ids("cgroup.procs", procs)
	w.str("cgroup.max.depth", "max\n")
	w.str("cgroup.max.descendants", "max\n")
	w.str("cgroup.pressure", "1\n")
	n := len(paths) - 1
	if !all["/"] {
		n = len(paths)
	}
	k := n + 1
	w.kvs("cgroup.stat", "nr_descendants", n,
		"nr_subsys_cpuset", k, "nr_subsys_cpu", k, "nr_subsys_io", k, "nr_subsys_memory", k,
		"nr_subsys_perf_event", k, "nr_subsys_hugetlb", 1, "nr_subsys_pids", k, "nr_subsys_rdma", 1,
		"nr_subsys_misc", 1, "nr_dying_descendants", 0, "nr_dying_subsys_cpuset", 0, "nr_dying_subsys_cpu", 0,
		"nr_dying_subsys_io", 0, "nr_dying_subsys_memory", 0, "nr_dying_subsys_perf_event", 0,
		"nr_dying_subsys_hugetlb", 0, "nr_dying_subsys_pids", 0, "nr_dying_subsys_rdma", 0, "nr_dying_subsys_misc", 0)
	w.kvs("cpu.stat", "usage_usec", rootCPU.usage, "user_usec", rootCPU.user, "system_usec", rootCPU.system, "nice_usec", 0,
		"nr_periods", 0, "nr_throttled", 0, "throttled_usec", 0, "nr_bursts", 0, "burst_usec", 0)
	w.put("cpu.pressure", hostFile("pressure_cpu"))
	w.put("memory.pressure", hostFile("pressure_memory"))
	w.put("io.pressure", hostFile("pressure_io"))
	w.put("io.stat", rootIOStat())
	w.str("cpuset.cpus.effective", "0-1\n")
	w.str("cpuset.mems.effective", "0\n")
	return w.err
}
