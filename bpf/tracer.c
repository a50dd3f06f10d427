//go:build ignore

// tracer.c: one fixed-size record per process exec, per new thread group (a
// fork that is not CLONE_THREAD) and per thread-group exit, into a BPF ring
// buffer. CO-RE (relocated against the running kernel's BTF by cilium/ebpf at
// load), built by bpf2go (see gen.go).
//
// The same logic is attached in three flavours, one per rung of the fallback
// ladder; user space loads only the three programs of the rung it tries:
//   tp_btf/sched_process_{exec,exit,fork}           BTF-typed arguments (5.5+)
//   raw_tracepoint/sched_process_{exec,exit,fork}   untyped arguments (4.17+)
//   tracepoint/sched/sched_process_{exec,exit,fork} perf trace event (tracefs)
// Every rung needs the ring buffer and bpf_ktime_get_boot_ns (5.8+).

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define TASK_COMM_LEN 16
#define FILENAME_LEN 160
#define EVENT_EXEC 1
#define EVENT_EXIT 2
#define EVENT_FORK 3
// include/linux/sched/signal.h; a macro, so not in BTF. Stable since 2.6.
#define SIGNAL_GROUP_EXIT 0x00000004
// Threads still linked in the group when its last thread exits are summed up to
// this many; threads already released are in signal->sum_sched_runtime.
#define MAX_THREADS 64
// The tracepoint rung finds a fork's child among the last this many entries of
// a task list (see fork_tp).
#define FIND_STEPS 4

// struct event is the record layout; bpf/decode.go reads it at these fixed
// offsets (and a test checks them against the bpf2go-generated type).
struct event {
	__u32 type;          //  0 EVENT_EXEC, EVENT_EXIT or EVENT_FORK
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
	char filename[FILENAME_LEN];  // 96, exec only: exit and fork records end here
};

#define EXEC_SIZE sizeof(struct event)
#define EXIT_SIZE __builtin_offsetof(struct event, filename)
#define FORK_SIZE EXIT_SIZE

// Set by user space at load. A forced wake-up is sent each time the pending
// (unread) data crosses a multiple of wakeup_bytes; otherwise records are
// submitted without waking the reader, which polls on a timer. 0: wake per record.
const volatile __u64 wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 21); // overridden at load (Options.RingSize)
} events SEC(".maps");

// Records that did not fit in the ring, and forks whose child the tracepoint
// rung could not find (see fork_tp): events user space will never see.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

// Processes whose exit was reported, keyed by their signal_struct: two threads
// ending at once can both read signal->live as 0 (each reads it after both
// decrements), so the first to insert reports the exit and the other stays
// quiet. A fork deletes the key of the new process's signal_struct, whose
// memory may have held an exited process's before.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} exited SEC(".maps");


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

// cset_memcg_id returns the memory controller's cgroup id of a css_set.
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

static __always_inline __u64 memcg_id(struct task_struct *task)
{
	return cset_memcg_id(BPF_CORE_READ(task, cgroups));
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
	__u64 key = (__u64)sig;
	__u8 one = 1;
	if (bpf_map_update_elem(&exited, &key, &one, BPF_NOEXIST) != 0)
		return 0; // another thread of the group reported it

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

// on_fork records a new thread group. child is the new task, not yet run
// (sched_process_fork fires in the parent, after copy_process, before the
// child is woken); everything is read from it, so CLONE_PARENT and
// CLONE_INTO_CGROUP are reported as they are. The credentials are the parent's
// (current's), which the child shares or got a copy of.
static __always_inline int on_fork(struct task_struct *child)
{
	__s32 tgid = BPF_CORE_READ(child, tgid);

	// CLONE_THREAD: a new thread of an existing process, not a process.
	if (BPF_CORE_READ(child, pid) != tgid)
		return 0;
	__u64 key = (__u64)BPF_CORE_READ(child, signal);
	bpf_map_delete_elem(&exited, &key);

	struct event *e = bpf_ringbuf_reserve(&events, FORK_SIZE, 0);
	if (!e) {
		count_lost();
		return 0;
	}
	__u64 uid_gid = bpf_get_current_uid_gid();

	e->type = EVENT_FORK;
	e->pid = tgid;
	e->tgid = tgid;
	e->ppid = BPF_CORE_READ(child, real_parent, tgid);
	e->uid = (__u32)uid_gid;
	e->gid = (__u32)(uid_gid >> 32);
	// What bpf_get_current_cgroup_id would say in the child.
	struct css_set *cgroups = BPF_CORE_READ(child, cgroups);
	e->cgroup_id = BPF_CORE_READ(cgroups, dfl_cgrp, kn, id);
	e->memcg_id = cset_memcg_id(cgroups);
	e->time_ns = bpf_ktime_get_boot_ns();
	// Set by copy_process before the child is linked; 0 would be a kernel that
	// sets it later.
	e->start_ns = BPF_CORE_READ(child, start_boottime);
	if (!e->start_ns)
		e->start_ns = e->time_ns;
	e->exit_code = 0;
	e->filename_len = 0;
	e->cpu_ns = 0;
	e->maxrss_pages = 0;
	// Copied from the forking thread by dup_task_struct.
	BPF_CORE_READ_INTO(&e->comm, child, comm);
	submit(e, FORK_SIZE);
	return 0;
}

// find_task looks for the task whose pid is pid among the last FIND_STEPS
// entries of the task list at head, linked through the task_struct member at
// offset off, walking back from the tail (where copy_process appends).
static __always_inline struct task_struct *find_task(struct list_head *head, unsigned long off, __s32 pid)
{
	struct list_head *pos = BPF_CORE_READ(head, prev);

	for (int i = 0; i < FIND_STEPS; i++) {
		if (!pos || pos == head)
			break;
		struct task_struct *t = (void *)pos - off;
		if (BPF_CORE_READ(t, pid) == pid)
			return t;
		pos = BPF_CORE_READ(pos, prev);
	}
	return NULL;
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

// TP_PROTO(struct task_struct *parent, struct task_struct *child)
SEC("tp_btf/sched_process_fork")
int fork_btf(u64 *ctx)
{
	return on_fork((void *)ctx[1]);
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

SEC("raw_tracepoint/sched_process_fork")
int fork_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_fork((void *)ctx->args[1]);
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

// The trace record has only the child's pid, not its task (and the comms before
// it are char[16] or, in recent kernels, __data_loc strings: child_pid's offset
// is relocated). current is the parent; copy_process appended the child to the
// tail of one of three lists:
//   current->children               fork, vfork, clone without CLONE_PARENT
//   current->signal->thread_head    CLONE_THREAD: a thread, no record
//   current->real_parent->children  CLONE_PARENT (runc's nsexec does this)
// Only another thread of the same process can have appended since (a clone of
// its own, or an exit reparenting its children to current), so the child is
// among the last FIND_STEPS entries. One not found (only in such a race) is
// counted as lost, so that the consumer reconciles with /proc.
SEC("tracepoint/sched/sched_process_fork")
int fork_tp(struct trace_event_raw_sched_process_fork *ctx)
{
	__s32 pid = ctx->child_pid;
	struct task_struct *parent = (void *)bpf_get_current_task();
	unsigned long sibling = bpf_core_field_offset(struct task_struct, sibling);
	struct task_struct *child = find_task(&parent->children, sibling, pid);

	if (!child) {
		struct signal_struct *sig = BPF_CORE_READ(parent, signal);
		if (find_task(&sig->thread_head, bpf_core_field_offset(struct task_struct, thread_node), pid))
			return 0;
		struct task_struct *rp = BPF_CORE_READ(parent, real_parent);
		child = find_task(&rp->children, sibling, pid);
	}
	if (!child) {
		count_lost();
		return 0;
	}
	return on_fork(child);
}
