package config

import (
	"strings"
	"testing"
)

func TestFilter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		exclude, include []string
		pause            bool
		cname, image     string
		want             bool
	}{
		{"nothing configured", nil, nil, false, "web", "nginx:1", false},
		{"name match", []string{"name:^web$"}, nil, false, "web", "nginx:1", true},
		{"docker's leading slash", []string{"name:^web$"}, nil, false, "/web", "nginx:1", true},
		{"name regexp is unanchored", []string{"name:web"}, nil, false, "my-web-1", "x", true},
		{"name no match", []string{"name:^web$"}, nil, false, "web-2", "nginx:1", false},
		{"image match", []string{"image:^datadog/agent"}, nil, false, "dd", "datadog/agent:7", true},
		{"image rule ignores the name", []string{"image:web"}, nil, false, "web", "nginx", false},
		{"exclude all, include one", []string{"image:.*"}, []string{"name:^keep$"}, false, "keep", "x", false},
		{"exclude all, other excluded", []string{"image:.*"}, []string{"name:^keep$"}, false, "drop", "x", true},
		{"include alone excludes nothing", nil, []string{"name:^keep$"}, false, "drop", "x", false},
		{"ecs pause", nil, nil, true, "ecs-t-1-internalecspause-abc", "amazon/amazon-ecs-pause:0.1.0", true},
		{"ecs pause from ECR", nil, nil, true, "p", "123.dkr.ecr.us-east-1.amazonaws.com/amazon/amazon-ecs-pause:0.1.0", true},
		{"k8s pause", nil, nil, true, "p", "registry.k8s.io/pause:3.9", true},
		{"gcr pause", nil, nil, true, "p", "gcr.io/google_containers/pause-amd64:3.0", true},
		{"pause off", nil, nil, false, "p", "amazon/amazon-ecs-pause:0.1.0", false},
		{"pause included back", nil, []string{"image:amazon-ecs-pause"}, true, "p", "amazon/amazon-ecs-pause:0.1.0", false},
		{"app named pause kept", nil, nil, true, "pause", "myorg/pauser:1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := NewFilter(tc.exclude, tc.include, tc.pause)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Excluded(tc.cname, tc.image); got != tc.want {
				t.Errorf("Excluded(%q, %q) = %v, want %v", tc.cname, tc.image, got, tc.want)
			}
		})
	}
	var nilFilter *Filter
	if nilFilter.Excluded("a", "b") {
		t.Error("nil Filter excludes")
	}
}

func TestFilterErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rule, want string
	}{
		{"name:[", `entry "name:[": error parsing regexp: missing closing ]`},
		{"label:x", `entry "label:x": want name:<regexp> or image:<regexp>`},
		{"web", `entry "web": want name:<regexp> or image:<regexp>`},
		{"image:", `entry "image:": empty regexp`},
	} {
		if _, err := NewFilter([]string{tc.rule}, nil, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewFilter(%q) error = %v, want %q", tc.rule, err, tc.want)
		}
		if _, err := NewFilter(nil, []string{tc.rule}, false); err == nil {
			t.Errorf("NewFilter(include %q): no error", tc.rule)
		}
	}
}

// TestFilterFromConfig checks the env forms, kube_namespace tolerance and the
// metrics-only lists.
func TestFilterFromConfig(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, Sources{Env: []string{
		"DD_CONTAINER_EXCLUDE=name:^noisy image:^datadog/agent kube_namespace:.*",
		"DD_CONTAINER_INCLUDE=name:^noisy-keep",
		"DD_CONTAINER_EXCLUDE_METRICS=image:^busybox",
	}})
	for _, tc := range []struct {
		name, image    string
		all, inMetrics bool
	}{
		{"noisy-1", "x", true, true},
		{"noisy-keep", "x", false, false},
		{"dd", "datadog/agent:7", true, true},
		{"job", "busybox:1", false, true},
		{"web", "nginx", false, false},
	} {
		if got := c.Filter.Excluded(tc.name, tc.image); got != tc.all {
			t.Errorf("Filter.Excluded(%q, %q) = %v, want %v", tc.name, tc.image, got, tc.all)
		}
		if got := c.MetricsFilter.Excluded(tc.name, tc.image); got != tc.inMetrics {
			t.Errorf("MetricsFilter.Excluded(%q, %q) = %v, want %v", tc.name, tc.image, got, tc.inMetrics)
		}
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], `DD_CONTAINER_EXCLUDE (env): "kube_namespace:.*": Kubernetes namespaces do not apply on ECS; ignored`) {
		t.Errorf("Warnings = %q", c.Warnings)
	}
	c = mustLoad(t, Sources{Env: []string{"DD_EXCLUDE_PAUSE_CONTAINER=false"}})
	if c.Filter.Excluded("p", "amazon/amazon-ecs-pause:0.1.0") {
		t.Error("DD_EXCLUDE_PAUSE_CONTAINER=false still excludes the pause container")
	}
}

// Excluded runs once per container per listing: it must not allocate.
func TestFilterAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	f, err := NewFilter([]string{"name:^noisy", "image:^datadog/agent"}, []string{"name:keep"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		f.Excluded("/ecs-web-1-app-abc", "123.dkr.ecr.us-east-1.amazonaws.com/app:1.2.3")
		f.Excluded("/noisy-keep", "x")
	}); n != 0 {
		t.Errorf("Excluded allocates %v times per run, want 0", n)
	}
}

func BenchmarkFilterExcluded(b *testing.B) {
	f, err := NewFilter([]string{"name:^noisy", "image:^datadog/agent"}, []string{"name:keep"}, true)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		f.Excluded("/ecs-web-1-app-abc", "123.dkr.ecr.us-east-1.amazonaws.com/app:1.2.3")
	}
}
