package fakeintake

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/DataDog/agent-payload/v5/gogen"
	"github.com/DataDog/agent-payload/v5/process"
	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

const key = "0123456789abcdef0123456789abcdef"

func start(t *testing.T, o Options) (*Intake, string) {
	t.Helper()
	if o.APIKey == "" {
		o.APIKey = key
	}
	in := New(o)
	url := in.Start()
	t.Cleanup(in.Close)
	return in, url
}

type reply struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, url string, h map[string]string, body []byte) (reply, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}, err
}

func post(t *testing.T, url string, h map[string]string, body []byte) reply {
	t.Helper()
	r, err := do(t, nil, http.MethodPost, url, h, body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return r
}

func compress(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case "", "identity":
		return b
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "zstd", "zstd1":
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	default:
		t.Fatalf("compress: unknown encoding %q", enc)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testSeries is what every series test sends, and wantPoints what the
// intake must make of it.
var testSeries = []*gogen.MetricPayload_MetricSeries{
	{
		Metric:    "docker.cpu.usage",
		Type:      gogen.MetricPayload_GAUGE,
		Resources: []*gogen.MetricPayload_Resource{{Type: "host", Name: "i-0abc"}},
		Tags:      []string{"container_name:web", "image_name:nginx"},
		Points:    []*gogen.MetricPayload_MetricPoint{{Timestamp: 1717000000, Value: 12.5}, {Timestamp: 1717000015, Value: 13}},
	},
	{
		Metric:    "container.memory.page_faults",
		Type:      gogen.MetricPayload_COUNT,
		Interval:  15,
		Resources: []*gogen.MetricPayload_Resource{{Type: "host", Name: "i-0abc"}},
		Tags:      []string{"container_name:web"},
		Points:    []*gogen.MetricPayload_MetricPoint{{Timestamp: 1717000000, Value: 42}},
	},
}

var wantPoints = []Point{
	{Metric: "docker.cpu.usage", Type: gogen.MetricPayload_GAUGE, Host: "i-0abc", Tags: []string{"container_name:web", "image_name:nginx"}, Timestamp: 1717000000, Value: 12.5},
	{Metric: "docker.cpu.usage", Type: gogen.MetricPayload_GAUGE, Host: "i-0abc", Tags: []string{"container_name:web", "image_name:nginx"}, Timestamp: 1717000015, Value: 13},
	{Metric: "container.memory.page_faults", Type: gogen.MetricPayload_COUNT, Host: "i-0abc", Tags: []string{"container_name:web"}, Timestamp: 1717000000, Value: 42, Interval: 15},
}

func seriesProto(t *testing.T) []byte {
	t.Helper()
	p := gogen.MetricPayload{Series: testSeries}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seriesJSON is testSeries in the public API's v2 JSON shape.
const seriesJSON = `{"series":[
 {"metric":"docker.cpu.usage","type":3,"points":[{"timestamp":1717000000,"value":12.5},{"timestamp":1717000015,"value":13}],
  "resources":[{"type":"host","name":"i-0abc"}],"tags":["container_name:web","image_name:nginx"]},
 {"metric":"container.memory.page_faults","type":1,"interval":15,"points":[{"timestamp":1717000000,"value":42}],
  "resources":[{"type":"host","name":"i-0abc"}],"tags":["container_name:web"]}]}`

// seriesV1 is testSeries in the v1 JSON shape.
const seriesV1 = `{"series":[
 {"metric":"docker.cpu.usage","type":"gauge","points":[[1717000000,12.5],[1717000015,13]],"host":"i-0abc","tags":["container_name:web","image_name:nginx"]},
 {"metric":"container.memory.page_faults","type":"count","interval":15,"points":[[1717000000,42]],"host":"i-0abc","tags":["container_name:web"]}]}`

func TestSeries(t *testing.T) {
	t.Parallel()
	type body struct {
		name, path, ct string
		raw            func(t *testing.T) []byte
	}
	bodies := []body{
		{"v2 protobuf", RouteSeriesV2, "application/x-protobuf", seriesProto},
		{"v2 json", RouteSeriesV2, "application/json", func(*testing.T) []byte { return []byte(seriesJSON) }},
		{"v2 json charset", RouteSeriesV2, "application/json; charset=utf-8", func(*testing.T) []byte { return []byte(seriesJSON) }},
		{"v1 json", RouteSeriesV1, "application/json", func(*testing.T) []byte { return []byte(seriesV1) }},
	}
	for _, b := range bodies {
		for _, enc := range []string{"", "identity", "gzip", "deflate", "zstd", "zstd1"} {
			t.Run(b.name+"/"+orDash(enc), func(t *testing.T) {
				t.Parallel()
				in, url := start(t, Options{})
				raw := b.raw(t)
				h := map[string]string{"DD-API-KEY": key, "Content-Type": b.ct}
				if enc != "" {
					h["Content-Encoding"] = enc
				}
				sent := compress(t, enc, raw)
				r := post(t, url+b.path, h, sent)
				if r.status != http.StatusAccepted {
					t.Fatalf("POST %s = %d %s, want 202", b.path, r.status, r.body)
				}
				want := `{"errors":[]}`
				if b.path == RouteSeriesV1 {
					want = `{"status":"ok"}`
				}
				if r.body != want {
					t.Errorf("body = %s, want %s", r.body, want)
				}
				wp := wantPoints
				if b.path == RouteSeriesV1 {
					wp = nil
					for _, p := range wantPoints {
						if p.Metric == "docker.cpu.usage" {
							p.Interval = 0
						}
						wp = append(wp, p)
					}
				}
				if diff := cmp.Diff(wp, in.Points()); diff != "" {
					t.Errorf("Points() (-want +got):\n%s", diff)
				}
				if got := in.Series("container.memory.page_faults"); len(got) != 1 || got[0].Value != 42 {
					t.Errorf("Series(page_faults) = %+v", got)
				}
				st := in.Stats()
				if st.Requests[Key{b.path, 202}] != 1 || st.Bytes[b.path] != int64(len(sent)) {
					t.Errorf("Stats() = %+v", st)
				}
				reqs := in.Requests()
				if len(reqs) != 1 || reqs[0].Decompressed != len(raw) || reqs[0].Points != 3 {
					t.Errorf("Requests() = %+v, want 1 with %d bytes decompressed, 3 points", reqs, len(raw))
				}
			})
		}
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	proto := func(t *testing.T) []byte { return seriesProto(t) }
	big := func(n int) func(*testing.T) []byte {
		return func(*testing.T) []byte { return bytes.Repeat([]byte{0}, n) }
	}
	tests := []struct {
		name       string
		method     string
		path       string
		header     map[string]string // DD-API-KEY is key unless set to ""
		body       func(t *testing.T) []byte
		enc        string
		wantStatus int
		wantBody   string // exact, when set
		wantReason string // in the recorded Reason
		garbage    bool
	}{
		{name: "wrong key", path: RouteSeriesV2, header: map[string]string{"DD-API-KEY": "nope", "Content-Type": ctProtobuf}, body: proto, wantStatus: 403, wantBody: `{"errors":["Forbidden"]}`},
		{name: "no key", path: RouteSeriesV2, header: map[string]string{"DD-API-KEY": "", "Content-Type": ctProtobuf}, body: proto, wantStatus: 403, wantBody: `{"errors":["Forbidden"]}`},
		{name: "no key on processes", path: RouteCollector, header: map[string]string{"DD-API-KEY": ""}, body: proto, wantStatus: 403, wantBody: `{"errors":["Forbidden"]}`},
		{name: "unknown encoding", path: RouteSeriesV2, header: map[string]string{"Content-Type": ctProtobuf, "Content-Encoding": "br"}, body: proto, wantStatus: 415, wantReason: `"br"`},
		{name: "unknown content type", path: RouteSeriesV2, header: map[string]string{"Content-Type": "text/plain"}, body: proto, wantStatus: 415, wantReason: "text/plain"},
		{name: "no content type", path: RouteSeriesV2, body: proto, wantStatus: 415, wantReason: "missing"},
		{name: "v1 protobuf", path: RouteSeriesV1, header: map[string]string{"Content-Type": ctProtobuf}, body: proto, wantStatus: 415},
		{name: "garbage protobuf", path: RouteSeriesV2, header: map[string]string{"Content-Type": ctProtobuf}, body: func(*testing.T) []byte { return []byte("\x0a\xff\xff\xff\x0fgarbage") }, wantStatus: 400, wantReason: "protobuf", garbage: true},
		{name: "garbage zstd", path: RouteSeriesV2, header: map[string]string{"Content-Type": ctProtobuf, "Content-Encoding": "zstd"}, body: proto, wantStatus: 400, wantReason: "decompress zstd", garbage: true},
		{name: "garbage deflate", path: RouteSeriesV2, header: map[string]string{"Content-Type": ctProtobuf, "Content-Encoding": "deflate"}, body: proto, wantStatus: 400, wantReason: "decompress deflate", garbage: true},
		{name: "garbage gzip", path: RouteSeriesV2, header: map[string]string{"Content-Type": ctProtobuf, "Content-Encoding": "gzip"}, body: proto, wantStatus: 400, wantReason: "decompress gzip", garbage: true},
		{name: "bad json", path: RouteSeriesV2, header: map[string]string{"Content-Type": ctJSON}, body: func(*testing.T) []byte { return []byte(`{"series":[{`) }, wantStatus: 400, garbage: true},
		{name: "json without series", path: RouteSeriesV2, header: map[string]string{"Content-Type": ctJSON}, body: func(*testing.T) []byte { return []byte(`{}`) }, wantStatus: 400, garbage: true},
		{name: "json unknown type", path: RouteSeriesV2, header: map[string]string{"Content-Type": ctJSON}, body: func(*testing.T) []byte {
			return []byte(`{"series":[{"metric":"a","type":9,"points":[{"timestamp":1,"value":1}]}]}`)
		}, wantStatus: 400, wantReason: "unknown type", garbage: true},
		{name: "json point without value", path: RouteSeriesV2, header: map[string]string{"Content-Type": ctJSON}, body: func(*testing.T) []byte {
			return []byte(`{"series":[{"metric":"a","type":3,"points":[{"timestamp":1}]}]}`)
		}, wantStatus: 400, garbage: true},
		{name: "json no metric", path: RouteSeriesV2, header: map[string]string{"Content-Type": ctJSON}, body: func(*testing.T) []byte {
			return []byte(`{"series":[{"type":3,"points":[{"timestamp":1,"value":2}]}]}`)
		}, wantStatus: 400, wantReason: "metric name", garbage: true},
		{name: "v1 bad point", path: RouteSeriesV1, header: map[string]string{"Content-Type": ctJSON}, body: func(*testing.T) []byte {
			return []byte(`{"series":[{"metric":"a","points":[[1]]}]}`)
		}, wantStatus: 400, garbage: true},
		{name: "too big compressed", path: RouteSeriesV2, header: map[string]string{"Content-Type": ctProtobuf, "Content-Encoding": "zstd"}, body: big(512_001), wantStatus: 413},
		{name: "too big uncompressed", path: RouteSeriesV2, header: map[string]string{"Content-Type": ctProtobuf}, enc: "zstd", body: big(5_242_881), wantStatus: 413, wantReason: "decompressed"},
		{name: "too big identity", path: RouteSeriesV2, header: map[string]string{"Content-Type": ctProtobuf}, body: big(512_001), wantStatus: 413},
		{name: "too big process", path: RouteCollector, body: big(1_000_001), wantStatus: 413},
		{name: "wrong method", method: http.MethodGet, path: RouteSeriesV2, wantStatus: 405},
		{name: "validate by POST", path: RouteValidate, wantStatus: 405},
		{name: "unknown route", path: "/api/v1/check_run", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, url := start(t, Options{})
			h := map[string]string{"DD-API-KEY": key}
			for k, v := range tt.header {
				h[k] = v
			}
			var body []byte
			if tt.body != nil {
				body = tt.body(t)
			}
			if tt.enc != "" {
				body = compress(t, tt.enc, body)
				h["Content-Encoding"] = tt.enc
			}
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r, err := do(t, nil, method, url+tt.path, h, body)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tt.wantStatus {
				t.Errorf("%s %s = %d %s, want %d", method, tt.path, r.status, r.body, tt.wantStatus)
			}
			if tt.wantBody != "" && r.body != tt.wantBody {
				t.Errorf("body = %s, want %s", r.body, tt.wantBody)
			}
			var eb struct{ Errors []string }
			if err := json.Unmarshal([]byte(r.body), &eb); err != nil || len(eb.Errors) != 1 {
				t.Errorf("body %q is not {\"errors\":[reason]}", r.body)
			}
			reqs := in.Requests()
			if len(reqs) != 1 || !strings.Contains(reqs[0].Reason, tt.wantReason) || reqs[0].Status != tt.wantStatus {
				t.Errorf("Requests() = %+v, want one with status %d and reason containing %q", reqs, tt.wantStatus, tt.wantReason)
			}
			st := in.Stats()
			if (st.Garbage == 1) != tt.garbage || len(in.Points()) != 0 || st.Requests[Key{tt.path, tt.wantStatus}] != 1 {
				t.Errorf("Stats() = %+v, points %d; want garbage %v", st, len(in.Points()), tt.garbage)
			}
		})
	}
}

func TestAnyKey(t *testing.T) {
	t.Parallel()
	in := New(Options{}) // no APIKey: any non-empty key
	url := in.Start()
	t.Cleanup(in.Close)
	for _, tt := range []struct {
		key  string
		want int
	}{{"anything", 200}, {"", 403}} {
		r, err := do(t, nil, http.MethodGet, url+RouteValidate, map[string]string{"DD-API-KEY": tt.key}, nil)
		if err != nil || r.status != tt.want {
			t.Errorf("validate with key %q = %d, %v; want %d", tt.key, r.status, err, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header     string
		key        string
		wantStatus int
		wantBody   string
	}{
		{"DD-API-KEY", key, 200, `{"valid":true}`},
		{"dd-api-key", key, 200, `{"valid":true}`},
		{"DD-Api-Key", key, 200, `{"valid":true}`},
		{"DD-API-KEY", "wrong", 403, `{"errors":["Forbidden"]}`},
		{"X-Other", key, 403, `{"errors":["Forbidden"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.header+"="+tt.key, func(t *testing.T) {
			t.Parallel()
			_, url := start(t, Options{})
			r, err := do(t, nil, http.MethodGet, url+RouteValidate, map[string]string{tt.header: tt.key}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tt.wantStatus || r.body != tt.wantBody {
				t.Errorf("GET validate = %d %s, want %d %s", r.status, r.body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func testProc(containers int) *process.CollectorProc {
	m := &process.CollectorProc{
		HostName:  "i-0abc",
		GroupId:   7,
		GroupSize: 1,
		Processes: []*process.Process{
			{Pid: 1, Command: &process.Command{Args: []string{"/sbin/init"}, Exe: "/sbin/init"}, User: &process.ProcessUser{Name: "root"}},
			{Pid: 42, Command: &process.Command{Args: []string{"nginx", "-g", "daemon off;"}}, ContainerId: "abc123"},
		},
	}
	for i := range containers {
		m.Containers = append(m.Containers, &process.Container{Id: fmt.Sprintf("c%d", i), Name: fmt.Sprintf("web-%d", i)})
	}
	return m
}

func envelope(t *testing.T, enc process.MessageEncoding, body process.MessageBody) []byte {
	t.Helper()
	typ, err := process.DetectMessageType(body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := process.EncodeMessage(process.Message{
		Header: process.MessageHeader{Version: process.MessageV3, Encoding: enc, Type: typ},
		Body:   body,
	})
	if err != nil {
		t.Fatalf("EncodeMessage(encoding %d) = %v", enc, err)
	}
	return b
}

func procHeaders(containers, requestID string) map[string]string {
	return map[string]string{
		"DD-Api-Key":               key,
		"Content-Type":             "application/x-protobuf",
		"X-Dd-Hostname":            "i-0abc",
		"X-Dd-Processagentversion": "7.60.0",
		"X-Dd-ContainerCount":      containers,
		"X-DD-Request-ID":          requestID,
	}
}

func TestCollector(t *testing.T) {
	t.Parallel()
	for _, enc := range []process.MessageEncoding{process.MessageEncodingProtobuf, process.MessageEncodingJSON, process.MessageEncodingZstdPBxNoCgo} {
		t.Run(fmt.Sprint("encoding ", enc), func(t *testing.T) {
			t.Parallel()
			in, url := start(t, Options{})
			msg := testProc(2)
			r := post(t, url+RouteCollector, procHeaders("2", "12345"), envelope(t, enc, msg))
			if r.status != http.StatusOK {
				t.Fatalf("POST collector = %d %s, want 200", r.status, r.body)
			}
			res, err := process.DecodeMessage([]byte(r.body))
			if err != nil {
				t.Fatalf("response does not decode: %v", err)
			}
			if rc, ok := res.Body.(*process.ResCollector); !ok || rc.Status == nil || rc.Status.ActiveClients != 0 {
				t.Errorf("response = %+v, want a ResCollector with no active clients", res.Body)
			}
			got := in.Processes()
			if len(got) != 1 {
				t.Fatalf("Processes() = %d messages, want 1", len(got))
			}
			p := got[0]
			if p.Hostname != "i-0abc" || p.ContainerCount != 2 || p.RequestID != "12345" || p.Encoding != enc || p.Header.Get("X-Dd-Processagentversion") != "7.60.0" {
				t.Errorf("Processes()[0] = %+v", p)
			}
			if diff := cmp.Diff(msg.String(), p.Msg.String()); diff != "" {
				t.Errorf("Processes()[0].Msg (-want +got):\n%s", diff)
			}
			// The copy is the caller's: changing it leaves the intake's alone.
			p.Msg.Processes[0].Pid = 99
			if in.Processes()[0].Msg.Processes[0].Pid != 1 {
				t.Errorf("Processes() shares its messages with the caller")
			}
			if reqs := in.Requests(); len(reqs) != 1 || reqs[0].Processes != 2 || reqs[0].Containers != 2 {
				t.Errorf("Requests() = %+v", reqs)
			}
		})
	}
}

func TestCollectorRefused(t *testing.T) {
	t.Parallel()
	good := func(t *testing.T) []byte { return envelope(t, process.MessageEncodingProtobuf, testProc(1)) }
	tests := []struct {
		name       string
		body       func(t *testing.T) []byte
		header     map[string]string
		wantStatus int
		wantReason string
	}{
		{"container count mismatch", good, map[string]string{"X-Dd-ContainerCount": "3"}, 400, "3, message holds 1"},
		{"container count missing", good, map[string]string{"X-Dd-ContainerCount": ""}, 400, "not a number"},
		{"hostname missing", good, map[string]string{"X-Dd-Hostname": ""}, 400, "X-Dd-Hostname"},
		{"content encoding", good, map[string]string{"Content-Encoding": "zstd"}, 415, "envelope"},
		{"short body", func(*testing.T) []byte { return []byte{3, 0} }, nil, 400, "envelope header"},
		{"version 2", func(t *testing.T) []byte { b := good(t); b[0] = 2; return b }, nil, 400, ""},
		{"encoding 4", func(t *testing.T) []byte { b := good(t); b[1] = 4; return b }, nil, 400, "encoding 4"},
		{"encoding 2", func(t *testing.T) []byte { b := good(t); b[1] = 2; return b }, nil, 400, "encoding 2"},
		{"garbage zstd", func(t *testing.T) []byte { b := good(t); b[1] = 5; return b }, nil, 400, "decode message"},
		{"garbage protobuf", func(t *testing.T) []byte {
			b := good(t)[:16]
			return append(b, 0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2)
		}, nil, 400, "decode message"},
		{"container message", func(t *testing.T) []byte {
			return envelope(t, process.MessageEncodingProtobuf, &process.CollectorContainer{HostName: "h"})
		}, nil, 400, "message type 39"},
		{"unknown type", func(t *testing.T) []byte {
			var h [16]byte
			h[0], h[2] = 3, 250
			binary.LittleEndian.PutUint64(h[8:], 0)
			return h[:]
		}, nil, 400, "message type 250"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, url := start(t, Options{})
			h := procHeaders("1", "")
			for k, v := range tt.header {
				h[k] = v
			}
			r := post(t, url+RouteCollector, h, tt.body(t))
			if r.status != tt.wantStatus {
				t.Errorf("POST collector = %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
			reqs := in.Requests()
			if len(reqs) != 1 || !strings.Contains(reqs[0].Reason, tt.wantReason) {
				t.Errorf("Requests() = %+v, want a reason containing %q", reqs, tt.wantReason)
			}
			if len(in.Processes()) != 0 {
				t.Errorf("a refused message was kept")
			}
			if st := in.Stats(); (st.Garbage == 1) != (tt.wantStatus == 400) {
				t.Errorf("Stats().Garbage = %d for status %d", st.Garbage, tt.wantStatus)
			}
		})
	}
}

func TestDuplicates(t *testing.T) {
	t.Parallel()
	in, url := start(t, Options{})
	sh := map[string]string{"DD-API-KEY": key, "Content-Type": ctProtobuf}
	body := seriesProto(t)
	in.QueueFaults(Fault{Status: 503}, 1)
	for range 3 { // a refused copy does not count; the third copy is the second accepted
		post(t, url+RouteSeriesV2, sh, body)
	}
	post(t, url+RouteSeriesV1, map[string]string{"DD-API-KEY": key, "Content-Type": ctJSON}, []byte(seriesV1))

	p1 := envelope(t, process.MessageEncodingProtobuf, testProc(0))
	p2 := envelope(t, process.MessageEncodingProtobuf, &process.CollectorProc{HostName: "other", GroupId: 8})
	post(t, url+RouteCollector, procHeaders("0", "77"), p1)
	post(t, url+RouteCollector, procHeaders("0", "77"), p2) // same request id, other body
	post(t, url+RouteCollector, procHeaders("0", "78"), p1) // same body, other id
	post(t, url+RouteCollector, procHeaders("0", ""), p2)   // no id: not a duplicate id

	st := in.Stats()
	if st.DuplicateBodies != 3 || st.DuplicateRequestIDs != 1 {
		t.Errorf("Stats() = %+v, want 3 duplicate bodies, 1 duplicate request id", st)
	}
	if got := len(in.Points()); got != 3*len(wantPoints) {
		t.Errorf("Points() = %d, want %d (duplicates are kept)", got, 3*len(wantPoints))
	}
	in.Reset()
	st = in.Stats()
	if st.DuplicateBodies != 0 || len(st.Requests) != 0 || len(in.Points()) != 0 || len(in.Processes()) != 0 || len(in.Requests()) != 0 {
		t.Errorf("after Reset: Stats() = %+v", st)
	}
	post(t, url+RouteCollector, procHeaders("0", "77"), p1)
	if st := in.Stats(); st.DuplicateBodies != 0 || st.DuplicateRequestIDs != 0 {
		t.Errorf("Reset kept the duplicate detector: %+v", st)
	}
}

func validate(t *testing.T, url string) (reply, error) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	return do(t, c, http.MethodGet, url+RouteValidate, map[string]string{"DD-API-KEY": key}, nil)
}

func TestFaultStatus(t *testing.T) {
	t.Parallel()
	in, url := start(t, Options{})
	in.QueueFaults(Fault{Status: 503, RetryAfter: "20"}, 2)
	in.QueueFaults(Fault{Status: 429}, 1)
	var got []string
	for range 4 {
		r, err := validate(t, url)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s", r.status, r.header.Get("Retry-After")))
	}
	want := []string{"503 20", "503 20", "429 ", "200 "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}

	in.SetFault(Fault{Status: 500})
	for range 3 {
		if r, err := validate(t, url); err != nil || r.status != 500 {
			t.Errorf("with a fixed fault: %d, %v; want 500", r.status, err)
		}
	}
	// Queued faults go first, then the fixed one resumes.
	in.QueueFaults(Fault{Status: 502}, 1)
	for _, want := range []int{502, 500} {
		if r, _ := validate(t, url); r.status != want {
			t.Errorf("status = %d, want %d", r.status, want)
		}
	}
	in.ClearFaults()
	if r, _ := validate(t, url); r.status != 200 {
		t.Errorf("after ClearFaults: %d, want 200", r.status)
	}
	if n := in.Count(RouteValidate, 500); n != 4 {
		t.Errorf("Count(validate, 500) = %d, want 4", n)
	}
	reqs := in.Requests()
	if reqs[0].Reason != "injected status 503 Retry-After 20" {
		t.Errorf("Requests()[0].Reason = %q", reqs[0].Reason)
	}
}

func TestFaultRoute(t *testing.T) {
	t.Parallel()
	in, url := start(t, Options{})
	in.SetFault(Fault{Route: RouteCollector, Status: 503})
	in.QueueFaults(Fault{Route: RouteCollector, Status: 504}, 1)
	if r, _ := validate(t, url); r.status != 200 {
		t.Errorf("validate with a collector fault = %d, want 200", r.status)
	}
	body := envelope(t, process.MessageEncodingProtobuf, testProc(0))
	for _, want := range []int{504, 503} {
		if r := post(t, url+RouteCollector, procHeaders("0", ""), body); r.status != want {
			t.Errorf("collector = %d, want %d", r.status, want)
		}
	}
	if len(in.Processes()) != 0 {
		t.Errorf("a faulted payload was kept")
	}
}

func TestFaultReset(t *testing.T) {
	t.Parallel()
	in, url := start(t, Options{})
	in.QueueFaults(Fault{Reset: true}, 1)
	if r, err := validate(t, url); err == nil {
		t.Errorf("validate through a reset = %d, want a transport error", r.status)
	}
	if r, err := validate(t, url); err != nil || r.status != 200 {
		t.Errorf("validate after the reset = %d, %v", r.status, err)
	}
	if st := in.Stats(); st.Resets != 1 || st.Requests[Key{RouteValidate, 0}] != 1 {
		t.Errorf("Stats() = %+v, want 1 reset counted under status 0", st)
	}
}

// waitHeld waits until n requests are held by a fault.
func waitHeld(t *testing.T, in *Intake, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.WaitFor(ctx, func(in *Intake) bool { return in.Stats().Held == n }); err != nil {
		t.Fatalf("waiting for %d held requests: %v", n, err)
	}
}

func TestFaultBlackHole(t *testing.T) {
	t.Parallel()
	in, url := start(t, Options{})
	in.SetFault(Fault{BlackHole: true})
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := validate(t, url)
			errs <- err
		}()
	}
	waitHeld(t, in, 2)
	select {
	case err := <-errs:
		t.Fatalf("a black-holed request returned: %v", err)
	default:
	}
	in.ClearFaults()
	for range 2 {
		if err := <-errs; err == nil {
			t.Errorf("a black-holed request got an answer")
		}
	}
	if r, err := validate(t, url); err != nil || r.status != 200 {
		t.Errorf("validate after ClearFaults = %d, %v", r.status, err)
	}
	if st := in.Stats(); st.BlackHoled != 2 || st.Held != 0 {
		t.Errorf("Stats() = %+v, want 2 black-holed, none held", st)
	}

	// Close releases black-holed requests too, so it never hangs.
	in.SetFault(Fault{BlackHole: true})
	go func() {
		_, err := validate(t, url)
		errs <- err
	}()
	waitHeld(t, in, 1)
	in.Close()
	if err := <-errs; err == nil {
		t.Errorf("a black-holed request got an answer after Close")
	}
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	in, url := start(t, Options{})
	in.QueueFaults(Fault{Latency: time.Hour}, 1)
	// A client that gives up: the latency holds the answer back.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+RouteValidate, nil)
	req.Header.Set("DD-API-KEY", key)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitHeld(t, in, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("delayed request = %v, want context.Canceled", err)
	}
	waitHeld(t, in, 0)

	// ClearFaults ends the delay, and the request is then served normally.
	in.QueueFaults(Fault{Latency: time.Hour}, 1)
	type result struct {
		r   reply
		err error
	}
	res := make(chan result, 1)
	go func() {
		r, err := validate(t, url)
		res <- result{r, err}
	}()
	waitHeld(t, in, 1)
	in.ClearFaults()
	if got := <-res; got.err != nil || got.r.status != 200 {
		t.Errorf("delayed request after ClearFaults = %d, %v; want 200", got.r.status, got.err)
	}
}

// TestConcurrent posts from many goroutines while faults change; run with -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	in, url := start(t, Options{})
	body := seriesProto(t)
	const workers, each = 4, 15
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range workers {
		wg.Go(func() {
			for range each {
				r := post(t, url+RouteSeriesV2, map[string]string{"DD-API-KEY": key, "Content-Type": ctProtobuf}, body)
				mu.Lock()
				statuses[r.status]++
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			in.QueueFaults(Fault{Status: 503}, 1)
			if i%5 == 0 {
				in.SetFault(Fault{Status: 500, Route: RouteSeriesV2})
			} else {
				in.ClearFaults()
			}
			_ = in.Points()
			_ = in.Stats()
		}
		in.ClearFaults()
	})
	wg.Wait()
	st := in.Stats()
	total := 0
	for k, n := range st.Requests {
		if statuses[k.Status] != n {
			t.Errorf("Stats().Requests[%v] = %d, clients saw %d", k, n, statuses[k.Status])
		}
		total += n
	}
	if total != workers*each {
		t.Errorf("requests counted = %d, want %d", total, workers*each)
	}
	if got, want := len(in.Points()), statuses[202]*len(wantPoints); got != want {
		t.Errorf("Points() = %d, want %d", got, want)
	}
	if st.DuplicateBodies != statuses[202]-1 {
		t.Errorf("DuplicateBodies = %d, want %d", st.DuplicateBodies, statuses[202]-1)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	in := New(Options{APIKey: key})
	url, pool := in.StartTLS()
	t.Cleanup(in.Close)
	if !strings.HasPrefix(url, "https://") {
		t.Errorf("StartTLS() URL = %s", url)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	r, err := do(t, &http.Client{Transport: tr}, http.MethodGet, url+RouteValidate, map[string]string{"DD-API-KEY": key}, nil)
	if err != nil || r.status != 200 {
		t.Errorf("validate over TLS = %d, %v", r.status, err)
	}
	if _, err := http.Get(url + RouteValidate); err == nil {
		t.Errorf("a client without the pool trusted the certificate")
	}
	in.QueueFaults(Fault{Reset: true}, 1)
	tr.DisableKeepAlives = true // a reused connection would make the client retry the GET
	if _, err := do(t, &http.Client{Transport: tr}, http.MethodGet, url+RouteValidate, map[string]string{"DD-API-KEY": key}, nil); err == nil {
		t.Errorf("reset over TLS answered")
	}
}

func TestWaitFor(t *testing.T) {
	t.Parallel()
	in, url := start(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := in.WaitFor(ctx, func(in *Intake) bool { return len(in.Points()) > 0 }); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitFor(cancelled) = %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		errc <- in.WaitFor(ctx, func(in *Intake) bool { return len(in.Series("docker.cpu.usage")) == 2 })
	}()
	post(t, url+RouteSeriesV2, map[string]string{"DD-API-KEY": key, "Content-Type": ctProtobuf}, seriesProto(t))
	if err := <-errc; err != nil {
		t.Errorf("WaitFor = %v", err)
	}
}

// FuzzServe sends arbitrary bodies to the decoding routes: the intake must
// answer every one with an accept or a refusal, never panic, and keep nothing
// it refused.
func FuzzServe(f *testing.F) {
	f.Add(uint8(0), "", []byte("\x0a\x05\x12\x03abc"))
	f.Add(uint8(1), "", []byte(seriesJSON))
	f.Add(uint8(2), "", []byte(seriesV1))
	f.Add(uint8(0), "zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0})
	f.Add(uint8(3), "", []byte{3, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x01, 'h'})
	f.Add(uint8(3), "", []byte{3, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '{', '}'})
	f.Add(uint8(3), "", []byte{3, 5, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x28, 0xb5, 0x2f, 0xfd})
	f.Fuzz(func(t *testing.T, route uint8, enc string, body []byte) {
		in := New(Options{APIKey: key})
		var path, ct string
		switch route % 4 {
		case 0:
			path, ct = RouteSeriesV2, ctProtobuf
		case 1:
			path, ct = RouteSeriesV2, ctJSON
		case 2:
			path, ct = RouteSeriesV1, ctJSON
		default:
			path = RouteCollector
			enc = ""
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("DD-API-KEY", key)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Content-Encoding", enc)
		req.Header.Set("X-Dd-Hostname", "h")
		req.Header.Set("X-Dd-ContainerCount", "0")
		w := httptest.NewRecorder()
		in.ServeHTTP(w, req)
		switch w.Code {
		case 200, 202:
		case 400, 413, 415:
			if len(in.Points()) != 0 || len(in.Processes()) != 0 {
				t.Errorf("refused with %d but kept data", w.Code)
			}
		default:
			t.Errorf("status %d: %s", w.Code, w.Body)
		}
	})
}
