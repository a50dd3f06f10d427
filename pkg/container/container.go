// Package container describes a container as the rest of the agent sees it: its
// identity from the Docker Engine API, its ECS task from labels (and, when
// available, the ECS agent), and the tags Datadog's tagger gives it.
//
// A Meta is immutable once published: a change (rename, restart, ECS task status)
// produces a new Meta, so the collector can keep a pointer without locking.
package container

import (
	"strings"
	"time"
)

// Meta is one container's identity and state as last reported by the runtime.
type Meta struct {
	ID           string // 64 hex
	Name         string // without the leading "/"
	Image        string // the image reference it was created from (Config.Image)
	ImageID      string // sha256:…
	Labels       map[string]string
	State        string // created, running, paused, restarting, removing, exited, dead
	Pid          int    // init pid on the host while running, else 0
	StartedAt    time.Time
	FinishedAt   time.Time
	RestartCount int
	CgroupParent string // HostConfig.CgroupParent ("/ecs/<task>", "ecstasks-<task>.slice", "")
	OOMKilled    bool
	NetworkMode  string // HostConfig.NetworkMode: "host" shares the host's counters
	ECS          ECS
	Tags         Tags // set by Finish
}

// Finish completes a Meta built by a runtime client: it parses the ECS identity
// from the labels unless already set, and computes the tags. Call it once, before
// publishing m.
func (m *Meta) Finish() {
	if m.ECS.IsZero() {
		m.ECS = ParseECS(m.Labels)
	}
	m.Tags = m.ComputeTags()
}

// Running reports whether the container's processes exist (running or paused).
func (m *Meta) Running() bool {
	return m.Pid > 0 && (m.State == "running" || m.State == "paused" || m.State == "restarting")
}

// ECS is a container's ECS task identity, from the labels the ECS agent sets on
// every task container (no I/O), completed from the ECS agent's introspection API
// where it runs.
type ECS struct {
	Cluster        string // cluster name (an ARN label is reduced to its name)
	TaskARN        string
	TaskID         string // last path segment of the task ARN
	Family         string
	Version        string
	ContainerName  string // the container's name in the task definition
	Region         string // from the task ARN
	Account        string // from the task ARN
	KnownStatus    string // from /v1/tasks, "" when the ECS agent was not asked
	DesiredStatus  string
	InstanceARN    string // container instance ARN, from /v1/metadata
	ServiceName    string
	AgentAvailable bool // filled from the ECS agent, not only labels
}

// IsZero reports whether the container is not part of an ECS task.
func (e *ECS) IsZero() bool { return e.TaskARN == "" }

// ECS labels set by the ECS agent (aws/amazon-ecs-agent, dockerapi labels).
const (
	LabelCluster       = "com.amazonaws.ecs.cluster"
	LabelTaskARN       = "com.amazonaws.ecs.task-arn"
	LabelContainerName = "com.amazonaws.ecs.container-name"
	LabelFamily        = "com.amazonaws.ecs.task-definition-family"
	LabelVersion       = "com.amazonaws.ecs.task-definition-version"
)

// ParseECS reads a container's ECS identity from its labels. A container without
// a task ARN label is not an ECS task container and yields the zero ECS.
func ParseECS(labels map[string]string) ECS {
	arn := labels[LabelTaskARN]
	if arn == "" {
		return ECS{}
	}
	e := ECS{
		TaskARN:       arn,
		Cluster:       clusterName(labels[LabelCluster]),
		Family:        labels[LabelFamily],
		Version:       labels[LabelVersion],
		ContainerName: labels[LabelContainerName],
	}
	// arn:aws:ecs:<region>:<account>:task/<cluster>/<id> (or task/<id>, old format)
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" {
		e.Region, e.Account = parts[3], parts[4]
		res := parts[5]
		if i := strings.LastIndexByte(res, '/'); i >= 0 {
			e.TaskID = res[i+1:]
		}
		if e.Cluster == "" {
			// New-format ARNs carry the cluster: task/<cluster>/<id>.
			if segs := strings.Split(res, "/"); len(segs) == 3 {
				e.Cluster = segs[1]
			}
		}
	}
	return e
}

// clusterName reduces a cluster ARN (arn:aws:ecs:…:cluster/<name>) to its name.
func clusterName(s string) string {
	if strings.HasPrefix(s, "arn:") {
		if i := strings.LastIndexByte(s, '/'); i >= 0 {
			return s[i+1:]
		}
	}
	return s
}
