//go:build linux

package bpf

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/procfs"
)

func openTaskIterT(t testing.TB) *TaskIter {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	it, err := OpenTaskIter()
	if err != nil {
		t.Fatalf("OpenTaskIter: %v", err)
	}
	t.Cleanup(func() { it.Close() })
	return it
}

// procInfo is what /proc says about one process.
type procInfo struct {
	ppid, threads     int
	start             uint64 // USER_HZ ticks since boot
	cpuTicks          uint64 // utime + stime
	comm              string
	uid               uint32
	rss               int64 // pages
	cgroupID, memcg   uint64
	kthread           bool
	exiting           bool // PF_EXITING: /proc shows v1 cgroups as "/"
	cgroupOK, memcgOK bool
}

func procPids(t *testing.T) map[int]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	pids := make(map[int]bool)
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids[pid] = true
		}
	}
	return pids
}

func inode(path string) (uint64, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, false
	}
	return st.Ino, true
}

// readProc reads /proc/<pid>/{stat,status,statm,cgroup}; false if it is gone.
func readProc(pid int) (procInfo, bool) {
	var p procInfo
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return p, false
	}
	open, close := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || close < 0 {
		return p, false
	}
	p.comm = string(stat[open+1 : close])
	f := strings.Fields(string(stat[close+2:]))
	// f[0] is field 3 (state).
	p.ppid, _ = strconv.Atoi(f[1])
	flags, _ := strconv.ParseUint(f[6], 10, 32)
	p.kthread = flags&0x00200000 != 0
	p.exiting = flags&0x4 != 0 || f[0] == "Z" || f[0] == "X"
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	p.cpuTicks = ut + st
	p.threads, _ = strconv.Atoi(f[17])
	p.start, _ = strconv.ParseUint(f[19], 10, 64)

	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return p, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			u, _ := strconv.ParseUint(strings.Fields(v)[0], 10, 32)
			p.uid = uint32(u)
		}
	}
	statm, err := os.ReadFile(dir + "/statm")
	if err != nil {
		return p, false
	}
	p.rss, _ = strconv.ParseInt(strings.Fields(string(statm))[1], 10, 64)

	cg, err := os.ReadFile(dir + "/cgroup")
	if err != nil {
		return p, false
	}
	for _, line := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			p.cgroupID, p.cgroupOK = inode("/sys/fs/cgroup/unified" + parts[2])
		case parts[1] == "memory" || strings.Contains(","+parts[1]+",", ",memory,"):
			p.memcg, p.memcgOK = inode("/sys/fs/cgroup/memory" + parts[2])
		}
	}
	return p, true
}

// TestTaskIterMatchesProc compares the iterator with /proc, read back to back:
// /proc before, the iterator, /proc after. A field must match exactly when it
// did not change between the two /proc reads.
func TestTaskIterMatchesProc(t *testing.T) {
	it := openTaskIterT(t)
	pids1 := procPids(t)
	before := make(map[int]procInfo, len(pids1))
	for pid := range pids1 {
		if p, ok := readProc(pid); ok {
			before[pid] = p
		}
	}
	var buf []byte
	b, err := it.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%TaskRecordSize != 0 {
		t.Fatalf("read %d bytes, not a multiple of %d", len(b), TaskRecordSize)
	}
	recs := make(map[int]TaskRecord)
	it.Each(b, func(r *TaskRecord) {
		if _, dup := recs[int(r.Tgid)]; dup {
			t.Errorf("tgid %d twice", r.Tgid)
		}
		recs[int(r.Tgid)] = *r
	})
	pids2 := procPids(t)

	both, common := 0, 0
	for pid := range pids1 {
		if !pids2[pid] {
			continue
		}
		both++
		if _, ok := recs[pid]; ok {
			common++
		} else {
			t.Logf("pid %d (%s) in both /proc reads, not in the iterator", pid, before[pid].comm)
		}
	}
	overlap := float64(common) / float64(both)
	t.Logf("/proc: %d pids before, %d after, %d in both; iterator: %d records, %d in both /proc reads (%.1f%%)",
		len(pids1), len(pids2), both, len(recs), common, 100*overlap)
	if overlap < 0.95 {
		t.Errorf("overlap %.1f%% < 95%%", 100*overlap)
	}
	for tgid := range recs {
		if !pids1[tgid] && !pids2[tgid] {
			t.Logf("tgid %d from the iterator in neither /proc read", tgid)
		}
	}

	const hz = 100
	var checked, kthreads, rssChecked, rssOff10, cgChecked, memcgChecked, thrChecked, cgMismatch, cgMoved, exiting, transient int
	// percpu_counter_batch is max(32, 2*nr_cpus); three counters (file, anon, shmem).
	ncpu := int64(runtime.NumCPU())
	rssBatch := 3 * ncpu * max(32, 2*ncpu)
	mismatch := func(pid int, field string, bpf, proc any) {
		t.Errorf("pid %d %s: iterator %v, /proc %v", pid, field, bpf, proc)
	}
	for pid, a := range before {
		r, ok := recs[pid]
		if !ok {
			continue
		}
		z, ok := readProc(pid)
		if !ok || z.start != a.start {
			continue // gone (or reused) since
		}
		checked++
		if a.kthread {
			kthreads++
		}
		if (r.Flags&TaskKthread != 0) != a.kthread {
			mismatch(pid, "kthread", r.Flags&TaskKthread != 0, a.kthread)
		}
		if got := r.StartNs / (1e9 / hz); got != a.start {
			mismatch(pid, "start", got, a.start)
		}
		if a.ppid == z.ppid && int(r.Ppid) != a.ppid {
			mismatch(pid, "ppid", r.Ppid, a.ppid)
		}
		if a.uid == z.uid && r.UID != a.uid {
			mismatch(pid, "uid", r.UID, a.uid)
		}
		// /proc shows a kernel thread's full name (with a workqueue's
		// description); comm is its first 15 bytes.
		if c := r.CommString(); a.comm == z.comm && c != a.comm && !(a.kthread && strings.HasPrefix(a.comm, c)) {
			mismatch(pid, "comm", c, a.comm)
		}
		// Processes being moved between cgroups while we read (runc placing a
		// container's first process, from other packages' tests running
		// concurrently) can show another cgroup in each read: a mismatch is
		// re-checked once against a third read, and the few left are tolerated.
		if a.cgroupOK && z.cgroupOK && a.cgroupID == z.cgroupID {
			cgChecked++
			if r.CgroupID != a.cgroupID {
				if w, ok := readProc(pid); ok && w.cgroupID == r.CgroupID {
					cgMoved++
				} else {
					cgMismatch++
					t.Logf("pid %d (%s) cgroup v2 id: iterator %d, /proc %d", pid, a.comm, r.CgroupID, a.cgroupID)
				}
			}
		}
		// An exiting or zombie task shows "/" for every v1 hierarchy in
		// /proc/<pid>/cgroup (proc_cgroup_show), while its css_set, which the
		// iterator reads, stays its cgroup's until it is reaped: containerd
		// shims of containers that other packages' tests remove look like this.
		if a.exiting || z.exiting {
			exiting++
		} else if a.memcgOK && z.memcgOK && a.memcg == z.memcg {
			memcgChecked++
			if r.MemcgID != a.memcg {
				if w, ok := readProc(pid); ok && w.memcg == r.MemcgID {
					cgMoved++
				} else {
					cgMismatch++
					t.Logf("pid %d (%s) memory cgroup id: iterator %d, /proc %d", pid, a.comm, r.MemcgID, a.memcg)
				}
			}
		}
		// A process that exec'd (runc becoming a container's command) or is
		// exiting between the reads can show a new or released mm and thread
		// count in each: threads and rss are compared only when it did not.
		if a.exiting || z.exiting || a.comm != z.comm || (!a.kthread && r.CommString() != a.comm) {
			transient++
			continue
		}
		if a.threads == z.threads {
			thrChecked++
			if int(r.Threads) != a.threads {
				mismatch(pid, "threads", r.Threads, a.threads)
			}
		}
		// /proc's utime+stime are scaled to the same sum_exec_runtime and
		// truncated to ticks; read before the iterator, so no larger.
		floor := int64(a.cpuTicks)*(1e9/hz) - int64(a.threads)*(1e9/hz)
		if r.Flags&TaskTruncated == 0 && int64(r.CPUNs) < floor {
			mismatch(pid, "cpu ns", r.CPUNs, a.cpuTicks)
		}
		// The iterator reads the rss percpu_counters' .count; /proc sums the
		// per-CPU deltas too, each at most the batch, per counter and CPU.
		lo, hi := min(a.rss, z.rss), max(a.rss, z.rss)
		rss := r.RSS()
		if rss < lo*9/10 || rss > hi*11/10 {
			rssOff10++
			if rss < lo-rssBatch || rss > hi+rssBatch {
				mismatch(pid, "rss pages", rss, [2]int64{a.rss, z.rss})
			} else {
				t.Logf("pid %d rss pages: iterator %d, /proc %d..%d: off by more than 10%%, within the per-CPU batch (%d)", pid, rss, lo, hi, rssBatch)
			}
		}
		if lo > 0 {
			rssChecked++
		}
	}
	t.Logf("compared %d processes (%d kernel threads): cgroup v2 id %d, memcg id %d, threads %d, rss>0 %d (%d off by >10%%)",
		checked, kthreads, cgChecked, memcgChecked, thrChecked, rssChecked, rssOff10)
	if checked == 0 || cgChecked == 0 || rssChecked == 0 {
		t.Error("nothing compared")
	}
	if transient > 0 {
		t.Logf("%d processes exec'd or exiting between the reads: threads and rss not compared", transient)
	}
	if exiting > 0 {
		t.Logf("%d exiting or zombie processes: memory cgroup not compared", exiting)
	}
	if cgMoved > 0 {
		t.Logf("%d cgroup ids differed from the first /proc read and matched a third: processes being moved", cgMoved)
	}
	if limit := max(1, (cgChecked+memcgChecked)/50); cgMismatch > limit {
		t.Errorf("%d cgroup id mismatches of %d compared, more than %d", cgMismatch, cgChecked+memcgChecked, limit)
	}
}

func TestTaskIterSelf(t *testing.T) {
	it := openTaskIterT(t)
	var buf []byte
	b, err := it.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	self := int32(os.Getpid())
	found := false
	it.Each(b, func(r *TaskRecord) {
		if r.Tgid != self {
			return
		}
		found = true
		if r.Flags&TaskKthread != 0 || r.CPUNs == 0 || r.RSSAnon <= 0 || r.TotalVM == 0 || r.Threads < 2 || r.MinFlt == 0 {
			t.Errorf("self: %+v", *r)
		}
	})
	if !found {
		t.Fatalf("own pid %d not in %d bytes", self, len(b))
	}
}

func TestTaskIterCloseTwice(t *testing.T) {
	it := openTaskIterT(t)
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	if _, err := it.Read(&buf); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}

func TestTaskIterAllocs(t *testing.T) {
	it := openTaskIterT(t)
	var buf []byte
	if _, err := it.Read(&buf); err != nil {
		t.Fatal(err)
	}
	buf = make([]byte, 0, 4*cap(buf)) // room for processes started meanwhile
	var sum uint64
	fn := func(r *TaskRecord) { sum += r.CPUNs }
	allocs := testing.AllocsPerRun(50, func() {
		b, err := it.Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		it.Each(b, fn)
	})
	if allocs != 0 {
		t.Errorf("Read + EachTask: %v allocs per run, want 0", allocs)
	}
}

func TestDecodeTaskShort(t *testing.T) {
	var r TaskRecord
	if _, err := DecodeTask(make([]byte, TaskRecordSize-1), &r); err != ErrShortTaskRecord {
		t.Fatalf("err %v", err)
	}
}

// BenchmarkTaskIter is one snapshot of every process: create the iterator, read
// all records into a reused buffer, decode each.
func BenchmarkTaskIter(b *testing.B) {
	it := openTaskIterT(b)
	var buf []byte
	var sum uint64
	fn := func(r *TaskRecord) { sum += r.CPUNs + uint64(r.RSS()) }
	procs := 0
	b.ReportAllocs()
	for b.Loop() {
		data, err := it.Read(&buf)
		if err != nil {
			b.Fatal(err)
		}
		procs += it.Each(data, fn)
	}
	if procs > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(procs), "ns/proc")
		b.ReportMetric(float64(procs)/float64(b.N), "procs/op")
	}
}

// TestTaskRecordLayout checks DecodeTask's fixed offsets against the Go mirror
// bpf2go generated from struct task_rec's BTF: a record with a distinct value in
// every field, viewed as bytes, must decode to the same values.
func TestTaskRecordLayout(t *testing.T) {
	t.Parallel()
	if got := unsafe.Sizeof(taskiterTaskRec{}); got != TaskRecordSize {
		t.Fatalf("sizeof(struct task_rec) = %d, TaskRecordSize = %d", got, TaskRecordSize)
	}
	c := taskiterTaskRec{
		Tgid: 1, Ppid: 2, Uid: 3, State: 4, Flags: 5, NrThreads: 6,
		StartNs: 7, CpuNs: 8, UtimeNs: 9, StimeNs: 10, RssFile: 11, RssAnon: 12,
		RssShmem: 13, TotalVm: 14, MinFlt: 15, MajFlt: 16, Nvcsw: 17, Nivcsw: 18,
		CgroupId: 19, MemcgId: 20,
		Syscr: 23, Syscw: 24, ReadBytes: 25, WriteBytes: 26,
	}
	for i := range c.Comm {
		c.Comm[i] = int8('a' + i)
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&c)), unsafe.Sizeof(c))
	var r TaskRecord
	if n, err := DecodeTask(b, &r); err != nil || n != TaskRecordSize {
		t.Fatalf("DecodeTask: %d, %v", n, err)
	}
	want := TaskRecord{
		Tgid: 1, Ppid: 2, UID: 3, State: 4, Flags: 5, Threads: 6,
		StartNs: 7, CPUNs: 8, UtimeNs: 9, StimeNs: 10, RSSFile: 11, RSSAnon: 12,
		RSSShmem: 13, TotalVM: 14, MinFlt: 15, MajFlt: 16, Nvcsw: 17, Nivcsw: 18,
		CgroupID: 19, MemcgID: 20,
		IO: TaskIO{SyscR: 23, SyscW: 24, ReadBytes: 25, WriteBytes: 26},
	}
	copy(want.Comm[:], "abcdefghijklmnop")
	if r != want {
		t.Errorf("decoded %+v\nwant    %+v", r, want)
	}
}

// readProcIO reads /proc/<pid>/io (pid 0: self) through prometheus/procfs, the
// independent oracle.
func readProcIO(t *testing.T, pid int) TaskIO {
	t.Helper()
	var p procfs.Proc
	var err error
	if pid == 0 {
		p, err = procfs.Self()
	} else {
		p, err = procfs.NewProc(pid)
	}
	if err != nil {
		t.Fatal(err)
	}
	io, err := p.IO()
	if err != nil {
		t.Fatal(err)
	}
	return TaskIO{SyscR: io.SyscR, SyscW: io.SyscW, ReadBytes: io.ReadBytes, WriteBytes: io.WriteBytes}
}

func ioBetween(lo, v, hi TaskIO) bool {
	l := []uint64{lo.SyscR, lo.SyscW, lo.ReadBytes, lo.WriteBytes}
	x := []uint64{v.SyscR, v.SyscW, v.ReadBytes, v.WriteBytes}
	h := []uint64{hi.SyscR, hi.SyscW, hi.ReadBytes, hi.WriteBytes}
	for i := range l {
		if x[i] < l[i] || x[i] > h[i] {
			return false
		}
	}
	return true
}

// TestTaskIterIO compares the iterator's io figures with /proc/<pid>/io: exactly
// for a quiet single-threaded process that wrote and fsync'ed a file, and
// between two /proc reads for this multi-threaded test process after its
// threads did IO (the thread walk, with dead threads' counts in signal->ioac).
func TestTaskIterIO(t *testing.T) {
	it := openTaskIterT(t)
	dir := t.TempDir()
	cmd := exec.Command("/bin/sh", "-c", `dd if=/dev/zero of="$1" bs=64k count=16 conv=fsync 2>/dev/null && exec sleep 60`, "sh", filepath.Join(dir, "child"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	child := cmd.Process.Pid
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, _ := os.ReadFile("/proc/" + strconv.Itoa(child) + "/comm"); string(c) == "sleep\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child did not reach sleep")
		}
	}
	// Threads that do IO and exit (their counts move to signal->ioac) and
	// goroutines on live threads.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				runtime.LockOSThread() // the thread exits with the goroutine
			}
			f := filepath.Join(dir, "t"+strconv.Itoa(i))
			if err := os.WriteFile(f, bytes.Repeat([]byte{1}, 256<<10), 0o600); err != nil {
				t.Error(err)
			}
			if _, err := os.ReadFile(f); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()

	want := readProcIO(t, child)
	before := readProcIO(t, 0)
	var buf []byte
	b, err := it.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	after := readProcIO(t, 0)
	self, seen := int32(os.Getpid()), 0
	it.Each(b, func(r *TaskRecord) {
		switch r.Tgid {
		case int32(child):
			seen++
			if r.Flags&TaskHasIO == 0 || r.IO != want {
				t.Errorf("child io: iterator %+v (flags %d), /proc %+v", r.IO, r.Flags, want)
			}
			if r.IO.WriteBytes < 1<<20 || r.IO.SyscW < 16 {
				t.Errorf("child wrote and fsync'ed 1 MiB in 16 writes: %+v", r.IO)
			}
		case self:
			seen++
			if r.Flags&TaskHasIO == 0 || !ioBetween(before, r.IO, after) {
				t.Errorf("self io: iterator %+v (flags %d), not between /proc's %+v and %+v", r.IO, r.Flags, before, after)
			}
			if r.IO.SyscW < 4 || r.IO.SyscR < 4 {
				t.Errorf("self's threads wrote and read 4 files: %+v", r.IO)
			}
		}
	})
	if seen != 2 {
		t.Fatalf("child %d or self %d missing from the iterator", child, self)
	}
}
