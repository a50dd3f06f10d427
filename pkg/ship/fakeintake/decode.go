package fakeintake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"

	"github.com/DataDog/agent-payload/v5/gogen"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

var (
	errUnsupportedEncoding = errors.New("unsupported Content-Encoding")
	errUnsupportedType     = errors.New("unsupported Content-Type")
	errTooLarge            = errors.New("decompressed body too large")
)

const (
	ctProtobuf = "application/x-protobuf"
	ctJSON     = "application/json"
)

// mediaType returns the media type of a Content-Type header without its
// parameters ("application/json; charset=utf-8" → "application/json").
func mediaType(ct string) (string, error) {
	if ct == "" {
		return "", errors.New("missing")
	}
	mt, _, err := mime.ParseMediaType(ct)
	return mt, err
}

// decompress undoes Content-Encoding enc, refusing output beyond max bytes.
// "deflate" is HTTP's deflate: a zlib stream (RFC 1950), as the agent sends.
func decompress(enc string, body []byte, max int64) ([]byte, error) {
	var r io.Reader
	switch enc {
	case "", "identity":
		if int64(len(body)) > max {
			return body, errTooLarge
		}
		return body, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	case "deflate":
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	case "zstd", "zstd1":
		zr, err := zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	default:
		return nil, errUnsupportedEncoding
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > max {
		return b, errTooLarge
	}
	return b, nil
}

// decodeV2 decodes a /api/v2/series body: agent-payload's MetricPayload in
// protobuf, or the public API's JSON shape.
func decodeV2(ct string, b []byte) ([]Point, error) {
	switch ct {
	case ctProtobuf:
		var p gogen.MetricPayload
		if err := p.Unmarshal(b); err != nil {
			return nil, fmt.Errorf("protobuf MetricPayload: %w", err)
		}
		return flattenV2(p.Series), nil
	case ctJSON:
		var p struct {
			Series []*gogen.MetricPayload_MetricSeries `json:"series"`
		}
		var raw struct {
			Series []jsonSeriesV2 `json:"series"`
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			return nil, fmt.Errorf("JSON series: %w", err)
		}
		if raw.Series == nil {
			return nil, errors.New(`JSON series: no "series" array`)
		}
		for _, s := range raw.Series {
			ms, err := s.toProto()
			if err != nil {
				return nil, err
			}
			p.Series = append(p.Series, ms)
		}
		return flattenV2(p.Series), nil
	}
	return nil, errUnsupportedType
}

// jsonSeriesV2 is one series of the v2 JSON shape (MetricSeries in
// datadog-api-client-go). Fields the intake ignores are not listed.
type jsonSeriesV2 struct {
	Metric    string   `json:"metric"`
	Type      int32    `json:"type"`
	Interval  int64    `json:"interval"`
	Tags      []string `json:"tags"`
	Resources []struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"resources"`
	Points []struct {
		Timestamp *int64   `json:"timestamp"`
		Value     *float64 `json:"value"`
	} `json:"points"`
	Unit           string `json:"unit"`
	SourceTypeName string `json:"source_type_name"`
}

func (s *jsonSeriesV2) toProto() (*gogen.MetricPayload_MetricSeries, error) {
	if _, ok := gogen.MetricPayload_MetricType_name[s.Type]; !ok {
		return nil, fmt.Errorf("series %q: unknown type %d", s.Metric, s.Type)
	}
	ms := &gogen.MetricPayload_MetricSeries{
		Metric:         s.Metric,
		Type:           gogen.MetricPayload_MetricType(s.Type),
		Interval:       s.Interval,
		Tags:           s.Tags,
		Unit:           s.Unit,
		SourceTypeName: s.SourceTypeName,
	}
	for _, r := range s.Resources {
		ms.Resources = append(ms.Resources, &gogen.MetricPayload_Resource{Type: r.Type, Name: r.Name})
	}
	if len(s.Points) == 0 {
		return nil, fmt.Errorf("series %q: no points", s.Metric)
	}
	for i, p := range s.Points {
		if p.Timestamp == nil || p.Value == nil {
			return nil, fmt.Errorf("series %q: point %d lacks a timestamp or value", s.Metric, i)
		}
		ms.Points = append(ms.Points, &gogen.MetricPayload_MetricPoint{Timestamp: *p.Timestamp, Value: *p.Value})
	}
	return ms, nil
}

func flattenV2(series []*gogen.MetricPayload_MetricSeries) []Point {
	var out []Point
	for _, s := range series {
		var host string
		for _, r := range s.Resources {
			if r != nil && r.Type == "host" {
				host = r.Name
			}
		}
		for _, p := range s.Points {
			if p == nil {
				continue
			}
			out = append(out, Point{
				Metric:    s.Metric,
				Type:      s.Type,
				Host:      host,
				Tags:      s.Tags,
				Timestamp: p.Timestamp,
				Value:     p.Value,
				Interval:  s.Interval,
			})
		}
	}
	return out
}

// decodeV1 decodes a /api/v1/series JSON body:
// {"series":[{"metric","points":[[ts,value]],"type","interval","host","tags"}]}.
func decodeV1(ct string, b []byte) ([]Point, error) {
	if ct != ctJSON {
		return nil, errUnsupportedType
	}
	var p struct {
		Series []struct {
			Metric   string          `json:"metric"`
			Points   [][]json.Number `json:"points"`
			Type     string          `json:"type"`
			Interval int64           `json:"interval"`
			Host     string          `json:"host"`
			Tags     []string        `json:"tags"`
		} `json:"series"`
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&p); err != nil {
		return nil, fmt.Errorf("JSON series: %w", err)
	}
	if p.Series == nil {
		return nil, errors.New(`JSON series: no "series" array`)
	}
	var out []Point
	for _, s := range p.Series {
		var typ gogen.MetricPayload_MetricType
		switch s.Type {
		case "", "gauge":
			typ = gogen.MetricPayload_GAUGE
		case "count":
			typ = gogen.MetricPayload_COUNT
		case "rate":
			typ = gogen.MetricPayload_RATE
		default:
			return nil, fmt.Errorf("series %q: unknown type %q", s.Metric, s.Type)
		}
		if len(s.Points) == 0 {
			return nil, fmt.Errorf("series %q: no points", s.Metric)
		}
		for i, pt := range s.Points {
			if len(pt) != 2 {
				return nil, fmt.Errorf("series %q: point %d has %d elements, want [timestamp, value]", s.Metric, i, len(pt))
			}
			ts, err1 := pt[0].Float64()
			v, err2 := pt[1].Float64()
			if err1 != nil || err2 != nil || math.IsNaN(ts) || math.IsInf(ts, 0) {
				return nil, fmt.Errorf("series %q: point %d: bad numbers %v", s.Metric, i, pt)
			}
			out = append(out, Point{
				Metric: s.Metric, Type: typ, Host: s.Host, Tags: s.Tags,
				Timestamp: int64(ts), Value: v, Interval: s.Interval,
			})
		}
	}
	return out, nil
}
