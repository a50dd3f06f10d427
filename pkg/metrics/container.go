package metrics

import (
	"strconv"
	"strings"
	"time"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/cgroup"
	"github.com/whippet-agent/whippet/pkg/collect/host"
	"github.com/whippet-agent/whippet/pkg/container"
)

// docker.* CPU figures are percent of one core: the agent's
// ConvertNanosecondsToHz divides the nanocore value by 1e7.
const nsToPct = 1e-7

// ctrState is what a Deriver keeps of one container between two Derive calls:
// its tag sets, built when its Meta changes, and its previous counters, valid
// for one run (one StartedAt).
type ctrState struct {
	gen     uint64
	meta    *container.Meta // the Meta the tag sets were built from
	started time.Time       // the run the counters belong to

	tags    []string // low + orchestrator + high + global
	dtags   []string // tags + runtime:docker
	imgKey  string   // the image group of docker.containers.*
	imgTags []string
	devs    []devTags
	ifs     []ifTags

	has   bool // st, t and net hold a previous sample of this run
	t     time.Time
	st    cgroup.Stats // IO.Devices owned by the state
	net   []host.Iface
	hasNt bool

	short    uint64 // Container.ShortLived at the previous Derive
	hasShort bool
}

// devTags are the tag sets of one block device of a container.
type devTags struct {
	major, minor uint32
	name         string
	tags, dtags  []string
}

// ifTags are the tag sets of one network interface of a container.
type ifTags struct {
	name        string
	tags, dtags []string
}

// imageGroup counts the containers of one image for docker.containers.*.
type imageGroup struct {
	tags             []string
	gen              uint64
	running, stopped int
}

// setMeta rebuilds the tag sets for m, and forgets the counters when m is
// another run of the container.
func (c *ctrState) setMeta(d *Deriver, m *container.Meta) {
	c.meta = m
	c.tags = tagSet(m.Tags.Low, m.Tags.Orchestrator, m.Tags.High, d.global)
	c.dtags = tagSet(c.tags, []string{"runtime:docker"})
	var img []string // a new slice: the old one may be an image group's
	for _, t := range m.Tags.Low {
		if isImageTag(t) {
			img = append(img, t)
		}
	}
	c.imgTags = tagSet(img, d.global)
	c.imgKey = strings.Join(c.imgTags, ",")
	c.devs, c.ifs = c.devs[:0], c.ifs[:0]
	if !m.StartedAt.Equal(c.started) {
		if c.has {
			d.log.Debug("container restarted: its rates start again", "id", m.ID, "started", m.StartedAt)
		}
		c.started = m.StartedAt
		c.has, c.hasShort = false, false
	}
}

// isImageTag reports whether t is one of the image tags docker.containers.* is
// grouped by.
func isImageTag(t string) bool {
	for _, p := range [...]string{"docker_image:", "image_name:", "image_tag:", "short_image:", "image_id:", "git.commit.sha:", "git.repository_url:"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// dev returns the tag sets of block device major:minor, named from the host's
// diskstats.
func (c *ctrState) dev(disks []host.Disk, major, minor uint32) *devTags {
	name := ""
	for i := range disks {
		if disks[i].Major == major && disks[i].Minor == minor {
			name = disks[i].Name
			break
		}
	}
	for i := range c.devs {
		if e := &c.devs[i]; e.major == major && e.minor == minor && (name == "" || e.name == name) {
			return e
		}
	}
	if name == "" {
		name = strconv.FormatUint(uint64(major), 10) + ":" + strconv.FormatUint(uint64(minor), 10)
	}
	extra := []string{"device:" + name, "device_name:" + name}
	c.devs = append(c.devs, devTags{major: major, minor: minor, name: name,
		tags: tagSet(c.tags, extra), dtags: tagSet(c.dtags, extra)})
	return &c.devs[len(c.devs)-1]
}

// iface returns the tag sets of interface name.
func (c *ctrState) iface(name string) *ifTags {
	for i := range c.ifs {
		if c.ifs[i].name == name {
			return &c.ifs[i]
		}
	}
	c.ifs = append(c.ifs, ifTags{name: name,
		tags:  tagSet(c.tags, []string{"interface:" + name}),
		dtags: tagSet(c.dtags, []string{"docker_network:" + dockerNetwork(c.meta.NetworkMode, name)})})
	return &c.ifs[len(c.ifs)-1]
}

// dockerNetwork names the Docker network of a container's interface for the
// docker_network tag. The agent maps interfaces to networks through
// NetworkSettings.Networks and the container's routes; container.Meta carries
// neither, so eth0 is taken to be the network the container was started on
// (HostConfig.NetworkMode: "bridge" for the default, as for --network none in the
// agent) and every other interface is named by itself, the agent's fallback.
func dockerNetwork(mode, iface string) string {
	if iface != "eth0" {
		return iface
	}
	switch {
	case mode == "" || mode == "default" || mode == "bridge" || mode == "none":
		return "bridge"
	case mode == "host" || strings.HasPrefix(mode, "container:"):
		return iface
	}
	return mode
}

// deriveContainers emits the container.* and docker.* series and returns the
// short-lived processes the containers reported.
func (d *Deriver) deriveContainers(s *collect.Snapshot, out *batch.Metrics, g int32) (short uint64) {
	var disks []host.Disk
	if s.Host.Has(host.FileDiskstats) {
		disks = s.Host.Diskstats.Disks
	}
	hostCPUs := 0
	if s.Host.Has(host.FileStat) {
		hostCPUs = s.Host.Stat.NumCPU
	}
	var running, stopped int
	for _, c := range s.Containers {
		m := c.Meta
		if m == nil {
			continue
		}
		st := d.ctrs[c.ID]
		if st == nil {
			st = &ctrState{}
			d.ctrs[c.ID] = st
		}
		if st.meta != m {
			st.setMeta(d, m)
		}
		st.gen = d.gen
		isRunning := m.Running()
		if d.opt.Docker {
			grp := d.images[st.imgKey]
			if grp == nil {
				grp = &imageGroup{tags: st.imgTags}
				d.images[st.imgKey] = grp
			}
			if grp.gen != d.gen {
				grp.gen, grp.running, grp.stopped = d.gen, 0, 0
			}
			if isRunning {
				grp.running++
				running++
			} else {
				grp.stopped++
				stopped++
			}
		}
		if !isRunning {
			st.has, st.hasShort = false, false
			continue
		}
		if !c.Sampled() {
			continue // unreadable this cycle: keep the counters, the next rate spans the gap
		}
		short += d.deriveContainer(s, c, st, out, disks, hostCPUs)
	}

	for id, st := range d.ctrs {
		if st.gen != d.gen {
			delete(d.ctrs, id)
		}
	}
	if d.opt.Docker {
		for key, grp := range d.images {
			if grp.gen != d.gen {
				delete(d.images, key)
				continue
			}
			var tags int32 = batch.NoTags
			if len(grp.tags) > 0 {
				tags = out.AddTagSet(grp.tags)
			}
			if grp.running > 0 {
				out.Add(DockerContainersRunning, batch.Gauge, float64(grp.running), tags)
			}
			if grp.stopped > 0 {
				out.Add(DockerContainersStopped, batch.Gauge, float64(grp.stopped), tags)
			}
		}
		out.Add(DockerContainersRunningTot, batch.Gauge, float64(running), g)
		out.Add(DockerContainersStoppedTot, batch.Gauge, float64(stopped), g)
	}
	return short
}

// deriveContainer emits one running, sampled container's series and keeps its
// counters; it returns the short-lived processes counted since the last call.
func (d *Deriver) deriveContainer(s *collect.Snapshot, c *collect.Container, st *ctrState, out *batch.Metrics, disks []host.Disk, hostCPUs int) (short uint64) {
	ctr, dkr := d.opt.Container, d.opt.Docker
	ti, di := batch.NoTags, batch.NoTags
	if ctr {
		ti = out.AddTagSet(st.tags)
	}
	if dkr {
		di = out.AddTagSet(st.dtags)
	}
	gauge := func(name string, v float64, tags int32) { out.Add(name, batch.Gauge, v, tags) }
	cur := &c.Cur.Stats
	has := cur.Has

	if up := s.Time.Sub(c.Meta.StartedAt); !c.Meta.StartedAt.IsZero() && up >= 0 {
		if ctr {
			gauge(ContainerUptime, up.Seconds(), ti)
		}
		if dkr {
			gauge(DockerUptime, up.Seconds(), di)
		}
	}

	// CPU limit as the agent computes it: the tighter of the cpuset and the CFS
	// quota, else every CPU of the host (always sent, so the app can compute a
	// percentage). The agent also looks at the parent (ECS task) cgroup first;
	// the snapshot has no parent figures, so a task-level limit is not seen.
	var limitPct float64
	if has.Has(cgroup.CPUCount) && cur.CPU.CPUs > 0 && int(cur.CPU.CPUs) != hostCPUs {
		limitPct = float64(cur.CPU.CPUs) * 100
	}
	if has.Has(cgroup.CPUQuota) && cur.CPU.Quota > 0 && cur.CPU.Period > 0 {
		if q := 100 * float64(cur.CPU.Quota) / float64(cur.CPU.Period); limitPct == 0 || q < limitPct {
			limitPct = q
		}
	}
	if limitPct == 0 {
		limitPct = float64(hostCPUs) * 100
	}
	if limitPct > 0 {
		if ctr {
			gauge(ContainerCPULimit, limitPct*1e7, ti)
		}
		if dkr {
			gauge(DockerCPULimit, limitPct, di)
		}
	}
	if dkr {
		shares := uint64(0)
		if has.Has(cgroup.CPUShares) {
			shares = cur.CPU.Shares
		} else if has.Has(cgroup.CPUWeight) {
			shares = cgroup.WeightToShares(cur.CPU.Weight)
		}
		if shares > 0 {
			gauge(DockerCPUShares, float64(shares), di)
		}
	}

	mem := &cur.Memory
	both := func(f cgroup.Fields, cname, dname string, v uint64) {
		if !has.Has(f) {
			return
		}
		if ctr && cname != "" {
			gauge(cname, float64(v), ti)
		}
		if dkr && dname != "" {
			gauge(dname, float64(v), di)
		}
	}
	both(cgroup.MemoryUsage, ContainerMemUsage, "", mem.Usage)
	both(cgroup.MemoryKernel, ContainerMemKernel, DockerKmemUsage, mem.Kernel)
	if mem.Limit > 0 {
		both(cgroup.MemoryLimit, ContainerMemLimit, DockerMemLimit, mem.Limit)
	}
	if mem.SoftLimit > 0 {
		both(cgroup.MemorySoftLimit, ContainerMemSoftLimit, DockerMemSoftLimit, mem.SoftLimit)
	}
	both(cgroup.MemoryRSS, ContainerMemRSS, DockerMemRSS, mem.RSS)
	both(cgroup.MemoryCache, ContainerMemCache, DockerMemCache, mem.Cache)
	both(cgroup.MemorySwap, ContainerMemSwap, DockerMemSwap, mem.Swap)
	both(cgroup.MemoryWorkingSet, ContainerMemWorkingSet, DockerMemWorkingSet, mem.WorkingSet)
	both(cgroup.MemoryPeak, ContainerMemPeak, "", mem.Peak)
	if has.Has(cgroup.MemoryFailcnt) {
		both(cgroup.MemoryFailcnt, ContainerMemOOMEvents, DockerMemFailedCount, mem.Failcnt) // v1
	} else {
		both(cgroup.MemoryOOMEvents, ContainerMemOOMEvents, DockerMemFailedCount, mem.OOMEvents) // v2
	}
	if dkr {
		if has.Has(cgroup.MemorySwapLimit) && mem.SwapLimit > 0 {
			gauge(DockerMemSwLimit, float64(mem.SwapLimit), di)
		}
		if has.Has(cgroup.MemoryLimit|cgroup.MemoryRSS) && mem.Limit > 0 {
			gauge(DockerMemInUse, float64(mem.RSS)/float64(mem.Limit), di)
		}
	}
	if c.Procs.FDsKnown {
		if ctr {
			gauge(ContainerPidOpenFiles, float64(c.Procs.OpenFDs), ti)
		}
		if dkr {
			gauge(DockerContainerOpenFDs, float64(c.Procs.OpenFDs), di)
		}
	}
	both(cgroup.PidsCurrent, ContainerPidThreadCount, DockerThreadCount, cur.Pids.Current)
	if cur.Pids.Limit > 0 {
		both(cgroup.PidsLimit, ContainerPidThreadLimit, DockerThreadLimit, cur.Pids.Limit)
	}

	// Counters: rates and counts against this run's previous sample.
	dt := c.Cur.Time.Sub(st.t).Seconds()
	if st.has {
		prev := &st.st
		pHas := prev.Has & has
		if dt > 0 {
			r := func(f cgroup.Fields, cname, dname string, v, pv uint64, mul float64) {
				if !pHas.Has(f) {
					return
				}
				if ctr && cname != "" {
					rate(out, cname, v, pv, dt, mul, ti)
				}
				if dkr && dname != "" {
					rate(out, dname, v, pv, dt, mul*nsToPct, di)
				}
			}
			cp, pp := &cur.CPU, &prev.CPU
			r(cgroup.CPUUsage, ContainerCPUUsage, DockerCPUUsage, cp.Usage, pp.Usage, 1)
			r(cgroup.CPUUser, ContainerCPUUser, DockerCPUUser, cp.User, pp.User, 1)
			r(cgroup.CPUSystem, ContainerCPUSystem, DockerCPUSystem, cp.System, pp.System, 1)
			r(cgroup.CPUThrottledTime, ContainerCPUThrottled, DockerCPUThrottledTime, cp.ThrottledTime, pp.ThrottledTime, 1)
			if pHas.Has(cgroup.CPUThrottled) { // a count of periods: not converted
				if ctr {
					rate(out, ContainerCPUThrottledPeriods, cp.Throttled, pp.Throttled, dt, 1, ti)
				}
				if dkr {
					rate(out, DockerCPUThrottled, cp.Throttled, pp.Throttled, dt, 1, di)
				}
			}
			// PSI totals are µs: ×1000 to ns/s.
			r(cgroup.PSICPU, ContainerCPUPartialStall, "", cur.PSI.CPUSome, prev.PSI.CPUSome, 1000)
			r(cgroup.PSIMemory, ContainerMemPartialStall, "", cur.PSI.MemSome, prev.PSI.MemSome, 1000)
			r(cgroup.PSIIO, ContainerIOPartialStall, "", cur.PSI.IOSome, prev.PSI.IOSome, 1000)
			d.deriveIO(out, st, cur, prev, pHas, dt, disks, ti, di)
		}
		if ctr {
			if pHas.Has(cgroup.MemoryPgFault) {
				out.Add(ContainerMemPageFaults, batch.Count, delta(mem.PgFault, prev.Memory.PgFault), ti)
			}
			if pHas.Has(cgroup.MemoryPgMajFault) {
				out.Add(ContainerMemMajorPageFaults, batch.Count, delta(mem.PgMajFault, prev.Memory.PgMajFault), ti)
			}
		}
	}
	if c.Cur.HasNet {
		if st.has && st.hasNt && dt > 0 {
			d.deriveNet(out, st, &c.Cur.Net, c.Meta.NetworkMode, dt)
		}
		st.net, st.hasNt = append(st.net[:0], c.Cur.Net.Ifaces...), true
	} else {
		st.hasNt = false
	}

	devs := st.st.IO.Devices
	st.st = *cur
	st.st.IO.Devices = append(devs[:0], cur.IO.Devices...)
	st.t, st.has = c.Cur.Time, true

	if st.hasShort && c.ShortLived > st.short {
		short = c.ShortLived - st.short
		sti := ti
		if !ctr {
			sti = out.AddTagSet(st.tags)
		}
		out.Add(WhippetShortLived, batch.Count, float64(short), sti)
	}
	st.short, st.hasShort = c.ShortLived, true
	return short
}

// deriveIO emits the per-device IO rates, or untagged totals when the cgroup
// lists no device (as the agent does; v1 blkio on Linux ≥ 6.9 without throttle
// rules lists none).
func (d *Deriver) deriveIO(out *batch.Metrics, st *ctrState, cur, prev *cgroup.Stats, pHas cgroup.Fields, dt float64, disks []host.Disk, ti, di int32) {
	ctr, dkr := d.opt.Container, d.opt.Docker
	emit := func(c, p *cgroup.IODevice, ti, di int32) {
		if pHas.Has(cgroup.IOBytes) {
			if ctr {
				rate(out, ContainerIORead, c.ReadBytes, p.ReadBytes, dt, 1, ti)
				rate(out, ContainerIOWrite, c.WriteBytes, p.WriteBytes, dt, 1, ti)
			}
			if dkr {
				rate(out, DockerIOReadBytes, c.ReadBytes, p.ReadBytes, dt, 1, di)
				rate(out, DockerIOWriteBytes, c.WriteBytes, p.WriteBytes, dt, 1, di)
			}
		}
		if pHas.Has(cgroup.IOOps) {
			if ctr {
				rate(out, ContainerIOReadOps, c.ReadOps, p.ReadOps, dt, 1, ti)
				rate(out, ContainerIOWriteOps, c.WriteOps, p.WriteOps, dt, 1, ti)
			}
			if dkr {
				rate(out, DockerIOReadOps, c.ReadOps, p.ReadOps, dt, 1, di)
				rate(out, DockerIOWriteOps, c.WriteOps, p.WriteOps, dt, 1, di)
			}
		}
	}
	if !pHas.Has(cgroup.IOBytes) && !pHas.Has(cgroup.IOOps) {
		return
	}
	if len(cur.IO.Devices) == 0 {
		var zero cgroup.IODevice
		emit(&zero, &zero, ti, di) // no device read or written: 0 B/s
		return
	}
	for i := range cur.IO.Devices {
		c := &cur.IO.Devices[i]
		var p *cgroup.IODevice
		for j := range prev.IO.Devices {
			if prev.IO.Devices[j].Major == c.Major && prev.IO.Devices[j].Minor == c.Minor {
				p = &prev.IO.Devices[j]
				break
			}
		}
		if p == nil {
			// A device the previous sample lacked: cgroup v1 lists a device only
			// after the cgroup's first IO on it, so its previous counters were 0.
			// (The container was sampled before: pHas checked above.)
			p = &zeroDevice
		}
		e := st.dev(disks, c.Major, c.Minor)
		dti, ddi := batch.NoTags, batch.NoTags
		if ctr {
			dti = out.AddTagSet(e.tags)
		}
		if dkr {
			ddi = out.AddTagSet(e.dtags)
		}
		emit(c, p, dti, ddi)
	}
}

// deriveNet emits the per-interface network rates of a container's namespace,
// loopback excluded. container.net.* skips containers joined to another's network
// namespace (network mode container:<id>): the agent reports a shared namespace
// once, under its owner.
func (d *Deriver) deriveNet(out *batch.Metrics, st *ctrState, cur *host.NetDev, mode string, dt float64) {
	ctr := d.opt.Container && !strings.HasPrefix(mode, "container:")
	dkr := d.opt.Docker
	for i := range cur.Ifaces {
		f := &cur.Ifaces[i]
		if f.Name == "lo" {
			continue
		}
		p := findIface(st.net, i, f.Name)
		if p == nil {
			continue
		}
		e := st.iface(f.Name)
		if ctr {
			ti := out.AddTagSet(e.tags)
			rate(out, ContainerNetSent, f.TxBytes, p.TxBytes, dt, 1, ti)
			rate(out, ContainerNetRcvd, f.RxBytes, p.RxBytes, dt, 1, ti)
			rate(out, ContainerNetSentPackets, f.TxPackets, p.TxPackets, dt, 1, ti)
			rate(out, ContainerNetRcvdPackets, f.RxPackets, p.RxPackets, dt, 1, ti)
		}
		if dkr {
			di := out.AddTagSet(e.dtags)
			rate(out, DockerNetBytesSent, f.TxBytes, p.TxBytes, dt, 1, di)
			rate(out, DockerNetBytesRcvd, f.RxBytes, p.RxBytes, dt, 1, di)
		}
	}
}

// zeroDevice is the previous sample of a device a cgroup had not used yet.
var zeroDevice cgroup.IODevice
