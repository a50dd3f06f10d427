package encode

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/whippet-agent/whippet/pkg/batch"
)

// The documented v2 shape, decoded strictly.
type jsonBody struct {
	Series []jsonSeries `json:"series"`
}

type jsonSeries struct {
	Metric    string         `json:"metric"`
	Type      int            `json:"type"`
	Points    []jsonPoint    `json:"points"`
	Resources []jsonResource `json:"resources"`
	Tags      []string       `json:"tags"`
	Interval  *int64         `json:"interval"`
}

type jsonPoint struct {
	Timestamp int64   `json:"timestamp"`
	Value     float64 `json:"value"`
}

type jsonResource struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

func TestAppendJSON(t *testing.T) {
	t.Parallel()
	m := fixtureMetrics()
	out := AppendJSON([]byte("prefix"), m)
	if !bytes.HasPrefix(out, []byte("prefix{")) {
		t.Fatalf("AppendJSON did not append to dst: %.20q", out)
	}
	dec := json.NewDecoder(bytes.NewReader(out[len("prefix"):]))
	dec.DisallowUnknownFields()
	var got jsonBody
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("encoding/json: %v\n%s", err, out)
	}
	var want jsonBody
	for _, s := range wantSeries(m) {
		js := jsonSeries{
			Metric:    s.Metric,
			Type:      int(s.Type),
			Points:    []jsonPoint{{Timestamp: s.Points[0].Timestamp, Value: s.Points[0].Value}},
			Resources: []jsonResource{{Type: "host", Name: m.Host}},
			Tags:      s.Tags,
		}
		if js.Tags == nil {
			js.Tags = []string{}
		}
		if s.Interval != 0 {
			js.Interval = &s.Interval
		}
		// encoding/json, like the intake, reads invalid UTF-8 as U+FFFD.
		for i, tag := range js.Tags {
			js.Tags[i] = string([]rune(tag))
		}
		want.Series = append(want.Series, js)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded JSON (-want +got):\n%s", diff)
	}
}

func TestAppendJSONHostless(t *testing.T) {
	t.Parallel()
	m := &batch.Metrics{Timestamp: 1}
	m.Add("a", batch.Gauge, 1, batch.NoTags)
	want := `{"series":[{"metric":"a","type":3,"points":[{"timestamp":1,"value":1}],"tags":[]}]}`
	if got := string(AppendJSON(nil, m)); got != want {
		t.Errorf("AppendJSON = %s, want %s", got, want)
	}
	if got := string(AppendJSON(nil, &batch.Metrics{})); got != `{"series":[]}` {
		t.Errorf("AppendJSON(empty) = %s", got)
	}
}

func TestAppendJSONAllocs(t *testing.T) {
	m := bigMetrics(50, 40, 9)
	buf := AppendJSON(nil, m)
	if a := testing.AllocsPerRun(10, func() { buf = AppendJSON(buf[:0], m) }); a != 0 {
		t.Errorf("AppendJSON allocates %v times with a reused buffer, want 0", a)
	}
}
