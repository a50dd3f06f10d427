// Package statsd sends a cycle's metrics as DogStatsD datagrams, for hosts where
// a Datadog agent (or another DogStatsD receiver) already runs and should own the
// API key, the host identity and the retries. It wraps datadog-go's client, so
// buffering, packet sizing, drop-don't-block and the drop counters are the
// client's; this package only maps batch points onto it.
package statsd

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	dogstatsd "github.com/DataDog/datadog-go/v5/statsd"

	"github.com/whippet-agent/whippet/pkg/batch"
)

// ProcessesUnsupported is logged once by the daemon when DogStatsD is the only
// output and process collection is on: DogStatsD carries metrics, events and
// service checks, not Live Processes payloads.
const ProcessesUnsupported = "DogStatsD output carries metrics only: Live Processes cannot be sent over DogStatsD " +
	"(they need the process intake, DD_API_KEY and DD_SITE); process collection is skipped"

// DefaultPort is DogStatsD's UDP port when DD_DOGSTATSD_PORT is not set.
const DefaultPort = "8125"

// Target returns the DogStatsD address the environment names, in the form New
// takes ("host:port" for UDP, "unix:///path" for a Unix socket), the way
// datadog-go and the Datadog tracers resolve it: DD_DOGSTATSD_URL (udp:// or
// unix://) first, else DD_AGENT_HOST with DD_DOGSTATSD_PORT (default 8125).
// ok is false when neither is set or DD_DOGSTATSD_URL is unusable.
func Target(env func(string) string) (addr string, ok bool) {
	if raw := env("DD_DOGSTATSD_URL"); raw != "" {
		u, err := url.Parse(raw)
		if err != nil {
			return "", false
		}
		switch u.Scheme {
		case "udp":
			if u.Host == "" {
				return "", false
			}
			if u.Port() == "" {
				return net.JoinHostPort(u.Hostname(), DefaultPort), true
			}
			return u.Host, true
		case "unix":
			if u.Path == "" || u.Host != "" {
				return "", false
			}
			return "unix://" + u.Path, true
		}
		return "", false
	}
	host := env("DD_AGENT_HOST")
	if host == "" {
		return "", false
	}
	port := env("DD_DOGSTATSD_PORT")
	if port == "" {
		port = DefaultPort
	}
	return net.JoinHostPort(host, port), true
}

// Options tune a Sender. The zero value suits a per-cycle batch.
type Options struct {
	// Namespace prefixes every metric name; a '.' is added when it lacks one.
	Namespace string
	// Tags are added to every metric. Datagrams carry no host: the receiving agent
	// stamps its own host name unless a "host:<name>" tag is given here.
	Tags []string
	// Timestamps sends each point with the batch's timestamp (DogStatsD v1.3 `|T`,
	// agent ≥ 7.40). The agent then stores counts as COUNT, as its own checks do,
	// instead of aggregating `|c` into a per-second RATE over its 10 s bucket.
	Timestamps bool
	// MaxBytesPerPayload overrides the client's datagram size (UDP 1432, UDS 8192).
	MaxBytesPerPayload int
}

// Stats are the sender's counters: points it refused and the client's own
// telemetry, whose Total*Dropped* fields count what was lost on the way out.
type Stats struct {
	// Skipped counts points not sent: unspecified type or a non-finite value.
	Skipped uint64
	dogstatsd.Telemetry
}

// Sender writes batches to one DogStatsD address. Send and Close must not run
// concurrently.
type Sender struct {
	client     *dogstatsd.Client
	timestamps bool
	skipped    atomic.Uint64
	closeOnce  sync.Once
	closeErr   error
}

// New connects a Sender to addr ("host:port" for UDP, "unix:///path",
// "unixgram:///path" or "unixstream:///path"). Unlike datadog-go it never falls
// back to the environment: resolve that with Target.
//
// Origin detection is off: it would make the agent add whippet's own container
// tags to every series, including the series of the containers we observe.
// Client-side aggregation is off too: a batch holds each context once, so the
// aggregator would only delay the points and allocate a context key per point.
// One serialisation worker: Send is called from one goroutine, so more workers
// would only split a cycle into more, emptier packets (and Flush pauses each).
func New(addr string, o Options) (*Sender, error) {
	if addr == "" {
		return nil, errors.New("dogstatsd: empty address")
	}
	opts := []dogstatsd.Option{
		dogstatsd.WithoutOriginDetection(),
		dogstatsd.WithoutClientSideAggregation(),
		dogstatsd.WithWorkersCount(1),
		dogstatsd.WithTags(o.Tags),
	}
	if o.Namespace != "" {
		opts = append(opts, dogstatsd.WithNamespace(o.Namespace)) // it appends a '.' when missing
	}
	if o.MaxBytesPerPayload > 0 {
		opts = append(opts, dogstatsd.WithMaxBytesPerPayload(o.MaxBytesPerPayload))
	}
	c, err := dogstatsd.New(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dogstatsd %s: %w", addr, err)
	}
	return &Sender{client: c, timestamps: o.Timestamps}, nil
}

// Send writes every point of m and flushes, so the cycle's datagrams leave now
// rather than at the client's next 100 ms tick. Gauges and per-second rates go
// as gauges (`|g`: a `|c` would be divided by the agent's flush interval); counts
// as counts, rounded to integers. Points with an unspecified type or a NaN or
// infinite value are skipped and counted. Send allocates nothing per point (the
// tag slices are the batch's, formatted by the client into its pooled buffers);
// the client's Flush allocates once per call.
func (s *Sender) Send(m *batch.Metrics) error {
	var ts time.Time
	if s.timestamps {
		ts = time.Unix(m.Timestamp, 0)
	}
	var firstErr error
	var failed int
	for i := range m.Points {
		p := &m.Points[i]
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			s.skipped.Add(1)
			continue
		}
		tags := m.Tags(p)
		var err error
		switch p.Type {
		case batch.Gauge, batch.Rate:
			if s.timestamps {
				err = s.client.GaugeWithTimestamp(p.Name, p.Value, tags, 1, ts)
			} else {
				err = s.client.Gauge(p.Name, p.Value, tags, 1)
			}
		case batch.Count:
			v := int64(math.Round(p.Value))
			if s.timestamps {
				err = s.client.CountWithTimestamp(p.Name, v, tags, 1, ts)
			} else {
				err = s.client.Count(p.Name, v, tags, 1)
			}
		default:
			s.skipped.Add(1)
			continue
		}
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if err := s.client.Flush(); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		return fmt.Errorf("dogstatsd send (%d of %d points failed): %w", failed, len(m.Points), firstErr)
	}
	return nil
}

// Stats returns the sender's counters since New.
func (s *Sender) Stats() Stats {
	return Stats{Skipped: s.skipped.Load(), Telemetry: s.client.GetTelemetry()}
}

// Close flushes what is buffered and closes the socket. It is idempotent.
func (s *Sender) Close() error {
	s.closeOnce.Do(func() {
		if err := s.client.Close(); err != nil {
			s.closeErr = fmt.Errorf("dogstatsd close: %w", err)
		}
	})
	return s.closeErr
}
