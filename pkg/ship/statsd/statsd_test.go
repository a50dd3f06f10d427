package statsd

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/whippet-agent/whippet/pkg/batch"
)

func TestTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		env    map[string]string
		want   string
		wantOK bool
	}{
		{name: "nothing set"},
		{name: "agent host", env: map[string]string{"DD_AGENT_HOST": "10.0.0.7"}, want: "10.0.0.7:8125", wantOK: true},
		{name: "agent host and port", env: map[string]string{"DD_AGENT_HOST": "dd", "DD_DOGSTATSD_PORT": "9125"}, want: "dd:9125", wantOK: true},
		{name: "ipv6 agent host", env: map[string]string{"DD_AGENT_HOST": "fd00::1"}, want: "[fd00::1]:8125", wantOK: true},
		{name: "port alone is not a target", env: map[string]string{"DD_DOGSTATSD_PORT": "9125"}},
		{name: "udp url", env: map[string]string{"DD_DOGSTATSD_URL": "udp://172.17.0.1:8126"}, want: "172.17.0.1:8126", wantOK: true},
		{name: "udp url default port", env: map[string]string{"DD_DOGSTATSD_URL": "udp://localhost"}, want: "localhost:8125", wantOK: true},
		{name: "url wins over agent host", env: map[string]string{"DD_DOGSTATSD_URL": "unix:///var/run/datadog/dsd.socket", "DD_AGENT_HOST": "x"},
			want: "unix:///var/run/datadog/dsd.socket", wantOK: true},
		{name: "unix url with a host", env: map[string]string{"DD_DOGSTATSD_URL": "unix://var/run/dsd.socket"}},
		{name: "udp url without host", env: map[string]string{"DD_DOGSTATSD_URL": "udp://"}},
		{name: "unknown scheme", env: map[string]string{"DD_DOGSTATSD_URL": "tcp://1.2.3.4:8125"}},
		{name: "unparsable url", env: map[string]string{"DD_DOGSTATSD_URL": "udp://[::1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := Target(func(k string) string { return tt.env[k] })
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Target(%v) = %q, %v, want %q, %v", tt.env, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// datagram is one parsed DogStatsD metric line.
type datagram struct {
	Name  string
	Value float64
	Type  string // "g" or "c"
	Tags  []string
	TS    int64 // 0 without |T
}

// parseDatagrams parses a packet: metric lines separated by '\n'.
func parseDatagrams(pkt []byte) ([]datagram, error) {
	var out []datagram
	for line := range bytes.SplitSeq(bytes.TrimSuffix(pkt, []byte("\n")), []byte("\n")) {
		fields := strings.Split(string(line), "|")
		name, val, ok := strings.Cut(fields[0], ":")
		if !ok || len(fields) < 2 {
			return nil, fmt.Errorf("bad datagram %q", line)
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("datagram %q: value: %w", line, err)
		}
		d := datagram{Name: name, Value: v, Type: fields[1]}
		for _, f := range fields[2:] {
			switch {
			case strings.HasPrefix(f, "#"):
				d.Tags = strings.Split(f[1:], ",")
			case strings.HasPrefix(f, "T"):
				if d.TS, err = strconv.ParseInt(f[1:], 10, 64); err != nil {
					return nil, fmt.Errorf("datagram %q: timestamp: %w", line, err)
				}
			default:
				return nil, fmt.Errorf("datagram %q: unexpected field %q", line, f)
			}
		}
		slices.Sort(d.Tags)
		out = append(out, d)
	}
	return out, nil
}

// receive reads datagrams from conn until n metric lines (client telemetry
// excluded) have arrived. The read deadline only bounds a broken run. It may run
// on its own goroutine, so it reports with Error and returns what it has.
func receive(t *testing.T, conn net.PacketConn, n int) []datagram {
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Error(err)
		return nil
	}
	buf := make([]byte, 65536)
	var got []datagram
	for len(got) < n {
		k, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Errorf("after %d of %d datagrams: %v", len(got), n, err)
			return got
		}
		ds, err := parseDatagrams(buf[:k])
		if err != nil {
			t.Error(err)
			return got
		}
		for _, d := range ds {
			if !strings.HasPrefix(d.Name, "datadog.dogstatsd.client.") {
				got = append(got, d)
			}
		}
	}
	return got
}

// clientEnvTags are the global tags datadog-go itself adds from the environment.
func clientEnvTags() []string {
	var tags []string
	for _, kv := range [][2]string{{"DD_ENV", "env"}, {"DD_SERVICE", "service"}, {"DD_VERSION", "version"}} {
		if v := os.Getenv(kv[0]); v != "" {
			tags = append(tags, kv[1]+":"+v)
		}
	}
	return tags
}

// testBatch has every point type, shared and empty tag sets, and two points
// Send must skip.
func testBatch(extra int) *batch.Metrics {
	m := &batch.Metrics{Host: "i-0abc", Timestamp: 1764000000, Interval: 15}
	web := m.AddTagSet([]string{"container_name:web", "image_name:nginx", "task_family:shop"})
	db := m.AddTagSet([]string{"container_name:db"})
	m.Add("container.cpu.usage", batch.Rate, 1.25e8, web)
	m.Add("container.memory.usage", batch.Gauge, 52428800, web)
	m.Add("docker.mem.rss", batch.Gauge, 0.5, db)
	m.Add("container.memory.page_faults", batch.Count, 42, db)
	m.Add("system.cpu.context_switches", batch.Count, 2.6, batch.NoTags) // rounded to 3
	m.Add("system.load.1", batch.Gauge, 0.75, batch.NoTags)
	m.Add("bad.nan", batch.Gauge, math.NaN(), web)
	m.Add("bad.type", batch.Unspecified, 1, web)
	for i := range extra {
		m.Add(fmt.Sprintf("many.gauge.%04d", i), batch.Gauge, float64(i)/4, web)
	}
	return m
}

// want is what a receiver must parse from testBatch.
func want(m *batch.Metrics, global []string, ts int64) []datagram {
	var out []datagram
	for i := range m.Points {
		p := &m.Points[i]
		d := datagram{Name: p.Name, Value: p.Value, TS: ts}
		switch p.Type {
		case batch.Gauge, batch.Rate:
			d.Type = "g"
		case batch.Count:
			d.Type, d.Value = "c", math.Round(p.Value)
		default:
			continue
		}
		if math.IsNaN(p.Value) {
			continue
		}
		d.Tags = slices.Concat(global, m.Tags(p))
		slices.Sort(d.Tags)
		if len(d.Tags) == 0 {
			d.Tags = nil
		}
		out = append(out, d)
	}
	return out
}

func byName(a, b datagram) int { return strings.Compare(a.Name, b.Name) }

func TestSend(t *testing.T) {
	t.Parallel()
	listeners := map[string]func(t *testing.T) (net.PacketConn, string){
		"udp": func(t *testing.T) (net.PacketConn, string) {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return c, c.LocalAddr().String()
		},
		"unixgram": func(t *testing.T) (net.PacketConn, string) {
			path := filepath.Join(t.TempDir(), "dsd.socket")
			c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			return c, "unix://" + path
		},
	}
	for transport, listen := range listeners {
		for _, timestamps := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/timestamps=%v", transport, timestamps), func(t *testing.T) {
				t.Parallel()
				conn, addr := listen(t)
				defer conn.Close()
				global := []string{"source:whippet"}
				s, err := New(addr, Options{Tags: global, Timestamps: timestamps})
				if err != nil {
					t.Fatalf("New(%q) = %v", addr, err)
				}
				defer s.Close()
				m := testBatch(300) // several payloads on either transport
				var ts int64
				if timestamps {
					ts = m.Timestamp
				}
				wantD := want(m, append(global, clientEnvTags()...), ts)
				// Receive while sending: a unixgram queue holds few datagrams.
				done := make(chan []datagram)
				go func() { done <- receive(t, conn, len(wantD)) }()
				if err := s.Send(m); err != nil {
					t.Fatalf("Send() = %v", err)
				}
				got := <-done
				slices.SortFunc(got, byName)
				slices.SortFunc(wantD, byName)
				if diff := cmp.Diff(wantD, got); diff != "" {
					t.Errorf("datagrams differ (-want +got):\n%s", diff)
				}
				st := s.Stats()
				if st.Skipped != 2 {
					t.Errorf("Stats().Skipped = %d, want 2 (NaN and unspecified type)", st.Skipped)
				}
				if st.TotalMetricsCount != 2 || st.TotalMetricsGauge != uint64(len(wantD)-2) {
					t.Errorf("Stats() gauges %d counts %d, want %d and 2", st.TotalMetricsGauge, st.TotalMetricsCount, len(wantD)-2)
				}
				if st.TotalPayloadsSent < 2 || st.TotalPayloadsDropped != 0 {
					t.Errorf("Stats() payloads sent %d dropped %d, want ≥ 2 and 0", st.TotalPayloadsSent, st.TotalPayloadsDropped)
				}
			})
		}
	}
}

func TestNamespace(t *testing.T) {
	t.Parallel()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s, err := New(conn.LocalAddr().String(), Options{Namespace: "whippet."})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := &batch.Metrics{}
	m.Add("up", batch.Gauge, 1, batch.NoTags)
	if err := s.Send(m); err != nil {
		t.Fatal(err)
	}
	got := receive(t, conn, 1)
	if len(got) == 1 && got[0].Name != "whippet.up" {
		t.Errorf("name = %q, want whippet.up", got[0].Name)
	}
}

func TestCloseIdempotent(t *testing.T) {
	t.Parallel()
	s, err := New("127.0.0.1:9", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close() = %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"", "no-port-host:notaport"} {
		if s, err := New(addr, Options{}); err == nil {
			s.Close()
			t.Errorf("New(%q) = nil error, want one", addr)
		}
	}
}

// sink is a UDP socket that reads and discards, so allocation figures are not
// disturbed by a full socket buffer.
func sink(tb testing.TB) string {
	tb.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, err := c.(*net.UDPConn).Read(buf); err != nil { // ReadFrom would allocate an address
				return
			}
		}
	}()
	return c.LocalAddr().String()
}

func TestSendAllocs(t *testing.T) {
	s, err := New(sink(t), Options{Tags: []string{"source:whippet"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	small, large := testBatch(10), testBatch(1000)
	if err := s.Send(large); err != nil { // warm the client's buffers
		t.Fatal(err)
	}
	a := testing.AllocsPerRun(20, func() { _ = s.Send(small) })
	b := testing.AllocsPerRun(20, func() { _ = s.Send(large) })
	t.Logf("allocs per Send: %.1f for %d points, %.1f for %d points", a, len(small.Points), b, len(large.Points))
	// The client's Flush allocates once per call (a deferred unpause per worker);
	// nothing may grow with the number of points.
	if b > a || a > 1 {
		t.Errorf("Send allocates %.1f for %d points and %.1f for %d, want at most 1 each", a, len(small.Points), b, len(large.Points))
	}
}

func BenchmarkSend(b *testing.B) {
	s, err := New(sink(b), Options{Tags: []string{"source:whippet"}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := testBatch(1000)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Send(m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(m.Points)), "ns/point")
}
