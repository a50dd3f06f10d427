package config

import (
	"fmt"
	"regexp"
	"strings"
)

// pauseImages are the pause containers the agent excludes by default
// (exclude_pause_container; pkg/util/containers/filter.go pauseContainer*):
// ECS's and Fargate's, and the common Kubernetes ones. Unanchored, as there.
var pauseImages = []string{
	"image:amazon/amazon-ecs-pause",
	"image:aws-fargate-pause",
	"image:kubernetes/pause",
	"image:google(_|-)containers/pause",
	"image:k8s.gcr.io/pause",
	"image:registry.k8s.io/pause",
	"image:eks/pause",
	"image:mcr.microsoft.com/k8s/core/pause",
	"image:rancher/pause",
}

// Filter decides which containers whippet ignores, like the agent's
// container_exclude / container_include: a container matching an exclude rule
// is ignored unless it also matches an include rule.
type Filter struct {
	exclude, include []rule
	pause            []rule // pauseImages; all need "pause" in the image, checked first
}

type rule struct {
	image bool // match the image, else the name
	re    *regexp.Regexp
}

// wantRule is what a filter entry looks like, for messages.
const wantRule = "want name:<regexp> or image:<regexp>"

func parseRule(s string) (rule, error) {
	field, expr, ok := strings.Cut(s, ":")
	if !ok || (field != "name" && field != "image") {
		return rule{}, fmt.Errorf("entry %q: %s", s, wantRule)
	}
	if expr == "" {
		return rule{}, fmt.Errorf("entry %q: empty regexp (use .* to match everything)", s)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return rule{}, fmt.Errorf("entry %q: %w", s, err)
	}
	return rule{image: field == "image", re: re}, nil
}

// NewFilter compiles exclude and include rules ("name:<re>", "image:<re>");
// excludePause adds the agent's pause-container images to the excludes.
func NewFilter(exclude, include []string, excludePause bool) (*Filter, error) {
	f := &Filter{}
	var pause []string
	if excludePause {
		pause = pauseImages
	}
	for _, l := range []struct {
		in  []string
		out *[]rule
	}{{exclude, &f.exclude}, {include, &f.include}, {pause, &f.pause}} {
		for _, s := range l.in {
			r, err := parseRule(s)
			if err != nil {
				return nil, err
			}
			*l.out = append(*l.out, r)
		}
	}
	return f, nil
}

// Excluded reports whether the container with this name (a leading "/" as
// Docker reports it is ignored) and image is left out. A nil Filter excludes
// nothing. It does not allocate.
func (f *Filter) Excluded(name, image string) bool {
	if f == nil {
		return false
	}
	name = strings.TrimPrefix(name, "/")
	excluded := matchAny(f.exclude, name, image) ||
		(strings.Contains(image, "pause") && matchAny(f.pause, name, image))
	return excluded && !matchAny(f.include, name, image)
}

func matchAny(rules []rule, name, image string) bool {
	for _, r := range rules {
		s := name
		if r.image {
			s = image
		}
		if r.re.MatchString(s) {
			return true
		}
	}
	return false
}
