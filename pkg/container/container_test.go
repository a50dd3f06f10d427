package container

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseECS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		labels map[string]string
		want   ECS
	}{
		{name: "plain container", labels: map[string]string{"maintainer": "x"}, want: ECS{}},
		{name: "new-format ARN, cluster name label", labels: map[string]string{
			LabelCluster: "prod-ecs", LabelTaskARN: "arn:aws:ecs:us-east-1:123456789012:task/prod-ecs/df3680a1ae7b4506c757ecd12e08f10e",
			LabelContainerName: "web", LabelFamily: "webapp", LabelVersion: "7",
		}, want: ECS{Cluster: "prod-ecs", TaskARN: "arn:aws:ecs:us-east-1:123456789012:task/prod-ecs/df3680a1ae7b4506c757ecd12e08f10e",
			TaskID: "df3680a1ae7b4506c757ecd12e08f10e", Family: "webapp", Version: "7", ContainerName: "web", Region: "us-east-1", Account: "123456789012"}},
		{name: "cluster ARN label, old-format task ARN", labels: map[string]string{
			LabelCluster: "arn:aws:ecs:eu-west-1:999:cluster/blue", LabelTaskARN: "arn:aws:ecs:eu-west-1:999:task/0b69d5c0-d655-4695-98cd-5d2d526d9d5a",
		}, want: ECS{Cluster: "blue", TaskARN: "arn:aws:ecs:eu-west-1:999:task/0b69d5c0-d655-4695-98cd-5d2d526d9d5a",
			TaskID: "0b69d5c0-d655-4695-98cd-5d2d526d9d5a", Region: "eu-west-1", Account: "999"}},
		{name: "no cluster label: from the ARN", labels: map[string]string{LabelTaskARN: "arn:aws:ecs:us-east-1:1:task/c1/abc"},
			want: ECS{Cluster: "c1", TaskARN: "arn:aws:ecs:us-east-1:1:task/c1/abc", TaskID: "abc", Region: "us-east-1", Account: "1"}},
		{name: "garbage ARN keeps what it can", labels: map[string]string{LabelTaskARN: "not-an-arn"}, want: ECS{TaskARN: "not-an-arn"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ParseECS(tt.labels)); diff != "" {
			t.Errorf("%s: ParseECS(%v) mismatch (-want +got):\n%s", tt.name, tt.labels, diff)
		}
	}
}

func TestImage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ ref, name, short, tag string }{
		{"busybox", "busybox", "busybox", "latest"},
		{"whippet-busybox:latest", "whippet-busybox", "whippet-busybox", "latest"},
		{"public.ecr.aws/docker/library/busybox:1.36", "public.ecr.aws/docker/library/busybox", "busybox", "1.36"},
		{"localhost:5000/team/app", "localhost:5000/team/app", "app", "latest"},
		{"localhost:5000/team/app:v2@sha256:abcd", "localhost:5000/team/app", "app", "v2"},
		{"repo@sha256:abcd", "repo", "repo", "latest"},
	} {
		n, s, tg := Image(tt.ref)
		if n != tt.name || s != tt.short || tg != tt.tag {
			t.Errorf("Image(%q) = %q, %q, %q; want %q, %q, %q", tt.ref, n, s, tg, tt.name, tt.short, tt.tag)
		}
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	m := &Meta{
		ID: "0cbed5dba142072315d496a4f4f21230c74020775cb2f6249dc24ea7f8a2129f", Name: "ecs-webapp-7-web-aa", Image: "whippet-busybox:latest",
		ImageID: "sha256:3416eb82401c",
		Labels: map[string]string{
			LabelCluster: "prod-ecs", LabelTaskARN: "arn:aws:ecs:us-east-1:123456789012:task/prod-ecs/df36",
			LabelContainerName: "web", LabelFamily: "webapp", LabelVersion: "7",
			"com.datadoghq.tags.env": "prod", "com.datadoghq.ad.tags": `["team:core","tier:web"]`,
		},
	}
	m.Finish()
	want := Tags{
		Low: []string{"aws_account:123456789012", "cluster_name:prod-ecs", "docker_image:whippet-busybox:latest", "ecs_cluster_name:prod-ecs",
			"ecs_container_name:web", "ecs_launch_type:ec2", "env:prod", "image_id:sha256:3416eb82401c", "image_name:whippet-busybox",
			"image_tag:latest", "region:us-east-1", "short_image:whippet-busybox", "task_family:webapp", "task_name:webapp", "task_version:7",
			"team:core", "tier:web"},
		Orchestrator: []string{"task_arn:arn:aws:ecs:us-east-1:123456789012:task/prod-ecs/df36"},
		High: []string{"container_id:0cbed5dba142072315d496a4f4f21230c74020775cb2f6249dc24ea7f8a2129f",
			"container_name:ecs-webapp-7-web-aa", "display_container_name:ecs-webapp-7-web-aa"},
	}
	if diff := cmp.Diff(want, m.Tags); diff != "" {
		t.Errorf("Tags mismatch (-want +got):\n%s", diff)
	}
	if got := len(m.Tags.All()); got != len(want.Low)+1+3 {
		t.Errorf("All() has %d tags", got)
	}
	plain := &Meta{ID: "ab", Name: "n", Labels: map[string]string{"com.datadoghq.ad.tags": "not json"}}
	plain.Finish()
	if len(plain.Tags.Low) != 0 || len(plain.Tags.Orchestrator) != 0 {
		t.Errorf("plain container tags = %+v, want only high-cardinality ones", plain.Tags)
	}
}

func TestIDFromCgroup(t *testing.T) {
	const id = "0cbed5dba142072315d496a4f4f21230c74020775cb2f6249dc24ea7f8a2129f"
	for _, tt := range []struct {
		path string
		want string
	}{
		{"/docker/" + id, id},
		{"/ecs/df3680a1ae7b4506c757ecd12e08f10e/" + id, id},
		{"/system.slice/docker-" + id + ".scope", id},
		{"/ecstasks.slice/ecstasks-87ad2cb2f17d45dab6642cd37bd97c50.slice/docker-" + id + ".scope", id},
		{"/kubepods/burstable/pod1/" + id + "/sub", id},
		{"/", ""},
		{"/user.slice/user-0.slice/session-1.scope", ""},
		{"/process_api/280ba27ced1a29c4748b1fa14dff6065", ""}, // 32 hex: not a container
		{"/docker/" + id + "0", ""},                           // 65 hex
		{"/docker/" + "0CBED5DBA142072315D496A4F4F21230C74020775CB2F6249DC24EA7F8A2129F", ""},
	} {
		got, ok := IDFromCgroup([]byte(tt.path))
		if string(got) != tt.want || ok != (tt.want != "") {
			t.Errorf("IDFromCgroup(%q) = %q, %v; want %q", tt.path, got, ok, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { IDFromCgroup([]byte("/docker/" + id)) }); n != 0 {
		t.Errorf("IDFromCgroup allocates %v", n)
	}
}

func FuzzIDFromCgroup(f *testing.F) {
	f.Add([]byte("/system.slice/docker-0cbed5dba142072315d496a4f4f21230c74020775cb2f6249dc24ea7f8a2129f.scope"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, ok := IDFromCgroup(b)
		if ok && len(id) != 64 {
			t.Fatalf("IDFromCgroup(%q) = %q", b, id)
		}
	})
}
