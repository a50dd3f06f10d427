//go:build ignore

// tracer.c: one fixed-size record per process exec and per thread-group exit,
// into a BPF ring buffer. CO-RE (relocated against the running kernel's BTF by
// cilium/ebpf at load), built by bpf2go (see gen.go).
//
// The same logic is attached in three flavours, one per rung of the fallback
// ladder; user space loads only the pair of programs of the rung it tries:
//   tp_btf/sched_process_{exec,exit}          BTF-typed arguments (5.5+)
//   raw_tracepoint/sched_process_{exec,exit}  untyped arguments (4.17+)
//   tracepoint/sched/sched_process_{exec,exit} perf trace event (tracefs)
// Every rung needs the ring buffer and bpf_ktime_get_boot_ns (5.8+).

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define TASK_COMM_LEN 16
#define FILENAME_LEN 160
#define EVENT_EXEC 1
#define EVENT_EXIT 2
// include/linux/sched/signal.h; a macro, so not in BTF. Stable since 2.6.
#define SIGNAL_GROUP_EXIT 0x00000004
// Threads still linked in the group when its last thread exits are summed up to
// this many; threads already released are in signal->sum_sched_runtime.
#define MAX_THREADS 64

// struct event is the record layout; bpf/decode.go reads it at these fixed
// offsets (and a test checks them against the bpf2go-generated type).
struct event {
	__u32 type;          //  0 EVENT_EXEC or EVENT_EXIT
	__s32 pid;           //  4 thread id
	__s32 tgid;          //  8 process id
	__s32 ppid;          // 12 real_parent's tgid
	__u32 uid;           // 16 real uid
	__u32 gid;           // 20 real gid
	__u64 cgroup_id;     // 24 cgroup v2 (default hierarchy) id
	__u64 memcg_id;      // 32 memory controller cgroup id (v1 hierarchy when mounted)
	__u64 start_ns;      // 40 process start, boot-time ns
	__u64 time_ns;       // 48 event time, boot-time ns
	__s32 exit_code;     // 56 wait(2) status word, exit only
	__u32 filename_len;  // 60 bytes in filename, exec only
	__u64 cpu_ns;        // 64 thread group CPU time, exit only
	__u64 maxrss_pages;  // 72 peak RSS in pages, exit only
	char comm[TASK_COMM_LEN];     // 80
	char filename[FILENAME_LEN];  // 96, exec only: exit records end here
};

#define EXEC_SIZE sizeof(struct event)
#define EXIT_SIZE __builtin_offsetof(struct event, filename)

// Set by user space at load. A forced wake-up is sent each time the pending
// (unread) data crosses a multiple of wakeup_bytes; otherwise records are
// submitted without waking the reader, which polls on a timer. 0: wake per record.
const volatile __u64 wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 21); // overridden at load (Options.RingSize)
} events SEC(".maps");

// Records that did not fit in the ring.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");


// A typed global pins struct event in the BTF, for bpf2go's Go mirror of it
// (tracer_bpfel.go: tracerEvent). Read-only and never read: it only adds 256
// bytes to the .rodata map that wakeup_bytes needs anyway.
const volatile struct event event_layout __attribute__((unused));

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		*n += 1;
}

static __always_inline void submit(void *e, __u64 size)
{
	__u64 thr = wakeup_bytes;
	__u64 flags = BPF_RB_FORCE_WAKEUP;

	if (thr) {
		// Pending bytes, this (reserved, uncommitted) record included.
		__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
		__u64 rec = (size + 8 /* BPF_RINGBUF_HDR_SZ */ + 7) & ~7ULL;
		if (avail >= rec && avail / thr == (avail - rec) / thr)
			flags = BPF_RB_NO_WAKEUP;
	}
	bpf_ringbuf_submit(e, flags);
}

static __always_inline __u64 memcg_id(struct task_struct *task)
{
	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		return 0;
	int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	if (id < 0 || id >= bpf_core_enum_value(enum cgroup_subsys_id, CGROUP_SUBSYS_COUNT))
		return 0;
	struct css_set *cgroups = BPF_CORE_READ(task, cgroups);
	struct cgroup_subsys_state *css = NULL;
	bpf_core_read(&css, sizeof(css), &cgroups->subsys[id]);
	return BPF_CORE_READ(css, cgroup, kn, id);
}

// fill sets every field but the type-specific ones. task is current.
static __always_inline void fill(struct event *e, struct task_struct *task, __u32 type)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	e->type = type;
	e->pid = (__s32)pid_tgid;
	e->tgid = (__s32)(pid_tgid >> 32);
	e->ppid = BPF_CORE_READ(leader, real_parent, tgid);
	e->uid = (__u32)uid_gid;
	e->gid = (__u32)(uid_gid >> 32);
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->memcg_id = memcg_id(task);
	e->start_ns = BPF_CORE_READ(leader, start_boottime);
	e->time_ns = bpf_ktime_get_boot_ns();
	BPF_CORE_READ_INTO(&e->comm, leader, comm);
}

static __always_inline int on_exec(struct task_struct *task, const char *filename)
{
	struct event *e = bpf_ringbuf_reserve(&events, EXEC_SIZE, 0);
	if (!e) {
		count_lost();
		return 0;
	}
	fill(e, task, EVENT_EXEC);
	e->exit_code = 0;
	e->cpu_ns = 0;
	e->maxrss_pages = 0;
	long n = bpf_probe_read_kernel_str(&e->filename, sizeof(e->filename), filename);
	e->filename_len = n > 0 ? n - 1 : 0;
	submit(e, EXEC_SIZE);
	return 0;
}

// group_cpu is thread_group_cputime's sum: the runtime of released threads plus
// that of every thread still linked in the group (this one included).
static __always_inline __u64 group_cpu(struct signal_struct *sig)
{
	__u64 sum = BPF_CORE_READ(sig, sum_sched_runtime);
	struct list_head *head = &sig->thread_head;
	struct list_head *pos = BPF_CORE_READ(sig, thread_head.next);
	unsigned long off = bpf_core_field_offset(struct task_struct, thread_node);

	for (int i = 0; i < MAX_THREADS; i++) {
		if (!pos || pos == head)
			break;
		struct task_struct *t = (void *)pos - off;
		sum += BPF_CORE_READ(t, se.sum_exec_runtime);
		pos = BPF_CORE_READ(pos, next);
	}
	return sum;
}

static __always_inline int on_exit(struct task_struct *task)
{
	struct signal_struct *sig = BPF_CORE_READ(task, signal);

	// do_exit decrements signal->live before this tracepoint: only the last
	// thread of the group sees 0. Earlier thread exits are not process exits.
	if (BPF_CORE_READ(sig, live.counter) != 0)
		return 0;

	struct event *e = bpf_ringbuf_reserve(&events, EXIT_SIZE, 0);
	if (!e) {
		count_lost();
		return 0;
	}
	fill(e, task, EVENT_EXIT);
	// As wait_task_zombie reports it: the group exit code after exit_group or a
	// fatal signal, else the leader's own (already set: do_exit stores
	// tsk->exit_code before the tracepoint).
	if (BPF_CORE_READ(sig, flags) & SIGNAL_GROUP_EXIT)
		e->exit_code = BPF_CORE_READ(sig, group_exit_code);
	else
		e->exit_code = BPF_CORE_READ(task, group_leader, exit_code);
	e->filename_len = 0;
	e->cpu_ns = group_cpu(sig);
	// do_exit folded the mm's high-water mark into signal->maxrss when the
	// group died (and exec folds the old mm's), so this is the group's peak.
	e->maxrss_pages = BPF_CORE_READ(sig, maxrss);
	submit(e, EXIT_SIZE);
	return 0;
}

// Rung 1: tp_btf. TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
SEC("tp_btf/sched_process_exec")
int exec_btf(u64 *ctx)
{
	struct task_struct *p = (void *)ctx[0];
	struct linux_binprm *bprm = (void *)ctx[2];
	return on_exec(p, BPF_CORE_READ(bprm, filename));
}

// TP_PROTO(struct task_struct *p) before 6.16, (p, bool group_dead) since: only p is used.
SEC("tp_btf/sched_process_exit")
int exit_btf(u64 *ctx)
{
	return on_exit((void *)ctx[0]);
}

// Rung 2: raw_tracepoint, the same arguments untyped.
SEC("raw_tracepoint/sched_process_exec")
int exec_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *p = (void *)ctx->args[0];
	struct linux_binprm *bprm = (void *)ctx->args[2];
	return on_exec(p, BPF_CORE_READ(bprm, filename));
}

SEC("raw_tracepoint/sched_process_exit")
int exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_exit((void *)ctx->args[0]);
}

// Rung 3: classic tracepoint. The trace record has the filename (__data_loc:
// offset in the low 16 bits); the task is current.
SEC("tracepoint/sched/sched_process_exec")
int exec_tp(struct trace_event_raw_sched_process_exec *ctx)
{
	unsigned int loc = ctx->__data_loc_filename;
	return on_exec((void *)bpf_get_current_task(), (const char *)ctx + (loc & 0xFFFF));
}

SEC("tracepoint/sched/sched_process_exit")
int exit_tp(void *ctx)
{
	return on_exit((void *)bpf_get_current_task());
}
