#!/usr/bin/env bash
# synth-v2.sh V2DIR RAWV1 (run by capture.sh)
#
# This machine has no cgroup v2 controllers, so the v2 fixture's cgroup tree is
# synthesized: V2DIR/sys/fs/cgroup becomes a unified hierarchy laid out like an ECS
# AL2023 host (systemd cgroup driver), and V2DIR/proc/<pid>/cgroup is rewritten to the
# single "0::<path>" line. The numbers come from the v1 files capture.sh copied for
# the same containers (RAWV1) and from the real cgroup2 files of those containers
# (hybrid: RAWV1/unified/...), so they agree with the captured processes. File sets
# and formats follow Linux 6.18 (mm/memcontrol.c, kernel/cgroup/cgroup.c,
# kernel/cgroup/rstat.c, kernel/sched/core.c, block/blk-cgroup.c, blk-throttle.c)
# and this kernel's config (ZSWAP, THP, SWAP, NUMA_BALANCING, CFS_BANDWIDTH, PSI).
set -euo pipefail

V2=$1
RAW=$2
CGR=$V2/sys/fs/cgroup
DEV=254:0                                  # vda, the disk the containers write to
ROOT_CTRLS="cpuset cpu io memory hugetlb pids rdma misc"
CTRLS="cpuset cpu io memory pids"          # what systemd enables below the root
DFL_SS="cpuset cpu io memory perf_event hugetlb pids rdma misc" # cgroup.stat order

rm -rf "$CGR"
mkdir -p "$CGR"

put() { mkdir -p "$(dirname "$1")"; printf '%s' "$2" >"$1"; }
kv() { awk -v k="$2" '$1 == k { print $2; f = 1; exit } END { if (!f) print 0 }' "$1"; }
rawdir() { find "$RAW/$1" -type d -name "$2" | head -1; }
big() { [ "${#1}" -ge 19 ]; } # v1 "unlimited" (9223372036854771712)

# cgroup.stat: nr_subsys_<ss> counts live css of <ss> in the subtree including self.
cgstat() { # dir descendants enabled-count-per-ss...
	local out="nr_descendants $2"$'\n' ss n i=3
	for ss in $DFL_SS; do n=${!i}; out+="nr_subsys_$ss $n"$'\n'; i=$((i + 1)); done
	out+="nr_dying_descendants 0"$'\n'
	for ss in $DFL_SS; do out+="nr_dying_subsys_$ss 0"$'\n'; done
	put "$1/cgroup.stat" "$out"
	put "$1/cgroup.stat.local" $'frozen_usec 0\n'
}

# basic DIR CONTROLLERS SUBTREE PROCS: the core files every cgroup has.
basic() {
	local ctl=${2:+$2$'\n'} sub=${3:+$3$'\n'} procs=""
	[ -z "$4" ] || procs=$(printf '%s\n' $4)$'\n'
	put "$1/cgroup.controllers" "$ctl"
	put "$1/cgroup.subtree_control" "$sub"
	put "$1/cgroup.procs" "$procs"
	put "$1/cgroup.threads" "$procs"
	put "$1/cgroup.type" $'domain\n'
	put "$1/cgroup.max.depth" $'max\n'
	put "$1/cgroup.max.descendants" $'max\n'
	put "$1/cgroup.freeze" $'0\n'
	put "$1/cgroup.pressure" $'1\n'
	put "$1/cgroup.events" $'populated 1\nfrozen 0\n'
}

# nice value closest to a cgroup cpu.weight (kernel/sched/core.c cpu_weight_nice_read_s64).
weight_nice() {
	awk -v w="$1" 'BEGIN {
		split("88761 71755 56483 46273 36291 29154 23254 18705 14949 11916 9548 7620 6100 4904 3906 3121 2501 1991 1586 1277 1024 820 655 526 423 335 272 215 172 137 110 87 70 56 45 36 29 23 18 15", t, " ")
		s = int((w * 1024 + 50) / 100); last = 1e18
		for (p = 1; p <= 40; p++) { d = t[p] - s; if (d < 0) d = -d; if (d >= last) break; last = d }
		print p - 2 - 20 }'
}

psi() { # some-total full-total
	printf 'some avg10=0.00 avg60=0.00 avg300=0.00 total=%s\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=%s\n' "$1" "$2"
}
psi_total() { awk -v k="$2" '$1 == k { sub("total=", "", $5); print $5 }' "$1"; }

# memstat: memory.stat in 6.18 order (memory_stats[] then the event counters).
memstat() {
	cat <<EOF
anon $M_anon
file $M_file
kernel $M_kernel
kernel_stack $M_kstack
pagetables $M_pte
sec_pagetables 0
percpu $M_percpu
sock 0
vmalloc 0
shmem $M_shmem
zswap 0
zswapped 0
file_mapped $M_mapped
file_dirty $M_dirty
file_writeback $M_wb
swapcached 0
anon_thp $M_anonthp
file_thp 0
shmem_thp 0
inactive_anon $M_ianon
active_anon $M_aanon
inactive_file $M_ifile
active_file $M_afile
unevictable $M_unevict
slab_reclaimable $M_slabr
slab_unreclaimable $M_slabu
slab $((M_slabr + M_slabu))
workingset_refault_anon $M_wra
workingset_refault_file $M_wrf
workingset_activate_anon 0
workingset_activate_file 0
workingset_restore_anon 0
workingset_restore_file 0
workingset_nodereclaim 0
pgdemote_kswapd 0
pgdemote_direct 0
pgdemote_khugepaged 0
pgdemote_proactive 0
pgpromote_success 0
pgscan 0
pgsteal 0
pswpin 0
pswpout 0
pgscan_kswapd 0
pgscan_direct 0
pgscan_khugepaged 0
pgscan_proactive 0
pgsteal_kswapd 0
pgsteal_direct 0
pgsteal_khugepaged 0
pgsteal_proactive 0
pgfault $M_pgfault
pgmajfault $M_pgmajfault
pgrefill 0
pgactivate $M_pgactivate
pgdeactivate 0
pglazyfree 0
pglazyfreed 0
swpin_zero 0
swpout_zero 0
zswpin 0
zswpout 0
zswpwb 0
thp_fault_alloc 0
thp_collapse_alloc 0
thp_swpout 0
thp_swpout_fallback 0
numa_pages_migrated 0
numa_pte_updates 0
numa_hint_faults 0
EOF
}

M_KEYS="anon file kernel kstack pte percpu shmem mapped dirty wb anonthp ianon aanon ifile afile unevict slabr slabu wra wrf pgfault pgmajfault pgactivate"

# stats DIR: cpu, memory, io and pids files from the C_*, M_*, IO_*, P_*, S_* variables.
stats() {
	local d=$1
	put "$d/cpu.stat" "usage_usec $C_usage
user_usec $C_user
system_usec $C_system
nice_usec 0
nr_periods $C_periods
nr_throttled $C_throttled
throttled_usec $C_throttled_usec
nr_bursts 0
burst_usec 0
"
	put "$d/cpu.stat.local" "throttled_usec $C_throttled_usec
"
	put "$d/cpu.max" "$C_max
"
	put "$d/cpu.max.burst" $'0\n'
	put "$d/cpu.weight" "$C_weight
"
	put "$d/cpu.weight.nice" "$(weight_nice "$C_weight")
"
	put "$d/cpu.idle" $'0\n'
	put "$d/cpu.pressure" "$(psi "$S_cpu_some" "$S_cpu_full")
"
	put "$d/cpuset.cpus" $'\n'
	put "$d/cpuset.cpus.effective" $'0-1\n'
	put "$d/cpuset.mems" $'\n'
	put "$d/cpuset.mems.effective" $'0\n'
	put "$d/cpuset.cpus.partition" $'member\n'
	put "$d/memory.current" "$M_current
"
	put "$d/memory.min" $'0\n'
	put "$d/memory.low" "$M_low
"
	put "$d/memory.high" $'max\n'
	put "$d/memory.max" "$M_max
"
	put "$d/memory.peak" "$M_peak
"
	put "$d/memory.oom.group" $'0\n'
	put "$d/memory.events" $'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\nsock_throttled 0\n'
	put "$d/memory.events.local" $'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\nsock_throttled 0\n'
	put "$d/memory.stat" "$(memstat)
"
	put "$d/memory.swap.current" $'0\n'
	put "$d/memory.swap.high" $'max\n'
	put "$d/memory.swap.max" "$M_swapmax
"
	put "$d/memory.swap.peak" $'0\n'
	put "$d/memory.swap.events" $'high 0\nmax 0\nfail 0\n'
	put "$d/memory.zswap.current" $'0\n'
	put "$d/memory.zswap.max" $'max\n'
	put "$d/memory.zswap.writeback" $'1\n'
	put "$d/memory.pressure" "$(psi "$S_mem_some" "$S_mem_full")
"
	put "$d/io.stat" "$IO_stat"
	put "$d/io.max" "$IO_max"
	put "$d/io.weight" $'default 100\n'
	put "$d/io.pressure" "$(psi "$S_io_some" "$S_io_full")
"
	put "$d/pids.current" "$P_current
"
	put "$d/pids.max" "$P_max
"
	put "$d/pids.peak" "$P_peak
"
}

# --- containers ---------------------------------------------------------------
declare -A PATH_OF   # pid -> v2 cgroup path
declare -A SUM       # task slice totals
task_slice=""
for j in "$V2"/docker/containers/*.json; do
	[ "$(jq -r .State.Running "$j")" = true ] || continue
	id=$(jq -r .Id "$j")
	parent=$(jq -r .HostConfig.CgroupParent "$j")
	case "$parent" in
	ecstasks-*.slice) task_slice=/ecstasks.slice/$parent; path=$task_slice/docker-$id.scope ;;
	*) path=/system.slice/docker-$id.scope ;;
	esac
	d=$CGR$path
	cpuacct=$(rawdir cpuacct "$id") cpu=$(rawdir cpu "$id") mem=$(rawdir memory "$id")
	blkio=$(rawdir blkio "$id") pids=$(rawdir pids "$id") uni=$(rawdir unified "$id")

	procs=$(cat "$uni/cgroup.procs")
	for p in $procs; do PATH_OF[$p]=$path; done
	basic "$d" "$CTRLS" "" "$procs"

	usage=$(cat "$cpuacct/cpuacct.usage") u=$(cat "$cpuacct/cpuacct.usage_user") s=$(cat "$cpuacct/cpuacct.usage_sys")
	C_usage=$((usage / 1000))
	C_user=$((u + s > 0 ? C_usage * u / (u + s) : 0))
	C_system=$((C_usage - C_user))
	C_periods=$(kv "$cpu/cpu.stat" nr_periods) C_throttled=$(kv "$cpu/cpu.stat" nr_throttled)
	C_throttled_usec=$(($(kv "$cpu/cpu.stat" throttled_time) / 1000))
	quota=$(cat "$cpu/cpu.cfs_quota_us") period=$(cat "$cpu/cpu.cfs_period_us")
	if [ "$quota" = -1 ]; then C_max="max $period"; else C_max="$quota $period"; fi
	shares=$(cat "$cpu/cpu.shares")
	# runc's ConvertCPUSharesToCgroupV2Value; docker sets nothing without --cpu-shares.
	if [ "$shares" = 1024 ]; then C_weight=100; else C_weight=$((1 + (shares - 2) * 9999 / 262142)); fi

	ms=$mem/memory.stat
	M_anon=$(kv "$ms" total_rss) M_file=$(kv "$ms" total_cache) M_shmem=$(kv "$ms" total_shmem)
	M_mapped=$(kv "$ms" total_mapped_file) M_dirty=$(kv "$ms" total_dirty) M_wb=$(kv "$ms" total_writeback)
	M_anonthp=$(kv "$ms" total_rss_huge) M_ianon=$(kv "$ms" total_inactive_anon) M_aanon=$(kv "$ms" total_active_anon)
	M_ifile=$(kv "$ms" total_inactive_file) M_afile=$(kv "$ms" total_active_file) M_unevict=$(kv "$ms" total_unevictable)
	M_wra=$(kv "$ms" total_workingset_refault_anon) M_wrf=$(kv "$ms" total_workingset_refault_file)
	M_pgfault=$(kv "$ms" total_pgfault) M_pgmajfault=$(kv "$ms" total_pgmajfault)
	M_pgactivate=$(((M_aanon + M_afile) / 4096))
	M_kernel=$(cat "$mem/memory.kmem.usage_in_bytes")
	nthreads=0 pte=0
	for p in $procs; do
		nthreads=$((nthreads + $(awk '$1 == "Threads:" { print $2 }' "$V2/proc/$p/status")))
		pte=$((pte + $(awk '$1 == "VmPTE:" { print $2 * 1024 }' "$V2/proc/$p/status")))
	done
	M_kstack=$((nthreads * 16384)) M_pte=$pte M_percpu=$((2 * 1920))
	slab=$((M_kernel - M_kstack - M_pte - M_percpu))
	if [ "$slab" -lt 0 ]; then slab=65536; M_kernel=$((M_kstack + M_pte + M_percpu + slab)); fi
	M_slabr=$((slab / 3)) M_slabu=$((slab - slab / 3))
	M_current=$((M_anon + M_file + M_kernel))
	M_peak=$(cat "$mem/memory.max_usage_in_bytes")
	[ "$M_peak" -ge "$M_current" ] || M_peak=$M_current
	limit=$(cat "$mem/memory.limit_in_bytes") soft=$(cat "$mem/memory.soft_limit_in_bytes")
	memsw=$(cat "$mem/memory.memsw.limit_in_bytes")
	if big "$limit"; then M_max=max; else M_max=$limit; fi
	if big "$soft"; then M_low=0; else M_low=$soft; fi
	if big "$memsw" || big "$limit"; then M_swapmax=max; else M_swapmax=$((memsw - limit)); fi

	S_cpu_some=$(psi_total "$uni/cpu.pressure" some) S_cpu_full=$(psi_total "$uni/cpu.pressure" full)
	S_mem_some=$(psi_total "$uni/memory.pressure" some) S_mem_full=$(psi_total "$uni/memory.pressure" full)
	S_io_some=$(psi_total "$uni/io.pressure" some) S_io_full=$(psi_total "$uni/io.pressure" full)

	bs=$blkio/blkio.throttle.io_service_bytes_recursive bo=$blkio/blkio.throttle.io_serviced_recursive
	rb=$(awk -v d=$DEV '$1 == d && $2 == "Read" { print $3 }' "$bs")
	if [ -n "$rb" ]; then
		wb=$(awk -v d=$DEV '$1 == d && $2 == "Write" { print $3 }' "$bs")
		db=$(awk -v d=$DEV '$1 == d && $2 == "Discard" { print $3 }' "$bs")
		ri=$(awk -v d=$DEV '$1 == d && $2 == "Read" { print $3 }' "$bo")
		wi=$(awk -v d=$DEV '$1 == d && $2 == "Write" { print $3 }' "$bo")
		di=$(awk -v d=$DEV '$1 == d && $2 == "Discard" { print $3 }' "$bo")
		IO_stat="$DEV rbytes=$rb wbytes=$wb rios=$ri wios=$wi dbytes=$db dios=$di"$'\n'
	elif [ "$path" != "${path#/ecstasks.slice/}" ]; then
		# A blkg with no I/O yet: blkcg_print_one_stat() prints the device and a space.
		IO_stat="$DEV "$'\n' rb=0 wb=0 ri=0 wi=0 db=0 di=0
	else
		IO_stat="" rb=0 wb=0 ri=0 wi=0 db=0 di=0
	fi
	IO_max=""
	rbps=$(awk -v d=$DEV '$1 == d { print $2 }' "$blkio/blkio.throttle.read_bps_device")
	wbps=$(awk -v d=$DEV '$1 == d { print $2 }' "$blkio/blkio.throttle.write_bps_device")
	[ -z "$rbps$wbps" ] || IO_max="$DEV rbps=${rbps:-max} wbps=${wbps:-max} riops=max wiops=max"$'\n'

	P_current=$(cat "$pids/pids.current") P_max=$(cat "$pids/pids.max") P_peak=$(cat "$pids/pids.peak")
	stats "$d"

	if [ "$path" != "${path#/ecstasks.slice/}" ]; then
		for k in usage user system periods throttled throttled_usec; do
			v=C_$k; SUM[C_$k]=$((${SUM[C_$k]:-0} + ${!v}))
		done
		for k in $M_KEYS current peak; do v=M_$k; SUM[M_$k]=$((${SUM[M_$k]:-0} + ${!v})); done
		for k in cpu_some cpu_full mem_some mem_full io_some io_full; do v=S_$k; SUM[S_$k]=$((${SUM[S_$k]:-0} + ${!v})); done
		for k in rb wb ri wi db di; do SUM[$k]=$((${SUM[$k]:-0} + ${!k})); done
		SUM[P_current]=$((${SUM[P_current]:-0} + P_current)) SUM[P_peak]=$((${SUM[P_peak]:-0} + P_peak))
		SUM[nscopes]=$((${SUM[nscopes]:-0} + 1))
	fi
done

# --- the ECS task slice: task-level limits (cpu 512 units, 512 MiB) over its containers ---
if [ -n "$task_slice" ]; then
	for k in "${!SUM[@]}"; do printf -v "$k" '%s' "${SUM[$k]}"; done
	C_max="50000 100000" C_weight=100 M_max=536870912 M_low=0 M_swapmax=max
	C_periods=$(((C_usage + 9999) / 10000)) # estimate: the slice alone has a quota
	IO_stat="$DEV rbytes=$rb wbytes=$wb rios=$ri wios=$wi dbytes=$db dios=$di"$'\n' IO_max=""
	P_max=max
	n=${SUM[nscopes]}
	basic "$CGR$task_slice" "$CTRLS" "$CTRLS" ""
	stats "$CGR$task_slice"
	basic "$CGR/ecstasks.slice" "$CTRLS" "$CTRLS" ""
fi

# --- host processes: where systemd would have put them ---
# stat_fields FILE: state and ppid, after the LAST ")" (comm may hold ") " and newlines).
stat_fields() {
	local s
	s=$(<"$1")
	read -r STATE_F PPID_F _ <<<"${s##*) }"
}
for pd in "$V2"/proc/[0-9]*; do
	p=${pd##*/}
	[ -f "$pd/stat" ] || continue
	if [ -n "${PATH_OF[$p]:-}" ]; then continue; fi
	stat_fields "$pd/stat"
	comm=$(head -n1 "$pd/comm")
	if [ "$p" = 1 ]; then path=/init.scope
	elif [ "$p" = 2 ] || [ "$PPID_F" = 2 ]; then path=/
	else
		case "$comm" in
		dockerd) path=/system.slice/docker.service ;;
		containerd | containerd-shim) path=/system.slice/containerd.service ;;
		nginx) path=/system.slice/nginx.service ;;
		*) path=/user.slice/user-0.slice/session-1.scope ;;
		esac
	fi
	PATH_OF[$p]=$path
done

# cgroup.procs lists live processes only: a zombie has left its css_set (cgroup_exit).
declare -A PROCS
for p in "${!PATH_OF[@]}"; do
	stat_fields "$V2/proc/$p/stat"
	[ "$STATE_F" = Z ] || PROCS[${PATH_OF[$p]}]+=" $p"
	printf '0::%s\n' "${PATH_OF[$p]}" >"$V2/proc/$p/cgroup"
done
sorted() { printf '%s\n' $1 | sort -n | tr '\n' ' '; }
for path in /init.scope /system.slice/docker.service /system.slice/containerd.service \
	/system.slice/nginx.service /user.slice/user-0.slice/session-1.scope; do
	basic "$CGR$path" "$CTRLS" "" "$(sorted "${PROCS[$path]:-}")"
done
basic "$CGR/user.slice/user-0.slice" "$CTRLS" "$CTRLS" ""
basic "$CGR/user.slice" "$CTRLS" "$CTRLS" ""
basic "$CGR/system.slice" "$CTRLS" "$CTRLS" ""

# cgroup.stat everywhere below the root: every cgroup enables $CTRLS (+ implicit perf_event).
find "$CGR" -mindepth 1 -type d | while read -r d; do
	n=$(find "$d" -mindepth 1 -type d | wc -l)
	k=$((n + 1))
	cgstat "$d" "$n" $k $k $k $k $k 0 $k 0 0
done

# --- the root: controllers, host-wide PSI, cpu and io from the captured proc files ---
put "$CGR/cgroup.controllers" "$ROOT_CTRLS"$'\n'
put "$CGR/cgroup.subtree_control" "$CTRLS"$'\n'
put "$CGR/cgroup.procs" "$(sorted "${PROCS[/]}" | tr ' ' '\n' | sed '/^$/d')"$'\n'
put "$CGR/cgroup.max.depth" $'max\n'
put "$CGR/cgroup.max.descendants" $'max\n'
put "$CGR/cgroup.pressure" $'1\n'
ncg=$(find "$CGR" -mindepth 1 -type d | wc -l)
cgstat "$CGR" "$ncg" $((ncg + 1)) $((ncg + 1)) $((ncg + 1)) $((ncg + 1)) $((ncg + 1)) 1 $((ncg + 1)) 1 1
rm -f "$CGR/cgroup.stat.local"
for f in cpu memory io; do cp "$V2/proc/pressure/$f" "$CGR/$f.pressure"; done
# root_cgroup_cputime(): user = user + nice, system = system + irq + softirq (USER_HZ=100).
awk '$1 == "cpu" {
	u = ($2 + $3) * 10000; s = ($4 + $7 + $8) * 10000
	printf "usage_usec %d\nuser_usec %d\nsystem_usec %d\nnice_usec %d\n", u + s, u, s, $3 * 10000
	printf "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n" }' \
	"$V2/proc/stat" >"$CGR/cpu.stat"
# blkcg_fill_root_iostats(): every disk's root blkg, newest first; idle disks print "maj:min ".
awk '{ line = $1 ":" $2 " "
	if ($4 + $8) line = line sprintf("rbytes=%d wbytes=%d rios=%d wios=%d dbytes=%d dios=%d", $6 * 512, $10 * 512, $4, $8, $17 * 512, $15)
	l[NR] = line } END { for (i = NR; i > 0; i--) print l[i] }' "$V2/proc/diskstats" >"$CGR/io.stat"
put "$CGR/cpuset.cpus.effective" $'0-1\n'
put "$CGR/cpuset.mems.effective" $'0\n'
