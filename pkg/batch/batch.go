// Package batch holds one cycle's output in the shape every consumer reads: the
// metric points pkg/metrics derives and the process list for Live Processes.
// Encoders (Datadog series and process payloads, the msgpack spool record,
// DogStatsD, stdout) all take these types, so a cycle is derived once and
// encoded as many times as there are outputs.
//
// Both types are reused from cycle to cycle: Reset keeps their capacity, and the
// strings they hold (metric names from the catalogue, tag slices cached per
// container) are shared, not rebuilt, so filling a batch allocates nothing in
// steady state.
package batch

// MetricType is a series' intake type, numbered as agent-payload's
// MetricPayload_MetricType and the v2 API's MetricIntakeType.
type MetricType uint8

const (
	Unspecified MetricType = 0
	// Count is a delta over Metrics.Interval (the agent's MonotonicCount).
	Count MetricType = 1
	// Rate is a per-second value over Metrics.Interval. The agent sends its "Rate"
	// submissions (cumulative counters turned into per-second values) as Gauge on
	// the wire; pkg/metrics does the same, so Rate is here for completeness.
	Rate  MetricType = 2
	Gauge MetricType = 3
)

func (t MetricType) String() string {
	switch t {
	case Count:
		return "count"
	case Rate:
		return "rate"
	case Gauge:
		return "gauge"
	}
	return "unspecified"
}

// NoTags is the Tags index of a point without tags.
const NoTags int32 = -1

// Point is one metric value.
type Point struct {
	Name  string // a catalogue constant: never built per cycle
	Type  MetricType
	Value float64
	Tags  int32 // index into Metrics.TagSets, or NoTags
}

// Metrics is one cycle's points on one host at one timestamp.
type Metrics struct {
	Host      string
	Timestamp int64 // unix seconds, the cycle's clock
	Interval  int64 // seconds: the flush interval, carried by count and rate series
	// TagSets are the distinct tag lists the points refer to by index. Each is
	// sorted and free of duplicates; they are shared by many points (all of a
	// container's series use one) and cached by their producer across cycles, so
	// encoders may write each once per batch.
	TagSets [][]string
	Points  []Point
}

// Reset empties m for the next cycle, keeping its capacity.
func (m *Metrics) Reset() {
	clear(m.TagSets) // drop references to producers' slices
	m.TagSets = m.TagSets[:0]
	m.Points = m.Points[:0]
	m.Host, m.Timestamp, m.Interval = "", 0, 0
}

// AddTagSet appends a tag list (sorted, deduplicated, owned by the caller and not
// modified until the batch is reset) and returns its index.
func (m *Metrics) AddTagSet(tags []string) int32 {
	m.TagSets = append(m.TagSets, tags)
	return int32(len(m.TagSets) - 1)
}

// Add appends one point.
func (m *Metrics) Add(name string, t MetricType, v float64, tags int32) {
	m.Points = append(m.Points, Point{Name: name, Type: t, Value: v, Tags: tags})
}

// Tags returns the tag list of p (nil for NoTags).
func (m *Metrics) Tags(p *Point) []string {
	if p.Tags < 0 || int(p.Tags) >= len(m.TagSets) {
		return nil
	}
	return m.TagSets[p.Tags]
}
