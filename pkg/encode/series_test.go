package encode

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/DataDog/agent-payload/v5/gogen"
	"github.com/google/go-cmp/cmp"

	"github.com/whippet-agent/whippet/pkg/batch"
)

// fixtureMetrics is the representative batch behind testdata/series.pb: ECS
// container tags, an untagged host series, each intake type, zero, negative
// and large values, tags needing JSON escapes, and points the encoders skip.
func fixtureMetrics() *batch.Metrics {
	m := &batch.Metrics{Host: "i-0123456789abcdef0", Timestamp: 1717000000, Interval: 15}
	web := m.AddTagSet([]string{
		"aws_account:123456789012", "cluster_name:prod", "container_id:3f2a9c", "container_name:ecs-web-1-web-d8f1",
		"docker_image:nginx:1.27", "ecs_cluster_name:prod", "ecs_container_name:web", "ecs_launch_type:ec2",
		"image_name:nginx", "image_tag:1.27", "region:eu-west-1", "runtime:docker", "short_image:nginx",
		"task_arn:arn:aws:ecs:eu-west-1:123456789012:task/prod/0f1e2d", "task_family:web", "task_version:42",
	})
	odd := m.AddTagSet([]string{`label:a "quoted" \ value`, "name:\u00e9t\u00e9\t\x01", "bad:\xff"})
	m.Add("docker.cpu.usage", batch.Gauge, 12.5, web)
	m.Add("container.memory.page_faults", batch.Count, 42, web)
	m.Add("docker.net.bytes_rcvd", batch.Rate, 1.5e9, web)
	m.Add("container.cpu.throttled", batch.Gauge, 0, web)
	m.Add("system.load.1", batch.Gauge, 0.75, batch.NoTags)
	m.Add("system.cpu.iowait", batch.Gauge, -0.25, batch.NoTags)
	m.Add("whippet.odd", batch.Unspecified, 1e-300, odd)
	m.Add("skipped.nan", batch.Gauge, math.NaN(), web)
	m.Add("skipped.inf", batch.Gauge, math.Inf(1), web)
	m.Add("", batch.Gauge, 1, web)
	m.Add("skipped.tagset", batch.Gauge, 1, 7)
	return m
}

// collect encodes m, checks every payload against the limits and returns the
// decompressed bodies and their series, decoded with agent-payload.
func collect(t *testing.T, e *SeriesEncoder, m *batch.Metrics) ([][]byte, []*gogen.MetricPayload_MetricSeries, error) {
	t.Helper()
	var bodies [][]byte
	var series []*gogen.MetricPayload_MetricSeries
	err := e.Encode(m, func(p *Payload) error {
		if p.Kind != Series || p.ContentType != "application/x-protobuf" {
			t.Errorf("payload kind %v, content type %q", p.Kind, p.ContentType)
		}
		if len(p.Body) > e.opts.MaxCompressed {
			t.Errorf("compressed body %d B > %d", len(p.Body), e.opts.MaxCompressed)
		}
		raw, err := Decompress(p.ContentEncoding, p.Body)
		if err != nil {
			t.Fatalf("Decompress(%q): %v", p.ContentEncoding, err)
		}
		if len(raw) > e.opts.MaxUncompressed {
			t.Errorf("uncompressed body %d B > %d", len(raw), e.opts.MaxUncompressed)
		}
		if p.Points > e.opts.MaxPoints {
			t.Errorf("payload of %d points > %d", p.Points, e.opts.MaxPoints)
		}
		var mp gogen.MetricPayload
		if err := mp.Unmarshal(raw); err != nil {
			t.Fatalf("gogen.MetricPayload.Unmarshal: %v", err)
		}
		if len(mp.Series) != p.Points {
			t.Errorf("Payload.Points = %d, body has %d series", p.Points, len(mp.Series))
		}
		bodies = append(bodies, raw)
		series = append(series, mp.Series...)
		return nil
	})
	return bodies, series, err
}

// TestSeriesGolden checks the fixture's body against the golden file, against
// agent-payload's decoder field by field, and byte for byte against gogo's
// own marshalling of the expected message. Goldens hold the decompressed
// protobuf: compressed bytes depend on the compressor's version, the protobuf
// does not, and each compression must decompress to the same bytes.
func TestSeriesGolden(t *testing.T) {
	t.Parallel()
	for _, c := range []Compression{Zstd, Zlib, None} {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			e, err := NewSeriesEncoder(SeriesOptions{Compression: c})
			if err != nil {
				t.Fatal(err)
			}
			m := fixtureMetrics()
			bodies, got, err := collect(t, e, m)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if len(bodies) != 1 {
				t.Fatalf("got %d payloads, want 1", len(bodies))
			}
			if c == Zstd {
				golden(t, "series.pb", bodies[0])
			}
			want := wantSeries(m)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decoded series (-want +got):\n%s", diff)
			}
			oracle, err := (&gogen.MetricPayload{Series: want}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(oracle, bodies[0]); diff != "" {
				t.Errorf("body differs from gogo's Marshal (-gogo +ours):\n%s", diff)
			}
			if s := e.Stats(); s.Skipped != 4 || s.Series != uint64(len(want)) || s.Payloads != 1 {
				t.Errorf("Stats() = %+v, want 4 skipped, %d series, 1 payload", s, len(want))
			}
		})
	}
}

// bigMetrics is a large host: containers × perContainer series with ECS tag
// sets, plus host series; seed varies the values.
func bigMetrics(containers, perContainer int, seed uint64) *batch.Metrics {
	r := rand.New(rand.NewPCG(seed, 1))
	m := &batch.Metrics{Host: "i-0123456789abcdef0", Timestamp: 1717000000, Interval: 15}
	for h := range 100 {
		m.Add(fmt.Sprintf("system.host.metric%d", h), batch.Gauge, r.Float64()*100, batch.NoTags)
	}
	for c := range containers {
		id := fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
		tags := m.AddTagSet([]string{
			"aws_account:123456789012", "container_id:" + id, fmt.Sprintf("container_name:ecs-svc%d-%d", c%37, c),
			fmt.Sprintf("docker_image:registry/svc%d:v%d", c%37, c%5), "ecs_cluster_name:prod",
			fmt.Sprintf("ecs_container_name:svc%d", c%37), "image_name:registry/svc", "region:eu-west-1",
			"runtime:docker", fmt.Sprintf("task_arn:arn:aws:ecs:eu-west-1:123456789012:task/prod/%016x", r.Uint64()),
			fmt.Sprintf("task_family:svc%d", c%37), fmt.Sprintf("task_version:%d", c%9),
		})
		for s := range perContainer {
			typ := batch.Gauge
			if s%5 == 0 {
				typ = batch.Count
			}
			m.Add(fmt.Sprintf("container.metric.n%d", s), typ, math.Floor(r.Float64()*1e6)/8, tags)
		}
	}
	return m
}

// TestSeriesSplit encodes 2,000 containers × 40 series: every payload is
// within the three limits (checked in collect) and the decoded series are the
// input, in order, none lost or repeated.
func TestSeriesSplit(t *testing.T) {
	t.Parallel()
	big, small := bigMetrics(2000, 40, 1), bigMetrics(300, 40, 2)
	for _, tc := range []struct {
		name string
		m    *batch.Metrics
		opts SeriesOptions
	}{
		{"intake limits", big, SeriesOptions{Compression: Zstd}},
		{"point limit", small, SeriesOptions{Compression: Zlib, MaxPoints: 777}},
		{"uncompressed limit", small, SeriesOptions{Compression: None, MaxUncompressed: 100_000}},
		{"compressed limit", small, SeriesOptions{Compression: Zstd, MaxCompressed: 8_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := NewSeriesEncoder(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			want := wantSeries(tc.m)
			bodies, got, err := collect(t, e, tc.m)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			min := (len(want) + e.opts.MaxPoints - 1) / e.opts.MaxPoints
			if len(bodies) < min {
				t.Errorf("%d payloads, want at least %d", len(bodies), min)
			}
			if len(got) != len(want) {
				t.Fatalf("decoded %d series, want %d", len(got), len(want))
			}
			// cmp.Diff over 80,000 messages takes a minute: compare the
			// marshalled messages and diff only the first that differs.
			for i := range want {
				w, _ := want[i].Marshal()
				g, _ := got[i].Marshal()
				if string(w) != string(g) {
					t.Fatalf("series %d (-want +got):\n%s", i, cmp.Diff(want[i], got[i]))
				}
			}
			t.Logf("%d series in %d payloads", len(got), len(bodies))
		})
	}
}

// TestSeriesTooLarge: a series no payload can hold is dropped and reported,
// not retried, and the rest of the batch is still sent.
func TestSeriesTooLarge(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	noise := make([]byte, 3000)
	for i := range noise {
		noise[i] = 'a' + byte(r.IntN(26))
	}
	for _, tc := range []struct {
		name string
		opts SeriesOptions
	}{
		{"uncompressed", SeriesOptions{Compression: Zstd, MaxUncompressed: 2000}},
		{"compressed", SeriesOptions{Compression: Zstd, MaxCompressed: 1500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := &batch.Metrics{Host: "h", Timestamp: 1717000000, Interval: 15}
			big := m.AddTagSet([]string{"noise:" + string(noise)})
			m.Add("before", batch.Gauge, 1, batch.NoTags)
			m.Add("huge", batch.Gauge, 2, big)
			m.Add("after", batch.Gauge, 3, batch.NoTags)
			e, err := NewSeriesEncoder(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, sent, err := collect(t, e, m)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Encode error = %v, want ErrTooLarge", err)
			}
			var names []string
			for _, s := range sent {
				names = append(names, s.Metric)
			}
			if diff := cmp.Diff([]string{"before", "after"}, names); diff != "" {
				t.Errorf("sent series (-want +got):\n%s", diff)
			}
			if d := e.Stats().Dropped; d != 1 {
				t.Errorf("Stats().Dropped = %d, want 1", d)
			}
		})
	}
}

// TestSeriesDeterministic: the same batch gives the same bodies from a fresh
// encoder and from a reused one.
func TestSeriesDeterministic(t *testing.T) {
	t.Parallel()
	m := bigMetrics(300, 40, 3)
	encode := func(e *SeriesEncoder) []string {
		var out []string
		if err := e.Encode(m, func(p *Payload) error {
			out = append(out, string(p.Body))
			return nil
		}); err != nil {
			t.Fatalf("Encode: %v", err)
		}
		return out
	}
	opts := SeriesOptions{Compression: Zstd, MaxPoints: 1000}
	e1, _ := NewSeriesEncoder(opts)
	e2, _ := NewSeriesEncoder(opts)
	first := encode(e1)
	encode(e2)
	if diff := cmp.Diff(first, encode(e2)); diff != "" {
		t.Errorf("reused encoder's bodies differ from a fresh one's:\n%.500s", diff)
	}
	if len(first) < 2 {
		t.Errorf("%d payloads, want several", len(first))
	}
}

func TestSeriesEmitError(t *testing.T) {
	t.Parallel()
	stop := errors.New("intake down")
	e, err := NewSeriesEncoder(SeriesOptions{MaxPoints: 10})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	err = e.Encode(bigMetrics(10, 40, 4), func(*Payload) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Encode = %v after %d emits, want %v after 1", err, calls, stop)
	}
}

// TestSeriesEncodeAllocs: encoding a cycle allocates nothing once the
// encoder's buffers have grown, for every compression, across many payloads.
func TestSeriesEncodeAllocs(t *testing.T) {
	m := bigMetrics(200, 40, 5)
	emit := func(*Payload) error { return nil }
	for _, c := range []Compression{Zstd, Zlib, None} {
		t.Run(c.String(), func(t *testing.T) {
			e, err := NewSeriesEncoder(SeriesOptions{Compression: c, MaxPoints: 2000})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Encode(m, emit); err != nil {
				t.Fatal(err)
			}
			if a := testing.AllocsPerRun(5, func() { _ = e.Encode(m, emit) }); a != 0 {
				t.Errorf("Encode allocates %v times per cycle, want 0", a)
			}
		})
	}
}

func TestParseCompression(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Compression
		ok   bool
	}{
		{"zstd", Zstd, true}, {"zlib", Zlib, true}, {"deflate", Zlib, true}, {"none", None, true}, {"gzip", 0, false},
	} {
		got, err := ParseCompression(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseCompression(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if _, err := Decompress("br", nil); !errors.Is(err, ErrEncoding) {
		t.Errorf("Decompress(br) error = %v, want ErrEncoding", err)
	}
	if !strings.Contains(Zlib.ContentEncoding(), "deflate") {
		t.Errorf("Zlib.ContentEncoding() = %q", Zlib.ContentEncoding())
	}
}
