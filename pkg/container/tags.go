package container

import (
	"encoding/json"
	"sort"
	"strings"
)

// Tags are a container's tags as Datadog's tagger names them
// (comp/core/tagger/tags; shared/spec/datadog-compat.md §1.5), split by
// cardinality. Each is "key:value", sorted, computed once per Meta.
type Tags struct {
	Low          []string // image, ECS task family/version/cluster, env/service/version, custom
	Orchestrator []string // task_arn
	High         []string // container_id, container_name, display_container_name
}

// All returns low + orchestrator + high: what a host agent puts on per-container
// series.
func (t *Tags) All() []string {
	out := make([]string, 0, len(t.Low)+len(t.Orchestrator)+len(t.High))
	out = append(out, t.Low...)
	out = append(out, t.Orchestrator...)
	return append(out, t.High...)
}

// Image splits an image reference ("public.ecr.aws/docker/library/busybox:1.36",
// "busybox", "repo@sha256:…") into the tagger's name, short name and tag; the tag
// defaults to "latest".
func Image(ref string) (name, short, tag string) {
	name = ref
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	tag = "latest"
	if i := strings.LastIndexByte(name, ':'); i >= 0 && i > strings.LastIndexByte(name, '/') {
		name, tag = name[:i], name[i+1:]
	}
	short = name
	if i := strings.LastIndexByte(short, '/'); i >= 0 {
		short = short[i+1:]
	}
	return name, short, tag
}

// Datadog unified-service-tagging labels and the custom-tags label.
const (
	labelEnv     = "com.datadoghq.tags.env"
	labelService = "com.datadoghq.tags.service"
	labelVersion = "com.datadoghq.tags.version"
	labelADTags  = "com.datadoghq.ad.tags"
)

// ComputeTags returns m's tags. Call it once when m is built.
func (m *Meta) ComputeTags() Tags {
	var t Tags
	add := func(dst *[]string, k, v string) {
		if v != "" {
			*dst = append(*dst, k+":"+v)
		}
	}
	if m.Image != "" {
		name, short, tag := Image(m.Image)
		add(&t.Low, "image_name", name)
		add(&t.Low, "short_image", short)
		add(&t.Low, "image_tag", tag)
		add(&t.Low, "docker_image", name+":"+tag)
	}
	add(&t.Low, "image_id", m.ImageID)
	add(&t.Low, "env", m.Labels[labelEnv])
	add(&t.Low, "service", m.Labels[labelService])
	add(&t.Low, "version", m.Labels[labelVersion])
	if raw := m.Labels[labelADTags]; raw != "" {
		var custom []string
		if json.Unmarshal([]byte(raw), &custom) == nil {
			for _, c := range custom {
				if c != "" {
					t.Low = append(t.Low, c)
				}
			}
		}
	}
	if e := &m.ECS; !e.IsZero() {
		add(&t.Low, "ecs_cluster_name", e.Cluster)
		add(&t.Low, "cluster_name", e.Cluster)
		add(&t.Low, "task_family", e.Family)
		add(&t.Low, "task_name", e.Family)
		add(&t.Low, "task_version", e.Version)
		add(&t.Low, "ecs_container_name", e.ContainerName)
		add(&t.Low, "ecs_service", e.ServiceName)
		add(&t.Low, "region", e.Region)
		add(&t.Low, "aws_account", e.Account)
		add(&t.Low, "ecs_launch_type", "ec2")
		add(&t.Orchestrator, "task_arn", e.TaskARN)
	}
	add(&t.High, "container_id", m.ID)
	add(&t.High, "container_name", m.Name)
	add(&t.High, "display_container_name", m.Name)
	sort.Strings(t.Low)
	sort.Strings(t.High)
	return t
}
