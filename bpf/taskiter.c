//go:build ignore

// taskiter.c: an iter/task program that writes one fixed-size record per
// thread-group leader (kernel threads included, flagged) with bpf_seq_write;
// reading a new iterator fd created from its link yields a snapshot of every
// process. CO-RE (relocated at load by cilium/ebpf), built by bpf2go (gen.go).
// bpf/taskiter_linux.go decodes the records at the fixed offsets below.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define TASK_COMM_LEN 16
// include/linux/sched.h; a macro, so not in BTF.
#define PF_KTHREAD 0x00200000
// Live threads of a group summed per process; a process with more has
// TASK_TRUNCATED set and its CPU, fault and time totals are low.
#define MAX_THREADS 256

#define TASK_KTHREAD 1   // a kernel thread
#define TASK_TRUNCATED 2 // more than MAX_THREADS live threads: sums are partial
#define TASK_IO 4        // the io fields are set (CONFIG_TASK_XACCT and _IO_ACCOUNTING)

struct task_rec {
	__s32 tgid;          //   0 process id
	__s32 ppid;          //   4 real_parent's tgid
	__u32 uid;           //   8 real uid
	__u32 state;         //  12 leader's __state
	__u32 flags;         //  16 TASK_KTHREAD, TASK_TRUNCATED
	__u32 nr_threads;    //  20 signal->nr_threads
	__u64 start_ns;      //  24 start_boottime, ns since boot
	__u64 cpu_ns;        //  32 signal->sum_sched_runtime + live threads' se.sum_exec_runtime
	__u64 utime_ns;      //  40 signal->utime + live threads' utime (tick-sampled)
	__u64 stime_ns;      //  48 signal->stime + live threads' stime (tick-sampled)
	__s64 rss_file;      //  56 pages, mm->rss_stat[MM_FILEPAGES]
	__s64 rss_anon;      //  64 pages, mm->rss_stat[MM_ANONPAGES]
	__s64 rss_shmem;     //  72 pages, mm->rss_stat[MM_SHMEMPAGES]
	__u64 total_vm;      //  80 pages
	__u64 min_flt;       //  88 signal->min_flt + live threads' min_flt
	__u64 maj_flt;       //  96 signal->maj_flt + live threads' maj_flt
	__u64 nvcsw;         // 104 leader's voluntary context switches
	__u64 nivcsw;        // 112 leader's involuntary context switches
	__u64 cgroup_id;     // 120 cgroup v2 id (cgroups->dfl_cgrp->kn->id)
	__u64 memcg_id;      // 128 memory controller cgroup id (v1 hierarchy when mounted)
	char comm[TASK_COMM_LEN]; // 136
	// /proc/<pid>/io's figures the process view reports: signal->ioac (dead
	// threads) + live threads' ioac.
	__u64 syscr;         // 152
	__u64 syscw;         // 160
	__u64 read_bytes;    // 168
	__u64 write_bytes;   // 176
};                       // 184

// Unused: puts struct task_rec in the BTF, so that bpf2go generates its Go mirror
// (taskiterTaskRec), which a test checks the decoder's offsets against.
const volatile struct task_rec task_rec_layout __attribute__((unused));

// Kernels before 6.2 kept the rss counters in a struct of atomics; 5.14 renamed
// task_struct.state to __state.
struct mm_rss_stat___old {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___old {
	struct mm_rss_stat___old rss_stat;
} __attribute__((preserve_access_index));

struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline __s64 rss_counter(struct mm_struct *mm, int member)
{
	if (bpf_core_type_exists(struct mm_rss_stat___old)) {
		struct mm_struct___old *old = (void *)mm;
		return BPF_CORE_READ(old, rss_stat.count[member].counter);
	}
	// 6.2+: a percpu_counter. .count lags the precise value (which /proc's
	// statm sums) by up to the batch per CPU: the per-CPU deltas are not
	// reachable here (this kernel's BTF does not tag percpu_counter.counters
	// as __percpu, so bpf_per_cpu_ptr rejects it, and __per_cpu_offset is
	// neither in BTF nor kallsyms).
	return mm->rss_stat[member].count;
}

static __always_inline __u64 cset_memcg_id(struct css_set *cgroups)
{
	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		return 0;
	int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	if (id < 0 || id >= bpf_core_enum_value(enum cgroup_subsys_id, CGROUP_SUBSYS_COUNT))
		return 0;
	struct cgroup_subsys_state *css = NULL;
	bpf_core_read(&css, sizeof(css), &cgroups->subsys[id]);
	return BPF_CORE_READ(css, cgroup, kn, id);
}

// io_add adds one task_io_accounting to the record, as /proc/<pid>/io sums them.
// The thread walk reaches threads through list arithmetic (see below), so a
// thread's counters come by probe reads; the leader's by plain loads.
static __always_inline void io_add(struct task_rec *r, struct task_io_accounting *io)
{
	r->syscr += BPF_CORE_READ(io, syscr);
	r->syscw += BPF_CORE_READ(io, syscw);
	r->read_bytes += BPF_CORE_READ(io, read_bytes);
	r->write_bytes += BPF_CORE_READ(io, write_bytes);
}

// The task and the objects reached from it through typed fields are read with
// plain loads (BTF pointers: the verifier turns them into fault-tolerant loads,
// PROBE_MEM), not bpf_probe_read_kernel calls: one helper call per field was
// most of the per-process cost. The thread walk keeps probe reads, because
// container_of on a list node is arithmetic the verifier does not type.
SEC("iter/task")
int dump_procs(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	if (!task)
		return 0;
	if (task->pid != task->tgid)
		return 0; // threads are summed into their leader's record

	struct task_rec r = {};
	r.tgid = task->tgid;
	r.ppid = task->real_parent->tgid;
	r.uid = task->real_cred->uid.val;
	if (bpf_core_field_exists(task->__state)) {
		r.state = task->__state;
	} else {
		struct task_struct___old *old = (void *)task;
		r.state = BPF_CORE_READ(old, state);
	}
	__u32 pflags = task->flags;
	if (pflags & PF_KTHREAD)
		r.flags |= TASK_KTHREAD;
	r.start_ns = task->start_boottime;
	r.nvcsw = task->nvcsw;
	r.nivcsw = task->nivcsw;
	bpf_probe_read_kernel(&r.comm, sizeof(r.comm), task->comm);

	struct css_set *cgroups = task->cgroups;
	r.cgroup_id = cgroups->dfl_cgrp->kn->id;
	r.memcg_id = cset_memcg_id(cgroups);

	if (!(pflags & PF_KTHREAD)) {
		struct mm_struct *mm = task->mm;
		if (mm) {
			r.rss_file = rss_counter(mm, MM_FILEPAGES);
			r.rss_anon = rss_counter(mm, MM_ANONPAGES);
			r.rss_shmem = rss_counter(mm, MM_SHMEMPAGES);
			r.total_vm = mm->total_vm;
		}
	}

	struct signal_struct *sig = task->signal;
	r.nr_threads = sig->nr_threads;
	__u64 cpu = sig->sum_sched_runtime;
	__u64 ut = sig->utime;
	__u64 st = sig->stime;
	__u64 minf = sig->min_flt;
	__u64 majf = sig->maj_flt;

	// Kernels built without per-task io accounting have no such fields.
	int io = bpf_core_field_exists(struct task_io_accounting, syscr) &&
		 bpf_core_field_exists(struct task_io_accounting, read_bytes);
	if (io) {
		r.flags |= TASK_IO;
		io_add(&r, &sig->ioac);
	}

	if (r.nr_threads <= 1) {
		// The leader is the only live thread: no walk.
		cpu += task->se.sum_exec_runtime;
		ut += task->utime;
		st += task->stime;
		minf += task->min_flt;
		majf += task->maj_flt;
		if (io) {
			r.syscr += task->ioac.syscr;
			r.syscw += task->ioac.syscw;
			r.read_bytes += task->ioac.read_bytes;
			r.write_bytes += task->ioac.write_bytes;
		}
		goto out;
	}

	// Walk signal->thread_head (the live threads, leader included).
	void *head = (void *)sig + bpf_core_field_offset(struct signal_struct, thread_head);
	__u64 node_off = bpf_core_field_offset(struct task_struct, thread_node);
	struct list_head *node = BPF_CORE_READ(sig, thread_head.next);
	int i;
	for (i = 0; i < MAX_THREADS; i++) {
		if (!node || (void *)node == head)
			break;
		struct task_struct *t = (void *)node - node_off;
		cpu += BPF_CORE_READ(t, se.sum_exec_runtime);
		ut += BPF_CORE_READ(t, utime);
		st += BPF_CORE_READ(t, stime);
		minf += BPF_CORE_READ(t, min_flt);
		majf += BPF_CORE_READ(t, maj_flt);
		if (io)
			io_add(&r, &t->ioac);
		node = BPF_CORE_READ(t, thread_node.next);
	}
	if (i == MAX_THREADS && node && (void *)node != head)
		r.flags |= TASK_TRUNCATED;
out:
	r.cpu_ns = cpu;
	r.utime_ns = ut;
	r.stime_ns = st;
	r.min_flt = minf;
	r.maj_flt = majf;

	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}
