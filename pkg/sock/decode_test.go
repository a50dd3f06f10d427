package sock

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/whippet-agent/whippet/pkg/container"
)

const (
	v1Docker = "../../testdata/fakehost/v1/docker"
	v2Docker = "../../testdata/fakehost/v2/docker"

	idWeb       = "0cbed5dba142072315d496a4f4f21230c74020775cb2f6249dc24ea7f8a2129f"
	idLogRouter = "bbc5b1de8e830fe0a04e3eb756f9f9ba2ac242881ce502cf8f3d35b92c9c56e8"
	idBilling   = "2840cb82852a3dc8063896aa9ec42f2d966e5a8f1180b0acd2b379d28feaa3ad"
	idMigrate   = "f9f2b5d88fb4f87b1b207dae9a156855d73d89312a67f66ce66dd0f839b7dd13"
	idAPI       = "15781515b71ab0ec1b49cc3c829cf4fe9a7d2ccf410245c27314f0f6f467e65f"
	idEnvoy     = "a3b9659cee89239ee34928e965cd5d04b51a2493f5612e52f52ef0a4cddb480a"
	idCron      = "b7873ac01fa2602b1b0c93cac8f72befedcbef80ce7e930185b6ee0790a886d7"
	idSchema    = "1e7515cd36c205077a0bbd6c6f3fce8c64d14c140557de99d7db98ff994079c9"

	busybox   = "whippet-busybox:latest"
	busyboxID = "sha256:3416eb82401c0b95bbf2817c7a4ac937b9e2f5eacf73201c7ee5a99eaf498660"
	arnV1     = "arn:aws:ecs:us-east-1:123456789012:task/prod-ecs/df3680a1ae7b4506c757ecd12e08f10e"
	arnV2     = "arn:aws:ecs:us-east-1:123456789012:task/prod-ecs-al2023/87ad2cb2f17d45dab6642cd37bd97c50"
)

func ecsLabels(cluster, arn, name, family, version string, extra ...string) map[string]string {
	l := map[string]string{
		container.LabelCluster: cluster, container.LabelTaskARN: arn, container.LabelContainerName: name,
		container.LabelFamily: family, container.LabelVersion: version,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

func ddLabels(service string) map[string]string {
	return map[string]string{"com.datadoghq.tags.env": "staging", "com.datadoghq.tags.service": service, "com.datadoghq.tags.version": "1.4.2"}
}

func ecsID(cluster, arn, task, name, family, version string) container.ECS {
	return container.ECS{Cluster: cluster, TaskARN: arn, TaskID: task, Family: family, Version: version,
		ContainerName: name, Region: "us-east-1", Account: "123456789012"}
}

func ts(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readFixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureMetas are the recorded containers of both fake hosts as whippet must see them.
func fixtureMetas(t *testing.T) map[string]map[string]container.Meta {
	const adTags = "com.datadoghq.ad.tags"
	task1, task2 := "df3680a1ae7b4506c757ecd12e08f10e", "87ad2cb2f17d45dab6642cd37bd97c50"
	return map[string]map[string]container.Meta{
		v1Docker: {
			idWeb: {ID: idWeb, Name: "ecs-webapp-7-web-31cc41b4bf408f267c2e", Image: busybox, ImageID: busyboxID,
				Labels: ecsLabels("prod-ecs", arnV1, "web", "webapp", "7", adTags, `["team:core"]`),
				State:  "running", Pid: 32351, StartedAt: ts(t, "2026-11-26T12:09:04.584918281Z"),
				CgroupParent: "/ecs/" + task1, NetworkMode: "none",
				ECS: ecsID("prod-ecs", arnV1, task1, "web", "webapp", "7")},
			idLogRouter: {ID: idLogRouter, Name: "ecs-webapp-7-log-router-19210209121e9e98094a", Image: busybox, ImageID: busyboxID,
				Labels: ecsLabels("prod-ecs", arnV1, "log-router", "webapp", "7"),
				State:  "running", Pid: 32423, StartedAt: ts(t, "2026-11-26T12:09:04.853686553Z"),
				CgroupParent: "/ecs/" + task1, NetworkMode: "none",
				ECS: ecsID("prod-ecs", arnV1, task1, "log-router", "webapp", "7")},
			idBilling: {ID: idBilling, Name: "billing-worker", Image: busybox, ImageID: busyboxID, Labels: ddLabels("billing-worker"),
				State: "running", Pid: 32496, StartedAt: ts(t, "2026-11-26T12:09:05.096352703Z"), NetworkMode: "none"},
			idMigrate: {ID: idMigrate, Name: "db-migrate", Image: busybox, ImageID: busyboxID, Labels: map[string]string{},
				State: "exited", StartedAt: ts(t, "2026-11-26T12:09:05.320816513Z"), FinishedAt: ts(t, "2026-11-26T12:09:05.320400709Z"),
				NetworkMode: "none"},
		},
		v2Docker: {
			idAPI: {ID: idAPI, Name: "ecs-api-12-api-772555f80287f9a28148", Image: busybox, ImageID: busyboxID,
				Labels: ecsLabels("prod-ecs-al2023", arnV2, "api", "api", "12", adTags, `["team:core"]`),
				State:  "running", Pid: 3305, StartedAt: ts(t, "2026-11-26T12:09:16.341048678Z"),
				CgroupParent: "ecstasks-" + task2 + ".slice", NetworkMode: "none",
				ECS: ecsID("prod-ecs-al2023", arnV2, task2, "api", "api", "12")},
			idEnvoy: {ID: idEnvoy, Name: "ecs-api-12-envoy-a9d2f034f00fd68c2f49", Image: busybox, ImageID: busyboxID,
				Labels: ecsLabels("prod-ecs-al2023", arnV2, "envoy", "api", "12"),
				State:  "running", Pid: 3380, StartedAt: ts(t, "2026-11-26T12:09:16.586438497Z"),
				CgroupParent: "ecstasks-" + task2 + ".slice", NetworkMode: "none",
				ECS: ecsID("prod-ecs-al2023", arnV2, task2, "envoy", "api", "12")},
			idCron: {ID: idCron, Name: "cron-runner", Image: busybox, ImageID: busyboxID, Labels: ddLabels("cron-runner"),
				State: "running", Pid: 3447, StartedAt: ts(t, "2026-11-26T12:09:16.844996044Z"), NetworkMode: "none"},
			idSchema: {ID: idSchema, Name: "schema-check", Image: busybox, ImageID: busyboxID, Labels: map[string]string{},
				State: "exited", StartedAt: ts(t, "2026-11-26T12:09:17.102938362Z"), FinishedAt: ts(t, "2026-11-26T12:09:17.104563479Z"),
				NetworkMode: "none"},
		},
	}
}

var ignoreTags = cmpopts.IgnoreFields(container.Meta{}, "Tags")

func TestDecodeFixtures(t *testing.T) {
	t.Parallel()
	wantList := map[string][]Summary{
		v1Docker: {
			{ID: idMigrate, Name: "db-migrate", Image: busybox, State: "exited"},
			{ID: idBilling, Name: "billing-worker", Image: busybox, State: "running"},
			{ID: idLogRouter, Name: "ecs-webapp-7-log-router-19210209121e9e98094a", Image: busybox, State: "running"},
			{ID: idWeb, Name: "ecs-webapp-7-web-31cc41b4bf408f267c2e", Image: busybox, State: "running"},
		},
		v2Docker: {
			{ID: idSchema, Name: "schema-check", Image: busybox, State: "exited"},
			{ID: idCron, Name: "cron-runner", Image: busybox, State: "running"},
			{ID: idEnvoy, Name: "ecs-api-12-envoy-a9d2f034f00fd68c2f49", Image: busybox, State: "running"},
			{ID: idAPI, Name: "ecs-api-12-api-772555f80287f9a28148", Image: busybox, State: "running"},
		},
	}
	for dir, metas := range fixtureMetas(t) {
		list, err := DecodeList(readFixture(t, filepath.Join(dir, "containers.json")))
		if err != nil {
			t.Fatalf("DecodeList(%s) error: %v", dir, err)
		}
		if diff := cmp.Diff(wantList[dir], list); diff != "" {
			t.Errorf("DecodeList(%s) mismatch (-want +got):\n%s", dir, diff)
		}
		for id, want := range metas {
			var got container.Meta
			if err := DecodeInspect(readFixture(t, filepath.Join(dir, "containers", id+".json")), &got); err != nil {
				t.Fatalf("DecodeInspect(%s) error: %v", id, err)
			}
			got.Finish()
			if diff := cmp.Diff(want, got, ignoreTags); diff != "" {
				t.Errorf("DecodeInspect(%s/%s) mismatch (-want +got):\n%s", filepath.Base(filepath.Dir(dir)), id[:12], diff)
			}
			if got.Tags.High == nil {
				t.Errorf("DecodeInspect(%s) + Finish: no tags", id[:12])
			}
		}
	}
}

func TestDecodeInspectBad(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, in string }{
		{"empty", ""},
		{"not json", "<html>502 Bad Gateway</html>"},
		{"truncated", `{"Id":"` + idWeb + `","State":{"Status":"run`},
		{"array", `[]`},
		{"no id", `{"Name":"/x"}`},
		{"id not hex", `{"Id":"../../images/json"}`},
		{"id too long", `{"Id":"` + idWeb + idWeb + `"}`},
		{"pid not a number", `{"Id":"` + idWeb + `","State":{"Pid":"12"}}`},
		{"bad started", `{"Id":"` + idWeb + `","State":{"StartedAt":"yesterday"}}`},
		{"bad finished", `{"Id":"` + idWeb + `","State":{"FinishedAt":"2026-13-01T00:00:00Z"}}`},
		{"labels not strings", `{"Id":"` + idWeb + `","Config":{"Labels":{"a":1}}}`},
	} {
		var m container.Meta
		if err := DecodeInspect([]byte(tt.in), &m); err == nil {
			t.Errorf("%s: DecodeInspect(%q) = %+v, want an error", tt.name, tt.in, m)
		}
	}
	// Fields whippet does not read may be anything; missing ones are zero.
	var m container.Meta
	in := `{"Id":"` + idWeb + `","Name":"/x","Mounts":{"weird":[1,2]},"State":{"Pid":-5,"StartedAt":""},"Config":{"Labels":null}}`
	if err := DecodeInspect([]byte(in), &m); err != nil {
		t.Fatalf("DecodeInspect(%q) error: %v", in, err)
	}
	if want := (container.Meta{ID: idWeb, Name: "x"}); !cmp.Equal(want, m) {
		t.Errorf("DecodeInspect(%q) = %+v, want %+v", in, m, want)
	}
}

func TestDecodeListNames(t *testing.T) {
	t.Parallel()
	in := `[{"Id":"ab","Names":["/web/db","/db"],"State":"running"},{"Id":"cd","Names":[]},{"Id":"ef","Names":["/a/b"]}]`
	got, err := DecodeList([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Summary{{ID: "ab", Name: "db", State: "running"}, {ID: "cd"}, {ID: "ef", Name: "a/b"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeList(%q) mismatch (-want +got):\n%s", in, diff)
	}
	for _, bad := range []string{"", "{}", `[{"Id":"XYZ"}]`, `[{"Id":""}]`, `[1]`, `[{"Id":"ab","Names":"/x"}]`} {
		if got, err := DecodeList([]byte(bad)); err == nil {
			t.Errorf("DecodeList(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		in   string
		want Event
		err  error // nil: any error when wantErr
		bad  bool
	}{
		{name: "API 1.41 start", in: `{"status":"start","id":"` + idWeb + `","from":"x","Type":"container","Action":"start","Actor":{"ID":"` + idWeb + `","Attributes":{"image":"x","name":"web"}},"scope":"local","time":1795694944,"timeNano":1795694944586973748}`,
			want: Event{Action: "start", ID: idWeb, Name: "web", Time: time.Unix(0, 1795694944586973748)}},
		{name: "API 1.52, no status/id/from", in: `{"Type":"container","Action":"rename","Actor":{"ID":"` + idWeb + `","Attributes":{"name":"new","oldName":"/old"}},"scope":"local","time":5,"timeNano":5000000001}`,
			want: Event{Action: "rename", ID: idWeb, Name: "new", Time: time.Unix(0, 5000000001)}},
		{name: "API < 1.22, status only", in: `{"status":"die","id":"` + idWeb + `","from":"busybox","time":7}`,
			want: Event{Action: "die", ID: idWeb, Time: time.Unix(7, 0)}},
		{name: "action with detail", in: `{"Type":"container","Action":"exec_start: sh -c true","Actor":{"ID":"` + idWeb + `"}}`,
			want: Event{Action: "exec_start", ID: idWeb}},
		{name: "network event", in: `{"Type":"network","Action":"connect","Actor":{"ID":"` + idWeb + `"}}`, err: errNotContainer},
		{name: "garbage", in: `{"Type":"container",`, bad: true},
		{name: "not an object", in: `"start"`, bad: true},
		{name: "no action", in: `{"Type":"container","Actor":{"ID":"` + idWeb + `"}}`, bad: true},
		{name: "bad id", in: `{"Type":"container","Action":"start","Actor":{"ID":"../../x"}}`, bad: true},
	} {
		var got Event
		err := DecodeEvent([]byte(tt.in), &got)
		switch {
		case tt.err != nil || tt.bad:
			if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) {
				t.Errorf("%s: DecodeEvent(%q) = %+v, %v; want error %v", tt.name, tt.in, got, err, tt.err)
			}
		case err != nil:
			t.Errorf("%s: DecodeEvent(%q) error: %v", tt.name, tt.in, err)
		case !cmp.Equal(tt.want, got):
			t.Errorf("%s: DecodeEvent(%q) = %+v, want %+v", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestDecodeRecordedEvents(t *testing.T) {
	t.Parallel()
	names := map[string]string{idWeb: "ecs-webapp-7-web-31cc41b4bf408f267c2e", idLogRouter: "ecs-webapp-7-log-router-19210209121e9e98094a",
		idBilling: "billing-worker", idMigrate: "db-migrate", idAPI: "ecs-api-12-api-772555f80287f9a28148",
		idEnvoy: "ecs-api-12-envoy-a9d2f034f00fd68c2f49", idCron: "cron-runner", idSchema: "schema-check"}
	for _, dir := range []string{v1Docker, v2Docker} {
		var actions []string
		for line := range bytes.Lines(readFixture(t, filepath.Join(dir, "events.jsonl"))) {
			var e Event
			if err := DecodeEvent(bytes.TrimSpace(line), &e); err != nil {
				t.Fatalf("DecodeEvent(%s line) error: %v", dir, err)
			}
			if names[e.ID] != e.Name || e.Time.IsZero() {
				t.Errorf("DecodeEvent(%s) = %+v: wrong name or no time", dir, e)
			}
			actions = append(actions, e.Action)
		}
		want := []string{"create", "start", "create", "start", "create", "start", "create", "start", "die", "destroy", "die", "die", "die", "destroy", "destroy", "destroy"}
		if !cmp.Equal(want, actions) {
			t.Errorf("%s actions = %v, want %v", dir, actions, want)
		}
	}
}

func TestChooseVersion(t *testing.T) {
	t.Parallel()
	v := func(s string) apiVersion { a, _ := parseAPIVersion(s); return a }
	for _, tt := range []struct{ max, min, want string }{
		{"1.41", "1.12", "1.41"},
		{"1.24", "", "1.24"},
		{"1.47", "1.24", "1.47"},
		{"1.52", "1.44", "1.47"}, // Engine 29: newest we know
		{"1.60", "1.50", "1.50"}, // a future daemon whose minimum is above what we know
		{"2.3", "", "1.47"},
	} {
		got, err := choose(v(tt.max), v(tt.min))
		if err != nil || got.String() != tt.want {
			t.Errorf("choose(%s, %s) = %s, %v; want %s", tt.max, tt.min, got, err, tt.want)
		}
	}
	if got, err := choose(v("1.23"), apiVersion{}); err == nil {
		t.Errorf("choose(1.23) = %s, want an error (older than 1.24)", got)
	}
	for _, bad := range []string{"", "1", "a.b", "1.-2", "-1.3", "1.2.3x"} {
		if got, ok := parseAPIVersion(bad); ok {
			t.Errorf("parseAPIVersion(%q) = %v, want not ok", bad, got)
		}
	}
}

func fixtureSeeds(f *testing.F, names ...string) {
	for _, dir := range []string{v1Docker, v2Docker} {
		for _, n := range names {
			matches, _ := filepath.Glob(filepath.Join(dir, n))
			for _, m := range matches {
				f.Add(readFixture(f, m))
			}
		}
	}
}

func FuzzDecodeList(f *testing.F) {
	fixtureSeeds(f, "containers.json")
	f.Add([]byte(`[{"Id":"ab","Names":["/a/b","/c"]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := DecodeList(b)
		if err != nil {
			return
		}
		for _, s := range list {
			if !validID(s.ID) {
				t.Fatalf("DecodeList(%q) accepted id %q", b, s.ID)
			}
		}
	})
}

func FuzzDecodeInspect(f *testing.F) {
	fixtureSeeds(f, "containers/*.json")
	f.Add([]byte(`{"Id":"ab","State":{"StartedAt":"0001-01-01T00:00:00Z","Pid":-1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m container.Meta
		if err := DecodeInspect(b, &m); err != nil {
			return
		}
		if !validID(m.ID) || m.Pid < 0 {
			t.Fatalf("DecodeInspect(%q) = %+v", b, m)
		}
		m.Finish() // tags from whatever labels came: must not panic either
	})
}

func FuzzDecodeEvent(f *testing.F) {
	for _, dir := range []string{v1Docker, v2Docker} {
		for line := range bytes.Lines(readFixture(f, filepath.Join(dir, "events.jsonl"))) {
			f.Add(bytes.TrimSpace(line))
		}
	}
	f.Add([]byte(`{"status":"die","id":"ab","time":7}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Event
		if err := DecodeEvent(b, &e); err != nil {
			return
		}
		if !validID(e.ID) || e.Action == "" {
			t.Fatalf("DecodeEvent(%q) = %+v", b, e)
		}
	})
}

func BenchmarkDecodeList(b *testing.B) {
	buf := readFixture(b, filepath.Join(v1Docker, "containers.json"))
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeList(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeInspect(b *testing.B) {
	buf := readFixture(b, filepath.Join(v1Docker, "containers", idWeb+".json"))
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var m container.Meta
	for b.Loop() {
		if err := DecodeInspect(buf, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInspectFinish is what the watcher does per container event after the
// read: decode, then tags.
func BenchmarkInspectFinish(b *testing.B) {
	buf := readFixture(b, filepath.Join(v1Docker, "containers", idWeb+".json"))
	b.ReportAllocs()
	for b.Loop() {
		var m container.Meta
		if err := DecodeInspect(buf, &m); err != nil {
			b.Fatal(err)
		}
		m.Finish()
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	line, _, _ := bytes.Cut(readFixture(b, filepath.Join(v1Docker, "events.jsonl")), []byte("\n"))
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	var e Event
	for b.Loop() {
		if err := DecodeEvent(line, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeAllocs pins the allocations of decoding: what is left is the strings
// and label maps a Meta keeps (BenchmarkDecode*, bench/docker_test.go).
func TestDecodeAllocs(t *testing.T) {
	list := readFixture(t, filepath.Join(v1Docker, "containers.json"))
	insp := readFixture(t, filepath.Join(v1Docker, "containers", idWeb+".json"))
	event, _, _ := bytes.Cut(readFixture(t, filepath.Join(v1Docker, "events.jsonl")), []byte("\n"))
	var (
		m container.Meta
		e Event
	)
	for _, tt := range []struct {
		name string
		max  float64
		f    func()
	}{
		{"DecodeList (4 containers)", 40, func() { DecodeList(list) }},
		{"DecodeInspect (6 labels)", 40, func() { DecodeInspect(insp, &m) }},
		{"DecodeEvent", 20, func() { DecodeEvent(event, &e) }},
	} {
		if n := testing.AllocsPerRun(50, tt.f); n > tt.max {
			t.Errorf("%s: %v allocations, want at most %v", tt.name, n, tt.max)
		}
	}
}
