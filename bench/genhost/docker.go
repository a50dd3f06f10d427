package genhost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// The Docker Engine API replies, shaped like Engine 20.10's (API 1.41): the same
// field names and nesting as testdata/fakehost/*/docker, with the fields a collector
// reads filled in and the rest at their zero values.

type apiState struct {
	Status     string
	Running    bool
	Paused     bool
	Restarting bool
	OOMKilled  bool
	Dead       bool
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  string
	FinishedAt string
}

type apiHostConfig struct {
	NetworkMode       string
	CgroupnsMode      string
	IpcMode           string
	Cgroup            string
	PidMode           string
	Privileged        bool
	ShmSize           int64
	Runtime           string
	CpuShares         int64
	Memory            int64
	NanoCpus          int64
	CgroupParent      string
	CpuPeriod         int64
	CpuQuota          int64
	MemoryReservation int64
	MemorySwap        int64
	PidsLimit         *int64
}

type apiConfig struct {
	Hostname   string
	Domainname string
	User       string
	Tty        bool
	Env        []string
	Cmd        []string
	Image      string
	WorkingDir string
	Entrypoint []string
	Labels     map[string]string
}

type apiEndpoint struct {
	NetworkID   string
	EndpointID  string
	Gateway     string
	IPAddress   string
	IPPrefixLen int
	MacAddress  string
}

type apiInspect struct {
	ID              string `json:"Id"`
	Created         string
	Path            string
	Args            []string
	State           apiState
	Image           string
	ResolvConfPath  string
	HostnamePath    string
	HostsPath       string
	LogPath         string
	Name            string
	RestartCount    int
	Driver          string
	Platform        string
	HostConfig      apiHostConfig
	Mounts          []any
	Config          apiConfig
	NetworkSettings struct {
		SandboxID string
		Networks  map[string]apiEndpoint
	}
}

type apiListEntry struct {
	ID         string `json:"Id"`
	Names      []string
	Image      string
	ImageID    string
	Command    string
	Created    int64
	Ports      []any
	Labels     map[string]string
	State      string
	Status     string
	HostConfig struct {
		NetworkMode string
	}
	NetworkSettings struct {
		Networks map[string]apiEndpoint
	}
	Mounts []any
}

type apiActor struct {
	ID         string
	Attributes map[string]string
}

type apiEvent struct {
	Status   string `json:"status"`
	ID       string `json:"id"`
	From     string `json:"from"`
	Type     string
	Action   string
	Actor    apiActor
	Scope    string `json:"scope"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
}

// command is how Docker shows Path and Args in a list: joined by spaces, an argument
// with spaces in single quotes.
func command(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t") {
			a = "'" + a + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

func apiTime(unix int64, nanos int64) string {
	return time.Unix(unix, nanos).UTC().Format(time.RFC3339Nano)
}

func writeDocker(h *Host) error {
	dir := filepath.Join(h.Dir, "docker")
	if err := mkdir(filepath.Join(dir, "containers")); err != nil {
		return err
	}
	ping := "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nCache-Control: no-cache, no-store, must-revalidate\r\n" +
		"Docker-Experimental: false\r\nOstype: linux\r\nPragma: no-cache\r\nServer: Docker/20.10.24+dfsg1 (linux)\r\n" +
		"Date: " + time.Unix(bootTime+uptimeCS/hz, 0).UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT") + "\r\n" +
		"Content-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOK"
	if err := writeFile(filepath.Join(dir, "_ping"), []byte(ping)); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "version.json"), hostFile("version.json")); err != nil {
		return err
	}
	var list []apiListEntry
	var events bytes.Buffer
	enc := json.NewEncoder(&events)
	for i := len(h.Containers) - 1; i >= 0; i-- { // newest first, like the engine
		c := &h.Containers[i]
		ip := fmt.Sprintf("172.17.%d.%d", (i+2)/250, (i+2)%250+1)
		nets := map[string]apiEndpoint{"bridge": {
			NetworkID: strings.Repeat("5a", 32), EndpointID: c.ID[32:] + c.ID[:32], Gateway: "172.17.0.1",
			IPAddress: ip, IPPrefixLen: 16, MacAddress: "02:42:ac:11:" + c.ID[:2] + ":" + c.ID[2:4],
		}}
		started := apiTime(c.Created, 512_000_000)
		e := apiListEntry{ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Image, ImageID: c.ImageID,
			Command: command(c.Cmd), Created: c.Created, Ports: []any{}, Labels: c.Labels, State: "running",
			Status: upFor(h, c), Mounts: []any{}}
		e.HostConfig.NetworkMode = "bridge"
		e.NetworkSettings.Networks = nets
		list = append(list, e)

		in := apiInspect{ID: c.ID, Created: apiTime(c.Created, 300_000_000), Path: c.Cmd[0], Args: c.Cmd[1:],
			State:          apiState{Status: "running", Running: true, Pid: c.Pids[0], StartedAt: started, FinishedAt: "0001-01-01T00:00:00Z"},
			Image:          c.ImageID,
			ResolvConfPath: "/var/lib/docker/containers/" + c.ID + "/resolv.conf",
			HostnamePath:   "/var/lib/docker/containers/" + c.ID + "/hostname",
			HostsPath:      "/var/lib/docker/containers/" + c.ID + "/hosts",
			LogPath:        "/var/lib/docker/containers/" + c.ID + "/" + c.ID + "-json.log",
			Name:           "/" + c.Name, Driver: "overlay2", Platform: "linux", Mounts: []any{},
			Config: apiConfig{Hostname: c.ID[:12], User: c.User, Env: c.Env, Cmd: c.Cmd, Image: c.Image, Labels: c.Labels},
		}
		hc := &in.HostConfig
		hc.NetworkMode, hc.CgroupnsMode, hc.IpcMode, hc.ShmSize, hc.Runtime = "bridge", "host", "private", 64<<20, "runc"
		if h.CgroupV2 {
			hc.CgroupnsMode = "private"
		}
		if c.Stats.CPUShares != 1024 {
			hc.CpuShares = int64(c.Stats.CPUShares)
		}
		if c.Stats.CPUQuotaUS > 0 {
			hc.NanoCpus = c.Stats.CPUQuotaUS * 10_000
		}
		if c.Stats.MemoryLimit != 0 {
			hc.Memory = int64(c.Stats.MemoryLimit)
			hc.MemorySwap = 2 * hc.Memory
		}
		if c.Stats.PidsLimit != 0 {
			n := int64(c.Stats.PidsLimit)
			hc.PidsLimit = &n
		}
		if c.Task >= 0 {
			t := &h.Tasks[c.Task]
			hc.CgroupParent = t.Cgroup
			if h.CgroupV2 {
				hc.CgroupParent = "ecstasks-" + t.ID + ".slice"
			}
		}
		in.NetworkSettings.SandboxID = c.ID[8:] + c.ID[:8]
		in.NetworkSettings.Networks = nets
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, "containers", c.ID+".json"), append(b, '\n')); err != nil {
			return err
		}
	}
	for i := range h.Containers {
		c := &h.Containers[i]
		attrs := map[string]string{"image": c.Image, "name": c.Name}
		for k, v := range c.Labels {
			attrs[k] = v
		}
		for j, action := range []string{"create", "start"} {
			ns := c.Created*1e9 + int64(j)*240_000_000 + 44_000_000
			if err := enc.Encode(apiEvent{Status: action, ID: c.ID, From: c.Image, Type: "container", Action: action,
				Actor: apiActor{ID: c.ID, Attributes: attrs}, Scope: "local", Time: ns / 1e9, TimeNano: ns}); err != nil {
				return err
			}
		}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "containers.json"), append(b, '\n')); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "events.jsonl"), events.Bytes())
}

func upFor(h *Host, c *Container) string {
	now := int64(bootTime + uptimeCS/hz)
	d := time.Duration(now-c.Created) * time.Second
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("Up %d days", int(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("Up %d hours", int(d.Hours()))
	default:
		return fmt.Sprintf("Up %d minutes", int(d.Minutes()))
	}
}
