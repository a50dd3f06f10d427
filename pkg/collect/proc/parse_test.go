package proc

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const kthreadStat = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 12 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
const catStat = "4082 (cat) R 4080 4080 1051 0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 19657 3133440 359 18446744073709551615 94673842696192 94673842716073 140735189522768 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94673842732080 94673842733696 94674827882496 140735189527236 140735189527256 140735189527256 140735189528555 0\n"

func comm(s string) (c [CommSize]byte, n uint8) { return c, uint8(copy(c[:], s)) }

func TestParseStat(t *testing.T) {
	t.Parallel()
	mk := func(pid int32, name string, state byte, f func(*Stat)) Stat {
		s := Stat{PID: pid, State: state}
		s.Comm, s.CommLen = comm(name)
		f(&s)
		return s
	}
	tests := []struct {
		name    string
		in      string
		want    Stat
		wantErr string
	}{
		{name: "kthread", in: kthreadStat, want: mk(2, "kthreadd", 'S', func(s *Stat) {
			s.TTY, s.TPGID, s.Flags, s.Priority, s.NumThreads, s.StartTime = 0, -1, 2129984, 20, 1, 12
			s.RSSLimit = 18446744073709551615
			s.Processor, s.Has = 1, StatProcessor|StatRTPriority|StatPolicy|StatDelayAcct|StatGuestTime|StatCGuestTime
		})},
		{name: "cat", in: catStat, want: mk(4082, "cat", 'R', func(s *Stat) {
			s.PPID, s.PGRP, s.Session, s.TPGID, s.Flags, s.MinFlt = 4080, 4080, 1051, -1, 4194304, 98
			s.Priority, s.NumThreads, s.StartTime, s.VSize, s.RSS = 20, 1, 19657, 3133440, 359
			s.RSSLimit = 18446744073709551615
			s.Processor, s.Has = 1, StatProcessor|StatRTPriority|StatPolicy|StatDelayAcct|StatGuestTime|StatCGuestTime
		})},
		{name: "comm with parens, spaces and newline",
			in: "4242 (a) b\nc) (x) S 1 2 3 4 5 6 7 8 9 10 11 12 -13 -14 -2 -20 3 0 99 4096 7 100\n",
			want: mk(4242, "a) b\nc) (x", 'S', func(s *Stat) {
				s.PPID, s.PGRP, s.Session, s.TTY, s.TPGID, s.Flags = 1, 2, 3, 4, 5, 6
				s.MinFlt, s.CMinFlt, s.MajFlt, s.CMajFlt, s.UTime, s.STime = 7, 8, 9, 10, 11, 12
				s.CUTime, s.CSTime, s.Priority, s.Nice, s.NumThreads = -13, -14, -2, -20, 3
				s.StartTime, s.VSize, s.RSS, s.RSSLimit = 99, 4096, 7, 100
			})},
		{name: "empty comm", in: "7 () Z 1 0 0 0 0 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0\n",
			want: mk(7, "", 'Z', func(s *Stat) { s.PPID, s.Priority, s.NumThreads, s.StartTime = 1, 20, 1, 5 })},
		{name: "long kworker comm truncated",
			in: "9 (" + strings.Repeat("k", 80) + ") I 2 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0\n",
			want: mk(9, strings.Repeat("k", CommSize), 'I', func(s *Stat) {
				s.PPID, s.TPGID, s.Priority, s.NumThreads, s.StartTime = 2, -1, 20, 1, 5
			})},
		{name: "empty", in: "", wantErr: "stat: comm: invalid syntax"},
		{name: "no close paren", in: "1 (init S 0", wantErr: "stat: comm: invalid syntax"},
		{name: "truncated after comm", in: "1 (init)", wantErr: "stat: state: too few fields"},
		{name: "truncated in numbers", in: "1 (init) S 0 1 1 0 -1 4194560 100", wantErr: "stat: cminflt: too few fields"},
		{name: "garbage utime", in: "1 (init) S 0 1 1 0 -1 4194560 100 0 0 0 1x 0 0 0 20 0 1 0 5 0 0 0", wantErr: "stat: utime: invalid syntax"},
		{name: "overflow utime", in: "1 (init) S 0 1 1 0 -1 4194560 100 0 0 0 18446744073709551616 0 0 0 20 0 1 0 5 0 0 0", wantErr: "stat: utime: value out of range"},
		{name: "pid overflow", in: "99999999999 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0", wantErr: "stat: pid: value out of range"},
		{name: "bad pid", in: "abc (x) S", wantErr: "stat: pid: invalid syntax"},
		{name: "two-letter state", in: "1 (x) SS 0", wantErr: "stat: state: invalid syntax"},
		{name: "non-utf8", in: "1 (\xff\xfe) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0",
			want: mk(1, "\xff\xfe", 'S', func(s *Stat) { s.PGRP, s.Session, s.TPGID, s.Priority, s.NumThreads, s.StartTime = 1, 1, -1, 20, 1, 5 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Stat
			err := ParseStat([]byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseStat(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("ParseStat(%q) error %T is not a *ParseError", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseStat(%q) error = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseStat(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseStatm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Statm
		wantErr string
	}{
		{in: "765 421 393 5 0 123 0\n", want: Statm{765, 421, 393, 5, 0, 123, 0}},
		{in: "0 0 0 0 0 0 0\n", want: Statm{}},
		{in: "765 421 393", wantErr: "statm: text: too few fields"},
		{in: "", wantErr: "statm: size: too few fields"},
		{in: "1 2 3 4 5 x 7", wantErr: "statm: data: invalid syntax"},
		{in: "99999999999999999999 2 3 4 5 6 7", wantErr: "statm: size: value out of range"},
	}
	for _, tt := range tests {
		var got Statm
		err := ParseStatm([]byte(tt.in), &got)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseStatm(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseStatm(%q) = %+v, %v, want %+v", tt.in, got, err, tt.want)
		}
	}
}

const catStatus = "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t4085\nNgid:\t0\nPid:\t4085\nPPid:\t4080\nTracerPid:\t0\n" +
	"Uid:\t1000\t1001\t1002\t1003\nGid:\t100\t101\t102\t103\nFDSize:\t256\nGroups:\t \nNStgid:\t4085\t12\nNSpid:\t4085\t12\nNSpgid:\t4080\nNSsid:\t1051\nKthread:\t0\n" +
	"VmPeak:\t    3060 kB\nVmSize:\t    3060 kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\nVmHWM:\t    1724 kB\nVmRSS:\t    1724 kB\n" +
	"RssAnon:\t     112 kB\nRssFile:\t    1612 kB\nRssShmem:\t       0 kB\nVmData:\t     360 kB\nVmStk:\t     132 kB\nVmExe:\t      20 kB\n" +
	"VmLib:\t    1528 kB\nVmPTE:\t      40 kB\nVmSwap:\t       0 kB\nHugetlbPages:\t       0 kB\nCoreDumping:\t0\nTHP_enabled:\t1\n" +
	"untag_mask:\t0xffffffffffffffff\nThreads:\t1\nSigQ:\t1/96364\nCpus_allowed_list:\t0-1\nvoluntary_ctxt_switches:\t7\nnonvoluntary_ctxt_switches:\t3\n"

const kthreadStatus = "Name:\tkthreadd\nUmask:\t0000\nState:\tS (sleeping)\nTgid:\t2\nNgid:\t0\nPid:\t2\nPPid:\t0\nTracerPid:\t0\n" +
	"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t64\nGroups:\t \nNStgid:\t2\nNSpid:\t2\nNSpgid:\t0\nNSsid:\t0\nKthread:\t1\nThreads:\t1\n" +
	"voluntary_ctxt_switches:\t100\nnonvoluntary_ctxt_switches:\t0\n"

func TestParseStatus(t *testing.T) {
	t.Parallel()
	all := StatusState | StatusTgid | StatusPPID | StatusUID | StatusGID | StatusThreads | StatusFDSize | StatusNSpid | StatusKthread |
		StatusVolCtxt | StatusNonVolCtxt
	vm := StatusVmPeak | StatusVmSize | StatusVmHWM | StatusVmRSS | StatusRssAnon | StatusRssFile | StatusRssShmem | StatusVmData | StatusVmSwap | StatusHugetlb
	tests := []struct {
		name    string
		in      string
		want    Status
		wantErr string
	}{
		{name: "user process", in: catStatus, want: Status{
			Has: all | vm, State: 'R', Tgid: 4085, PPID: 4080,
			UID: [4]uint32{1000, 1001, 1002, 1003}, GID: [4]uint32{100, 101, 102, 103},
			Threads: 1, VmPeak: 3060 << 10, VmSize: 3060 << 10, VmHWM: 1724 << 10, VmRSS: 1724 << 10,
			RssAnon: 112 << 10, RssFile: 1612 << 10, VmData: 360 << 10, VolCtxt: 7, NonVolCtxt: 3, NSpid: 12, FDSize: 256,
		}},
		{name: "kernel thread has no Vm lines", in: kthreadStatus, want: Status{
			Has: all, State: 'S', Tgid: 2, NSpid: 2, Kthread: true, Threads: 1, VolCtxt: 100, FDSize: 64,
		}},
		{name: "missing uid", in: "State:\tS (sleeping)\nGid:\t0\t0\t0\t0\n", wantErr: "status: Uid: missing"},
		{name: "short uid", in: "State:\tS\nUid:\t0\t0\nGid:\t0\t0\t0\t0\n", wantErr: "status: Uid: too few fields"},
		{name: "bad rss", in: "State:\tS\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nVmRSS:\t 12x kB\n", wantErr: "status: VmRSS: invalid syntax"},
		{name: "uid overflow", in: "State:\tS\nUid:\t4294967296\t0\t0\t0\nGid:\t0\t0\t0\t0\n", wantErr: "status: Uid: value out of range"},
		{name: "empty", in: "", wantErr: "status: State: missing"},
		{name: "empty state", in: "State:\t\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", wantErr: "status: State: invalid syntax"},
		{name: "truncated last line", in: "State:\tZ (zombie)\nUid:\t5\t5\t5\t5\nGid:\t6\t6\t6\t6\nThreads:\t1",
			want: Status{Has: StatusState | StatusUID | StatusGID | StatusThreads, State: 'Z',
				UID: [4]uint32{5, 5, 5, 5}, GID: [4]uint32{6, 6, 6, 6}, Threads: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Status
			err := ParseStatus([]byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseStatus(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseStatus(%q) error = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseStatus(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseIO(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    IO
		wantErr string
	}{
		{in: "rchar: 6976\nwchar: 1\nsyscr: 10\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 3\n",
			want: IO{6976, 1, 10, 2, 4096, 8192, 3}},
		{in: "rchar: 1\nwchar: 1\nsyscr: 1\nsyscw: 1\nread_bytes: 1\nwrite_bytes: 1\n", wantErr: "io: cancelled_write_bytes: missing"},
		{in: "", wantErr: "io: rchar: missing"},
		{in: "rchar: -1\n", wantErr: "io: rchar: invalid syntax"},
		{in: "garbage\n", wantErr: "io: line: invalid syntax"},
	}
	for _, tt := range tests {
		var got IO
		err := ParseIO([]byte(tt.in), &got)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseIO(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseIO(%q) = %+v, %v, want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
		join string
	}{
		{in: "/bin/sh\x00-c\x00sleep 10\x00", want: []string{"/bin/sh", "-c", "sleep 10"}, join: "/bin/sh -c sleep 10"},
		{in: "", want: nil, join: ""},
		{in: "nginx: master process /usr/sbin/nginx", want: []string{"nginx:", "master", "process", "/usr/sbin/nginx"}, join: "nginx: master process /usr/sbin/nginx"},
		{in: "postgres: writer   \x00\x00\x00", want: []string{"postgres:", "writer"}, join: "postgres: writer   "},
		{in: "a\x00\x00b\x00", want: []string{"a", "", "b"}, join: "a  b"},
	}
	for _, tt := range tests {
		got := Args([]byte(tt.in), nil)
		var gs []string
		for _, a := range got {
			gs = append(gs, string(a))
		}
		if diff := cmp.Diff(tt.want, gs); diff != "" {
			t.Errorf("Args(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
		if j := string(AppendJoined(nil, []byte(tt.in))); j != tt.join {
			t.Errorf("AppendJoined(%q) = %q, want %q", tt.in, j, tt.join)
		}
	}
}

func TestParseCgroups(t *testing.T) {
	t.Parallel()
	in := "9:name=systemd:/docker/abc\n4:memory,foo:/ecs/task/abc\n1:cpu:/\n0::/system.slice/docker-abc.scope\n"
	var c Cgroups
	if err := ParseCgroups([]byte(in), &c); err != nil {
		t.Fatalf("ParseCgroups(%q) error = %v", in, err)
	}
	if len(c.Lines) != 4 {
		t.Fatalf("ParseCgroups(%q) = %d lines, want 4", in, len(c.Lines))
	}
	check := func(what string, got []byte, ok bool, want string) {
		t.Helper()
		if !ok || string(got) != want {
			t.Errorf("%s = %q, %v, want %q", what, got, ok, want)
		}
	}
	p, ok := c.Unified()
	check("Unified", p, ok, "/system.slice/docker-abc.scope")
	p, ok = c.Controller("memory")
	check("Controller(memory)", p, ok, "/ecs/task/abc")
	p, ok = c.Controller("foo")
	check("Controller(foo)", p, ok, "/ecs/task/abc")
	p, ok = c.Controller("name=systemd")
	check("Controller(name=systemd)", p, ok, "/docker/abc")
	if _, ok := c.Controller("blkio"); ok {
		t.Errorf("Controller(blkio) found, want absent")
	}
	// c must not alias its input.
	b := []byte(in)
	_ = ParseCgroups(b, &c)
	for i := range b {
		b[i] = 'x'
	}
	p, _ = c.Controller("memory")
	check("Controller(memory) after input overwritten", p, true, "/ecs/task/abc")

	for _, bad := range []string{"x:cpu:/", "1-cpu-/", "1:cpu/", "99999999999:cpu:/"} {
		if err := ParseCgroups([]byte(bad), &c); err == nil {
			t.Errorf("ParseCgroups(%q) = nil error, want one", bad)
		}
	}
	if err := ParseCgroups(make([]byte, MaxCgroupFile+1), &c); err == nil {
		t.Errorf("ParseCgroups(huge) = nil error, want one")
	}
}

func TestParsersDoNotAllocate(t *testing.T) {
	stat, status, statm, io := []byte(catStat), []byte(catStatus), []byte("765 421 393 5 0 123 0\n"),
		[]byte("rchar: 6976\nwchar: 1\nsyscr: 10\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 3\n")
	cg := []byte("9:name=systemd:/docker/abc\n4:memory:/docker/abc\n0::/\n")
	cmd := []byte("/bin/sh\x00-c\x00sleep 10\x00")
	var (
		s   Stat
		st  Status
		sm  Statm
		ss  StatusSample
		sch Schedstat
		i   IO
		c   Cgroups
		arg [][]byte
		j   []byte
	)
	_ = ParseCgroups(cg, &c)
	arg = Args(cmd, arg)
	j = AppendJoined(j[:0], cmd)
	for name, f := range map[string]func(){
		"ParseStat":         func() { _ = ParseStat(stat, &s) },
		"ParseStatus":       func() { _ = ParseStatus(status, &st) },
		"ParseStatm":        func() { _ = ParseStatm(statm, &sm) },
		"ParseStatusSample": func() { _ = ParseStatusSample(status, &ss) },
		"ParseSchedstat":    func() { _ = ParseSchedstat([]byte("112488416 5718439 350\n")[:], &sch) },
		"ParseIO":           func() { _ = ParseIO(io, &i) },
		"ParseCgroups":      func() { _ = ParseCgroups(cg, &c) },
		"Args":              func() { arg = Args(cmd, arg) },
		"AppendJoined":      func() { j = AppendJoined(j[:0], cmd) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times per run, want 0", name, n)
		}
	}
}

func TestParseStatusSample(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    StatusSample
		wantErr string
	}{
		{name: "user process", in: catStatus, want: StatusSample{UID: [4]uint32{1000, 1001, 1002, 1003},
			GID: [4]uint32{100, 101, 102, 103}, VolCtxt: 7, NonVolCtxt: 3, HasVmSwap: true}},
		{name: "kernel thread", in: kthreadStatus, want: StatusSample{VolCtxt: 100}},
		{name: "swap", in: "Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nVmSwap:\t  12 kB\nvoluntary_ctxt_switches:\t9\nnonvoluntary_ctxt_switches:\t10",
			want: StatusSample{UID: [4]uint32{1, 2, 3, 4}, GID: [4]uint32{5, 6, 7, 8}, VmSwap: 12 << 10, HasVmSwap: true, VolCtxt: 9, NonVolCtxt: 10}},
		{name: "empty", in: "", wantErr: "status: Uid: missing"},
		{name: "no gid", in: "Name:\tx\nUid:\t1\t2\t3\t4\n", wantErr: "status: Gid: missing"},
		{name: "no ctxt", in: "Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\n", wantErr: "status: voluntary_ctxt_switches: missing"},
		{name: "bad ctxt", in: "Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nvoluntary_ctxt_switches:\tx\n", wantErr: "status: voluntary_ctxt_switches: invalid syntax"},
		{name: "bad swap", in: "Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nVmSwap:\tkB\n", wantErr: "status: VmSwap: invalid syntax"},
		{name: "short uid", in: "Name:\tx\nUid:\t1\t2\n", wantErr: "status: Uid: too few fields"},
	}
	for _, tt := range tests {
		var got StatusSample
		err := ParseStatusSample([]byte(tt.in), &got)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s: ParseStatusSample(%q) error = %v, want %q", tt.name, tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: ParseStatusSample(%q) = %+v, %v, want %+v", tt.name, tt.in, got, err, tt.want)
		}
	}
}

func TestParseSchedstat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Schedstat
		wantErr string
	}{
		{in: "112488416 5718439 350\n", want: Schedstat{112488416, 5718439, 350}},
		{in: "0 0 0", want: Schedstat{}},
		{in: "1 2", wantErr: "schedstat: timeslices: too few fields"},
		{in: "", wantErr: "schedstat: run_time: too few fields"},
		{in: "x 2 3", wantErr: "schedstat: run_time: invalid syntax"},
	}
	for _, tt := range tests {
		var got Schedstat
		err := ParseSchedstat([]byte(tt.in), &got)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseSchedstat(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSchedstat(%q) = %+v, %v, want %+v", tt.in, got, err, tt.want)
		}
	}
}
