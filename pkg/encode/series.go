package encode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/klauspost/compress/zstd"

	"github.com/whippet-agent/whippet/pkg/batch"
)

// Limits of one /api/v2/series body: the agent's serializer defaults
// (serializer_max_series_payload_size, _uncompressed_payload_size,
// _points_per_payload).
const (
	MaxSeriesCompressed   = 512_000
	MaxSeriesUncompressed = 5_242_880
	MaxSeriesPoints       = 10_000
)

// AgentSeriesUncompressed is where whippet cuts its own series payloads: the
// encoder holds a payload uncompressed before compressing it, and 1 MiB
// instead of the intake's 5 MiB keeps that buffer, the agent's largest
// allocation, small. With a 128 KiB compression window the bytes sent are the
// same (bench/RESULTS.md); the intake only sees more, smaller requests.
const AgentSeriesUncompressed = 1 << 20

// ErrTooLarge reports series that fit in no payload on their own; they are
// dropped and counted, the rest of the batch is still sent.
var ErrTooLarge = errors.New("series exceeds the payload limits")

// SeriesOptions configures a SeriesEncoder. Zero limits mean the intake's.
type SeriesOptions struct {
	Compression     Compression
	MaxCompressed   int
	MaxUncompressed int
	MaxPoints       int
}

// SeriesStats are cumulative counts since the encoder was made.
type SeriesStats struct {
	Payloads uint64
	Series   uint64 // series emitted
	Dropped  uint64 // series alone over a limit (ErrTooLarge)
	Skipped  uint64 // bad points: NaN or infinite value, empty name, unknown tag set
}

// MetricPayload and MetricSeries field numbers (agent-payload
// proto/metrics/agent_payload.proto).
const (
	fPayloadSeries   = 1
	fSeriesResources = 1
	fSeriesMetric    = 2
	fSeriesTags      = 3
	fSeriesPoints    = 4
	fSeriesType      = 5
	fSeriesInterval  = 8
	fResourceType    = 1
	fResourceName    = 2
	fPointValue      = 1
	fPointTimestamp  = 2
)

// SeriesEncoder cuts a batch of metrics into protobuf MetricPayload bodies
// within the intake limits, in batch order, one single-point series per batch
// point. It keeps its buffers and compressor between cycles; one encoder is
// not safe for concurrent use.
type SeriesEncoder struct {
	opts SeriesOptions
	comp *compressor

	buf    []byte // the MetricPayload being filled: concatenated series fields
	starts []int  // offset of each series in buf, then len(buf)
	out    []byte // compressed body

	tags   []byte // every tag set's repeated tags field, concatenated
	tagEnd []int  // tagEnd[i] is where tag set i's block ends in tags
	res    []byte // the resources field for the batch's host

	payload Payload
	stats   SeriesStats
}

// NewSeriesEncoder returns an encoder; zstd runs at SpeedFastest, the
// agent's level 1.
func NewSeriesEncoder(opts SeriesOptions) (*SeriesEncoder, error) {
	if opts.MaxCompressed <= 0 {
		opts.MaxCompressed = MaxSeriesCompressed
	}
	if opts.MaxUncompressed <= 0 {
		opts.MaxUncompressed = MaxSeriesUncompressed
	}
	if opts.MaxPoints <= 0 {
		opts.MaxPoints = MaxSeriesPoints
	}
	comp, err := newCompressor(opts.Compression, zstd.SpeedFastest)
	if err != nil {
		return nil, fmt.Errorf("series encoder: %w", err)
	}
	return &SeriesEncoder{
		opts: opts,
		comp: comp,
		payload: Payload{
			Kind:            Series,
			ContentType:     ContentTypeProtobuf,
			ContentEncoding: opts.Compression.ContentEncoding(),
		},
	}, nil
}

// Stats returns the cumulative counts.
func (e *SeriesEncoder) Stats() SeriesStats { return e.stats }

// Encode calls emit with each payload of m in order. A series is never split;
// a payload closes when the next series would cross the point or uncompressed
// limit, and one whose compressed size is over the limit is halved until it
// fits. An error from emit stops the encoding and is returned; series too big
// for any payload are skipped and reported with ErrTooLarge at the end.
func (e *SeriesEncoder) Encode(m *batch.Metrics, emit func(*Payload) error) error {
	e.prepare(m)
	e.buf, e.starts = e.buf[:0], e.starts[:0]
	dropped := 0
	for i := range m.Points {
		p := &m.Points[i]
		tags, ok := e.tagBlock(p.Tags)
		if !ok || p.Name == "" || math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			e.stats.Skipped++
			continue
		}
		body := e.seriesLen(m, p, len(tags))
		n := tagLen(fPayloadSeries) + varintLen(uint64(body)) + body
		if n > e.opts.MaxUncompressed {
			dropped++
			continue
		}
		if len(e.starts) == e.opts.MaxPoints || len(e.buf)+n > e.opts.MaxUncompressed {
			d, err := e.flush(emit)
			dropped += d
			if err != nil {
				return err
			}
		}
		if len(e.buf)+n > cap(e.buf) {
			// Grown by doubling but never past a payload's limit (append's
			// own growth would overshoot it by up to half).
			nb := make([]byte, len(e.buf), min(max(2*cap(e.buf), len(e.buf)+n, 4096), e.opts.MaxUncompressed))
			e.buf = nb[:copy(nb, e.buf)]
		}
		e.starts = append(e.starts, len(e.buf))
		e.buf = e.appendSeries(e.buf, m, p, tags, body)
	}
	d, err := e.flush(emit)
	dropped += d
	if err != nil {
		return err
	}
	if dropped > 0 {
		e.stats.Dropped += uint64(dropped)
		return fmt.Errorf("encode series: %d dropped: %w", dropped, ErrTooLarge)
	}
	return nil
}

// prepare encodes what the batch's series share: the resources field and one
// tags block per tag set, so each is marshalled once per batch.
func (e *SeriesEncoder) prepare(m *batch.Metrics) {
	e.res = e.res[:0]
	if m.Host != "" {
		var start int
		e.res, start = openMessage(e.res, fSeriesResources)
		e.res = appendString(e.res, fResourceType, "host")
		e.res = appendString(e.res, fResourceName, m.Host)
		e.res = closeMessage(e.res, start)
	}
	e.tags, e.tagEnd = e.tags[:0], e.tagEnd[:0]
	for _, set := range m.TagSets {
		for _, t := range set {
			e.tags = appendRepeatedString(e.tags, fSeriesTags, t)
		}
		e.tagEnd = append(e.tagEnd, len(e.tags))
	}
}

func (e *SeriesEncoder) tagBlock(i int32) ([]byte, bool) {
	if i == batch.NoTags {
		return nil, true
	}
	if i < 0 || int(i) >= len(e.tagEnd) {
		return nil, false
	}
	start := 0
	if i > 0 {
		start = e.tagEnd[i-1]
	}
	return e.tags[start:e.tagEnd[i]], true
}

func hasInterval(m *batch.Metrics, t batch.MetricType) bool {
	return (t == batch.Count || t == batch.Rate) && m.Interval != 0
}

func pointLen(m *batch.Metrics, p *batch.Point) int {
	n := 0
	if p.Value != 0 {
		n += tagLen(fPointValue) + 8
	}
	if m.Timestamp != 0 {
		n += tagLen(fPointTimestamp) + varintLen(uint64(m.Timestamp))
	}
	return n
}

// seriesLen is the size of p's MetricSeries message body.
func (e *SeriesEncoder) seriesLen(m *batch.Metrics, p *batch.Point, tags int) int {
	n := len(e.res) + tagLen(fSeriesMetric) + varintLen(uint64(len(p.Name))) + len(p.Name) + tags
	pl := pointLen(m, p)
	n += tagLen(fSeriesPoints) + varintLen(uint64(pl)) + pl
	if p.Type != 0 {
		n += tagLen(fSeriesType) + varintLen(uint64(p.Type))
	}
	if hasInterval(m, p.Type) {
		n += tagLen(fSeriesInterval) + varintLen(uint64(m.Interval))
	}
	return n
}

func (e *SeriesEncoder) appendSeries(b []byte, m *batch.Metrics, p *batch.Point, tags []byte, body int) []byte {
	b = appendTag(b, fPayloadSeries, wireBytes)
	b = binary.AppendUvarint(b, uint64(body))
	b = append(b, e.res...)
	b = appendString(b, fSeriesMetric, p.Name)
	b = append(b, tags...)
	b = appendTag(b, fSeriesPoints, wireBytes)
	b = binary.AppendUvarint(b, uint64(pointLen(m, p)))
	b = appendDouble(b, fPointValue, p.Value)
	b = appendInt(b, fPointTimestamp, m.Timestamp)
	b = appendUint(b, fSeriesType, uint64(p.Type))
	if hasInterval(m, p.Type) {
		b = appendInt(b, fSeriesInterval, m.Interval)
	}
	return b
}

// flush emits the buffered series and empties the buffer. It returns the
// number of series dropped because they alone compress over the limit.
func (e *SeriesEncoder) flush(emit func(*Payload) error) (int, error) {
	n := len(e.starts)
	if n == 0 {
		return 0, nil
	}
	e.starts = append(e.starts, len(e.buf))
	dropped, err := e.emitRange(0, n, emit)
	e.buf, e.starts = e.buf[:0], e.starts[:0]
	return dropped, err
}

// emitRange emits series [lo, hi) of the buffer as one payload, or as two
// halves, recursively, while the compressed body is over the limit.
func (e *SeriesEncoder) emitRange(lo, hi int, emit func(*Payload) error) (int, error) {
	body := e.buf[e.starts[lo]:e.starts[hi]]
	if e.opts.Compression != None {
		out, err := e.comp.compress(e.out, body)
		e.out = out
		if err != nil {
			return 0, fmt.Errorf("compress series: %w", err)
		}
		body = out
	}
	if len(body) > e.opts.MaxCompressed {
		if hi-lo == 1 {
			return 1, nil
		}
		mid := lo + (hi-lo)/2
		d1, err := e.emitRange(lo, mid, emit)
		if err != nil {
			return d1, err
		}
		d2, err := e.emitRange(mid, hi, emit)
		return d1 + d2, err
	}
	e.payload.Body = body
	e.payload.Points = hi - lo
	e.stats.Payloads++
	e.stats.Series += uint64(hi - lo)
	if err := emit(&e.payload); err != nil {
		return 0, fmt.Errorf("emit series payload: %w", err)
	}
	return 0, nil
}
