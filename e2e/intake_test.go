//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/DataDog/agent-payload/v5/process"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"

	"github.com/whippet-agent/whippet/pkg/ship/fakeintake"
)

// wireRequest is one request as it crossed the wire, before the intake judged it.
type wireRequest struct {
	time   time.Time
	method string
	url    string // path and query
	header http.Header
	raw    []byte // the body as sent
	plain  []byte // the body decompressed (series) or unwrapped from its envelope (processes)
	err    error  // why plain could not be had
}

// recorder sits in front of the fake intake and keeps every request whole, so
// the suite can look for secrets in bytes the intake's decoded view would not
// show (unknown fields, headers, query strings).
type recorder struct {
	in  *fakeintake.Intake
	srv *httptest.Server

	mu   sync.Mutex
	reqs []wireRequest
}

// startIntake serves a fake intake behind a recorder on a loopback port.
func startIntake(o fakeintake.Options) *recorder {
	r := &recorder{in: fakeintake.New(o)}
	r.srv = httptest.NewServer(r)
	return r
}

func (r *recorder) URL() string { return r.srv.URL }

func (r *recorder) Close() {
	r.in.Close()
	r.srv.CloseClientConnections()
	r.srv.Close()
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	raw, err := io.ReadAll(req.Body)
	wr := wireRequest{time: time.Now(), method: req.Method, url: req.URL.RequestURI(), header: req.Header.Clone(), raw: raw}
	if err != nil {
		wr.err = fmt.Errorf("read body: %w", err)
	} else {
		wr.plain, wr.err = plainBody(req.URL.Path, req.Header.Get("Content-Encoding"), raw)
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, wr)
	r.mu.Unlock()
	req.Body = io.NopCloser(bytes.NewReader(raw))
	r.in.ServeHTTP(w, req)
}

// requests returns a copy of what the recorder kept.
func (r *recorder) requests() []wireRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// plainBody undoes the transport encoding of a body: Content-Encoding for
// series, the V3 envelope (and its zstd) for process payloads, re-marshalled to
// plain protobuf where strings are stored verbatim.
func plainBody(path, encoding string, raw []byte) ([]byte, error) {
	if path == fakeintake.RouteCollector {
		m, err := process.DecodeMessage(raw)
		if err != nil {
			return nil, fmt.Errorf("decode envelope: %w", err)
		}
		pb, ok := m.Body.(interface{ Marshal() ([]byte, error) })
		if !ok {
			return nil, fmt.Errorf("message body %T cannot be marshalled", m.Body)
		}
		return pb.Marshal()
	}
	return decompress(encoding, raw)
}

func decompress(encoding string, raw []byte) ([]byte, error) {
	var r io.Reader
	switch encoding {
	case "", "identity":
		return raw, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		r = zr
	case "deflate":
		zr, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("zlib: %w", err)
		}
		defer zr.Close()
		r = zr
	case "zstd", "zstd1":
		zr, err := zstd.NewReader(bytes.NewReader(raw), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("unknown Content-Encoding %q", encoding)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", encoding, err)
	}
	return b, nil
}

// zstdMagic starts every zstd frame (RFC 8878 §3.1.1).
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// expand returns b followed by the output of every zstd frame found inside it,
// so that a search also sees through compressed records whatever their framing.
func expand(b []byte) []byte {
	out := b
	for off := 0; ; {
		i := bytes.Index(b[off:], zstdMagic)
		if i < 0 {
			return out
		}
		off += i
		if zr, err := zstd.NewReader(bytes.NewReader(b[off:]), zstd.WithDecoderConcurrency(1)); err == nil {
			// Trailing bytes after the frame end the read with an error; what
			// was decoded until then is kept.
			plain, _ := io.ReadAll(io.LimitReader(zr, 64<<20))
			zr.Close()
			if len(plain) > 0 {
				out = append(slices.Clip(out), plain...)
			}
		}
		off += len(zstdMagic)
	}
}

// spoolScanner reads every file of the spool directory while the agent runs,
// since records live there only until they are delivered.
type spoolScanner struct {
	dir     string
	secrets []string

	mu    sync.Mutex
	files map[string]int      // name → bytes, every file ever seen
	leaks map[string]struct{} // "<file>: <redacted secret>"
}

func newSpoolScanner(dir string, secrets ...string) *spoolScanner {
	return &spoolScanner{dir: dir, secrets: secrets, files: map[string]int{}, leaks: map[string]struct{}{}}
}

// scan reads the directory once. Files vanish under it (acked records); that is
// not an error.
func (s *spoolScanner) scan() {
	_ = filepath.WalkDir(s.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(s.dir, path)
		found := leaked(expand(b), s.secrets...)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.files[rel] = max(s.files[rel], len(b))
		for _, sec := range found {
			s.leaks[rel+": "+redact(sec)] = struct{}{}
		}
		return nil
	})
}

// run scans every period until stop is closed, then once more.
func (s *spoolScanner) run(stop <-chan struct{}, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		s.scan()
		select {
		case <-stop:
			s.scan()
			return
		case <-t.C:
		}
	}
}

func (s *spoolScanner) result() (files, bytes int, leaks []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.files {
		bytes += n
	}
	return len(s.files), bytes, slices.Sorted(maps.Keys(s.leaks))
}

// leaked returns the secrets that occur in b.
func leaked(b []byte, secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		if bytes.Contains(b, []byte(s)) {
			out = append(out, s)
		}
	}
	return out
}

// redact shows a secret by its length and first two characters, so that a
// failure message does not itself carry it whole.
func redact(s string) string {
	if len(s) <= 4 {
		return strconv.Itoa(len(s)) + " chars"
	}
	return s[:2] + strings.Repeat("*", len(s)-2)
}
