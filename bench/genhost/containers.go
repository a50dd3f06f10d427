package genhost

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// workload is what runs in a container: its init process and its other processes.
type workload struct {
	image     string
	cmd       func(c *Container) []string // Config.Cmd
	init      procSpec
	worker    procSpec
	uid       int
	workerUID int
	user      string // Config.User
	env       []string
}

type procSpec struct {
	argv    int // argvPlain, argvFilled, ...
	comm    string
	cmdline func(c *Container, i int) []string
	threads int
	rssMB   int
}

var workloads = []workload{
	{ // the fixture's busybox: sh waiting on sleeps
		image: "public.ecr.aws/docker/library/busybox:1.36",
		cmd:   func(*Container) []string { return []string{"sh", "-c", "sleep 100000 & sleep 100000 & wait"} },
		init: procSpec{argvPlain, "sh", func(*Container, int) []string {
			return []string{"sh", "-c", "sleep 100000 & sleep 100000 & wait"}
		}, 1, 1},
		worker: procSpec{argvPlain, "sleep", func(*Container, int) []string { return []string{"sleep", "100000"} }, 1, 1},
	},
	{ // nginx: argv rewritten, the master without NUL separators
		image: "public.ecr.aws/nginx/nginx:1.27",
		cmd:   func(*Container) []string { return []string{"nginx", "-g", "daemon off;"} },
		init: procSpec{argvFilled, "nginx", func(*Container, int) []string {
			return []string{"nginx: master process nginx -g daemon off;"}
		}, 1, 9},
		worker:    procSpec{argvPadded, "nginx", func(*Container, int) []string { return []string{"nginx: worker process"} }, 1, 5},
		workerUID: 101,
	},
	{ // gunicorn: workers share the master's command line
		image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/%s:2024.11.3",
		cmd:   gunicornArgs,
		init: procSpec{argvPlain, "gunicorn", func(c *Container, _ int) []string {
			return append([]string{"/usr/local/bin/python3.12"}, gunicornArgs(c)...)
		}, 1, 60},
		worker: procSpec{argvPlain, "gunicorn", func(c *Container, _ int) []string {
			return append([]string{"/usr/local/bin/python3.12"}, gunicornArgs(c)...)
		}, 2, 90},
		uid: 1000, workerUID: 1000, user: "1000:1000",
		env: []string{"PYTHONUNBUFFERED=1", "DJANGO_SETTINGS_MODULE=app.settings.production"},
	},
	{ // a JVM with a long class path (about 6 KiB of command line) and a health-check loop
		image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/%s:1.42.0",
		cmd:   func(c *Container) []string { return javaArgs(c) },
		init:  procSpec{argvPlain, "java", func(c *Container, _ int) []string { return javaArgs(c) }, 45, 700},
		worker: procSpec{argvPlain, "sh", func(*Container, int) []string {
			return []string{"/bin/sh", "-c", "while :; do /app/bin/healthcheck; sleep 30; done"}
		}, 1, 1},
		uid: 1000, workerUID: 1000, user: "1000",
		env: []string{"JAVA_TOOL_OPTIONS=-XX:MaxRAMPercentage=75", "SPRING_PROFILES_ACTIVE=production"},
	},
	{ // node as uid 4242, which /etc/passwd does not know
		image: "public.ecr.aws/docker/library/node:22-alpine",
		cmd:   func(*Container) []string { return []string{"node", "/app/server.js"} },
		init:  procSpec{argvPlain, "node", func(*Container, int) []string { return []string{"node", "/app/server.js"} }, 11, 110},
		worker: procSpec{argvPlain, "node", func(_ *Container, i int) []string {
			return []string{"node", "/app/worker.js", "--queue=jobs-" + strconv.Itoa(i)}
		}, 7, 70},
		uid: 4242, workerUID: 4242, user: "4242",
		env: []string{"NODE_ENV=production"},
	},
}

func gunicornArgs(c *Container) []string {
	return []string{"/usr/local/bin/gunicorn", "app.wsgi:application", "--workers", strconv.Itoa(len(c.Pids) - 1), "--bind", "0.0.0.0:8000"}
}

func javaArgs(c *Container) []string {
	var cp strings.Builder
	for i := range 90 {
		if i > 0 {
			cp.WriteByte(':')
		}
		fmt.Fprintf(&cp, "/app/lib/%s-dependency-%02d-1.%d.%d.jar", c.Image[strings.LastIndexByte(c.Image, '/')+1:strings.LastIndexByte(c.Image, ':')], i, i%7, i%13)
	}
	return []string{"java", "-Xms512m", "-Xmx2g", "-XX:+UseG1GC", "-Dspring.profiles.active=production",
		"-Dspring.datasource.password=NOT-A-REAL-SECRET", "-cp", cp.String(), "com.example.Application", "--api-key=NOT-A-REAL-KEY"}
}

var families = []string{"checkout", "payments", "search", "inventory", "notifications", "auth", "catalog", "orders", "gateway", "reports"}
var sidecars = []string{"app", "envoy", "log-router"}

// containers plans the containers: about 60% in ECS tasks of one to three containers.
func (p *planner) containers() {
	r := rng(p.opt.Seed, 2)
	h := p.h
	start := uint64(uptimeCS / 2)
	for len(h.Containers) < p.opt.Containers {
		ecs := r.IntN(10) < 6
		n := 1
		task := -1
		if ecs {
			n = min(1+r.IntN(3), p.opt.Containers-len(h.Containers))
			id := hexID(r, 16)
			fam := families[r.IntN(len(families))]
			cluster := "prod-ecs"
			t := Task{
				ID: id, Cluster: cluster, Family: fam, Revision: 1 + r.IntN(40),
				ARN:    "arn:aws:ecs:us-east-1:123456789012:task/" + cluster + "/" + id,
				Cgroup: taskPath(p.opt.CgroupV2, id),
			}
			h.Tasks = append(h.Tasks, t)
			task = len(h.Tasks) - 1
		}
		for j := range n {
			start += uint64(r.IntN(20000))
			p.container(r, task, j, start)
		}
	}
	for i := range h.Tasks {
		t := &h.Tasks[i]
		var cpu uint64
		for _, ci := range t.Containers {
			c := &h.Containers[ci]
			t.Stats.add(c.Stats)
			cpu += c.Stats.CPUShares
		}
		t.Stats.CPUShares = cpu
		t.Stats.CPUQuotaUS = int64(cpu * 100000 / 1024)
		t.Stats.MemoryLimit = 0
		for _, ci := range t.Containers {
			t.Stats.MemoryLimit += h.Containers[ci].Stats.MemoryLimit
		}
		t.Stats.NrPeriods = t.Stats.CPUUsageNS / 100_000_000 * 3
		t.Stats.NrThrottled = t.Stats.NrPeriods / 50
		t.Stats.ThrottledNS = t.Stats.NrThrottled * 7_000_000
	}
}

func (p *planner) container(r *rand.Rand, task, j int, start uint64) {
	h := p.h
	w := workloads[r.IntN(len(workloads))]
	id := hexID(p.r, 32)
	c := Container{ID: id, Task: task, Labels: map[string]string{}}
	if task >= 0 {
		t := &h.Tasks[task]
		c.ECSName = sidecars[j%len(sidecars)]
		if j == 0 {
			c.ECSName = "app"
		}
		c.Name = fmt.Sprintf("ecs-%s-%d-%s-%s", t.Family, t.Revision, c.ECSName, hexID(p.r, 10))
		c.Labels["com.amazonaws.ecs.cluster"] = t.Cluster
		c.Labels["com.amazonaws.ecs.container-name"] = c.ECSName
		c.Labels["com.amazonaws.ecs.task-arn"] = t.ARN
		c.Labels["com.amazonaws.ecs.task-definition-family"] = t.Family
		c.Labels["com.amazonaws.ecs.task-definition-version"] = strconv.Itoa(t.Revision)
		c.Cgroup = containerPath(p.opt.CgroupV2, t.Cgroup, id)
		c.Stats.CPUShares = uint64(128 << r.IntN(4))
		c.Stats.MemoryLimit = uint64(256<<r.IntN(4)) << 20
		t.Containers = append(t.Containers, len(h.Containers))
	} else {
		fam := families[r.IntN(len(families))]
		c.Name = fmt.Sprintf("%s-worker-%d", fam, len(h.Containers))
		c.Labels["com.datadoghq.tags.env"] = "production"
		c.Labels["com.datadoghq.tags.service"] = fam
		c.Labels["com.datadoghq.tags.version"] = fmt.Sprintf("1.%d.%d", r.IntN(20), r.IntN(10))
		c.Cgroup = cgroupPlainPath(p.opt.CgroupV2, id)
		c.Stats.CPUShares = 1024
		if r.IntN(2) == 0 {
			c.Stats.MemoryLimit = 1 << 30
			c.Stats.PidsLimit = 4096
		}
	}
	c.Stats.CPUQuotaUS = -1
	if task < 0 && r.IntN(3) == 0 {
		c.Stats.CPUQuotaUS = 150000
	}
	c.Image = w.image
	if strings.Contains(c.Image, "%s") {
		fam := "app"
		if task >= 0 {
			fam = h.Tasks[task].Family
		}
		c.Image = fmt.Sprintf(c.Image, fam)
	}
	c.ImageID = "sha256:" + hexID(rng(0, uint64(len(c.Image))<<8|uint64(c.Image[len(c.Image)-1])), 32)
	c.User = w.user
	c.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, w.env...)
	c.Created = int64(bootTime + start/hz)

	// containerd-shim, then the init, then the others.
	shimCg := "/system.slice/containerd.service"
	c.ShimPID = p.add(Proc{Comm: "containerd-shim", PPID: 1, Threads: 10, StartTime: start,
		Cmdline: []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-id", id, "-address", "/run/containerd/containerd.sock"}},
		shimCg, p.user(9, 10, fullCaps))
	n := p.opt.ProcsPerContainer
	c.Pids = make([]int, n)
	idx := make([]int, n) // into h.Procs
	for i := range n {
		s, uid := w.init, w.uid
		ppid := c.ShimPID
		if i > 0 {
			s, uid, ppid = w.worker, w.workerUID, c.Pids[0]
		}
		caps, groups := dockerCaps, []int{uid}
		if uid != 0 {
			caps = ""
		}
		pr := Proc{Comm: s.comm, UID: uid, GID: uid, PPID: ppid, Threads: s.threads, Container: id,
			NSPid: i + 1, StartTime: start + 2 + uint64(i)}
		if i > 0 {
			pr.PGrp, pr.Sid = c.Pids[0], c.Pids[0]
		}
		x := p.user(s.rssMB, s.threads, caps)
		x.seccomp, x.groups, x.argv = true, groups, s.argv
		pr.Cmdline = s.cmdline(&c, i) // len(c.Pids) is already n
		idx[i] = len(h.Procs)
		c.Pids[i] = p.add(pr, c.Cgroup, x)
		p.next += r.IntN(3) / 2
	}
	c.Cmd = w.cmd(&c)

	// The cgroup figures follow from the processes.
	var user, sys, threads, anon, file, rss uint64
	for _, i := range idx {
		pr := &h.Procs[i]
		user += pr.UTime
		sys += pr.STime
		threads += uint64(pr.Threads)
		anon += pr.RSSAnon
		file += pr.RSSFile
		rss += pr.RSS
		c.Stats.PgFault += pr.MinFlt
		c.Stats.PgMajFault += pr.MajFlt
	}
	s := &c.Stats
	s.CPUUserNS = user * 10_000_000
	s.CPUSystemNS = sys * 10_000_000
	s.CPUUsageNS = s.CPUUserNS + s.CPUSystemNS + uint64(r.IntN(10_000_000))
	s.Anon = anon * pageSize
	s.File = file * pageSize / 2 // shared libraries are charged once
	s.KernelStack = threads * 16384
	s.PageTables = uint64(n) * 12 * pageSize
	s.Kernel = s.KernelStack + s.PageTables + 7680 + uint64(r.IntN(256))*pageSize
	s.MemoryUsage = s.Anon + s.File + s.Kernel
	s.MemoryPeak = s.MemoryUsage + uint64(r.IntN(4096))*pageSize
	if s.MemoryLimit != 0 && s.MemoryPeak > s.MemoryLimit {
		s.MemoryLimit = (s.MemoryPeak>>20 + 256) << 20
	}
	s.PidsCurrent = threads
	s.ReadBytes = uint64(r.IntN(1<<16)) * 4096
	s.WriteBytes = uint64(r.IntN(1<<16)) * 4096
	s.Reads = s.ReadBytes / 16384
	s.Writes = s.WriteBytes / 8192
	s.CPUSome = uint64(r.IntN(50_000_000))
	s.CPUFull = s.CPUSome * 9 / 10
	s.MemSome = uint64(r.IntN(1_000_000))
	s.MemFull = s.MemSome / 2
	s.IOSome = uint64(r.IntN(5_000_000))
	s.IOFull = s.IOSome * 9 / 10
	h.Containers = append(h.Containers, c)
}

func taskPath(v2 bool, task string) string {
	if v2 {
		return "/ecstasks.slice/ecstasks-" + task + ".slice"
	}
	return "/ecs/" + task
}

func containerPath(v2 bool, parent, id string) string {
	if v2 {
		return parent + "/docker-" + id + ".scope"
	}
	return parent + "/" + id
}

func cgroupPlainPath(v2 bool, id string) string {
	if v2 {
		return "/system.slice/docker-" + id + ".scope"
	}
	return "/docker/" + id
}
