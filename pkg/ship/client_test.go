package ship

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testKey = "0123456789abcdef0123456789abwxyz"

func TestSendHeaders(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		got []http.Header
		at  []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		at = append(at, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	c := testClient(t, srv.URL)
	now := time.Now()
	series := &Payload{Kind: KindSeries, Body: []byte("s"), Header: http.Header{"Content-Encoding": {"zstd"}}}
	proc := &Payload{Kind: KindProcesses, Body: []byte("p"), Header: http.Header{
		"Content-Type":  {"application/x-protobuf"},
		"X-Dd-Hostname": {"i-0abc"},
	}}
	for _, p := range []*Payload{series, proc} {
		if out := c.Send(context.Background(), p, now); out.Err != nil || out.Status != http.StatusAccepted {
			t.Fatalf("Send(%v) = %+v", p.Kind, out)
		}
	}
	if diff := cmp.Diff([]string{"POST /api/v2/series", "POST /api/v1/collector"}, at); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	want := map[string]string{
		"Dd-Api-Key":       testKey,
		"User-Agent":       "whippet/1.2.3",
		"Dd-Agent-Version": "1.2.3",
		"Content-Type":     "application/x-protobuf",
		"Content-Encoding": "zstd",
	}
	for k, v := range want {
		if g := got[0].Get(k); g != v {
			t.Errorf("series header %s = %q, want %q", k, g, v)
		}
	}
	if v := got[0].Get("DD-Agent-Payload"); !strings.HasPrefix(v, "5.") {
		t.Errorf("series DD-Agent-Payload = %q, want the agent-payload v5 version", v)
	}
	if v := got[1].Get("X-Dd-Hostname"); v != "i-0abc" {
		t.Errorf("process X-Dd-Hostname = %q, want it passed from the payload", v)
	}
	if v := got[1].Get("DD-Agent-Payload"); v != "" {
		t.Errorf("process DD-Agent-Payload = %q, want none", v)
	}
	if v := got[1].Get("Dd-Api-Key"); v != testKey {
		t.Errorf("process DD-API-KEY = %q", v)
	}
}

// hijackReset answers by closing the connection without a reply.
func hijackReset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST, not FIN
	}
	conn.Close()
}

func TestSendStatus(t *testing.T) {
	t.Parallel()
	date := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		want       verdict
		retryAfter time.Duration
		transport  bool
	}{
		{name: "200", handler: status(200, ""), want: delivered},
		{name: "202", handler: status(202, ""), want: delivered},
		{name: "400", handler: status(400, ""), want: dropBadRequest},
		{name: "403", handler: status(403, ""), want: dropForbidden},
		{name: "404", handler: status(404, ""), want: retry},
		{name: "408", handler: status(408, ""), want: retry},
		{name: "413", handler: status(413, ""), want: tooLarge},
		{name: "429 seconds", handler: status(429, "7"), want: retry, retryAfter: 7 * time.Second},
		{name: "429 date", handler: status(429, date.Add(time.Minute).Format(http.TimeFormat)), want: retry, retryAfter: time.Minute},
		{name: "500", handler: status(500, "9"), want: retry}, // Retry-After only on 429/503
		{name: "503", handler: status(503, "12"), want: retry, retryAfter: 12 * time.Second},
		{name: "reset", handler: func(w http.ResponseWriter, r *http.Request) { hijackReset(w) }, want: retry, transport: true},
		{name: "timeout", handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // then the server notices the client hanging up
			<-r.Context().Done()
		}, want: retry, transport: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			ep, _ := ResolveEndpoints("", srv.URL, srv.URL)
			c, err := NewClient(ep, Options{APIKey: testKey, Timeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			out := c.Send(context.Background(), &Payload{Body: []byte("x")}, date)
			if got := classify(out); got != tt.want {
				t.Errorf("classify(Send) = %v for %+v, want %v", got, out, tt.want)
			}
			if out.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", out.RetryAfter, tt.retryAfter)
			}
			if got := errors.Is(out.Err, ErrTransport); got != tt.transport {
				t.Errorf("Err = %v, transport %v want %v", out.Err, got, tt.transport)
			}
			if out.Status >= 400 && !strings.Contains(out.Detail, "errors") {
				t.Errorf("Detail = %q, want the reply body", out.Detail)
			}
		})
	}
}

func status(code int, retryAfter string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		if code >= 400 {
			_, _ = io.WriteString(w, `{"errors":["nope"]}`)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		invalid   bool
		transport bool
		status    int
		ok        bool
	}{
		{name: "200", handler: body(200, `{"valid":true}`), ok: true},
		{name: "403", handler: body(403, `{"errors":["Forbidden"]}`), invalid: true},
		{name: "valid false", handler: body(200, `{"valid":false}`), invalid: true},
		{name: "429", handler: body(429, `{"errors":["rate limited"]}`), status: 429},
		{name: "garbage", handler: body(200, `<html>captive portal</html>`)},
		{name: "reset", handler: func(w http.ResponseWriter, r *http.Request) { hijackReset(w) }, transport: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				mu              sync.Mutex
				gotKey, gotPath string
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				gotKey, gotPath = r.Header.Get("DD-API-KEY"), r.Method+" "+r.URL.Path
				mu.Unlock()
				tt.handler(w, r)
			}))
			defer srv.Close()
			err := testClient(t, srv.URL).Validate(context.Background())
			mu.Lock()
			defer mu.Unlock()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
			if gotKey != testKey || gotPath != "GET /api/v1/validate" {
				t.Errorf("request %q with key %q", gotPath, gotKey)
			}
			if err == nil {
				return
			}
			if errors.Is(err, ErrInvalidKey) != tt.invalid {
				t.Errorf("Validate() = %v, ErrInvalidKey want %v", err, tt.invalid)
			}
			if errors.Is(err, ErrTransport) != tt.transport {
				t.Errorf("Validate() = %v, ErrTransport want %v", err, tt.transport)
			}
			var se *StatusError
			if errors.As(err, &se) != (tt.status != 0) || (se != nil && se.Code != tt.status) {
				t.Errorf("Validate() = %v, want StatusError %d", err, tt.status)
			}
			if strings.Contains(err.Error(), testKey[:len(testKey)-4]) {
				t.Errorf("Validate() error %q shows more of the key than its last 4 characters", err)
			}
			if !strings.Contains(err.Error(), "****wxyz") {
				t.Errorf("Validate() error %q does not name the key by its last 4 characters", err)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		c := testClient(t, srv.URL)
		srv.Close()
		if err := c.Validate(context.Background()); !errors.Is(err, ErrTransport) {
			t.Errorf("Validate() against a closed port = %v, want ErrTransport", err)
		}
	})
}

func body(code int, s string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, s)
	}
}

// recordingProxy is a forward proxy that records what it was asked for:
// CONNECT host:port for https, absolute URIs for http.
type recordingProxy struct {
	mu   sync.Mutex
	seen []string
}

func (p *recordingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.seen = append(p.seen, r.Method+" "+r.RequestURI)
	p.mu.Unlock()
	if r.Method == http.MethodConnect {
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		_, _ = io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() { _, _ = io.Copy(up, brw); up.Close() }()
		_, _ = io.Copy(conn, up)
		conn.Close()
		return
	}
	r.RequestURI = ""
	resp, err := (&http.Transport{}).RoundTrip(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (p *recordingProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

func TestProxy(t *testing.T) {
	t.Parallel()
	plain := httptest.NewServer(body(202, "{}"))
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(body(202, "{}"))
	t.Cleanup(secure.Close)
	pool := secure.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	tests := []struct {
		name     string
		target   *httptest.Server
		explicit bool // DD_PROXY_HTTPS, else the environment's proxy function
		want     func(target string) string
	}{
		{name: "explicit http", target: plain, explicit: true, want: func(u string) string { return "POST " + u + "/api/v2/series" }},
		{name: "explicit https", target: secure, explicit: true, want: func(u string) string { return "CONNECT " + strings.TrimPrefix(u, "https://") }},
		{name: "environment https", target: secure, want: func(u string) string { return "CONNECT " + strings.TrimPrefix(u, "https://") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rp := &recordingProxy{}
			proxy := httptest.NewServer(rp)
			defer proxy.Close()
			proxyURL, _ := url.Parse(proxy.URL)
			envCalls := 0
			opt := Options{APIKey: testKey, RootCAs: pool, Proxy: func(*http.Request) (*url.URL, error) {
				envCalls++
				return proxyURL, nil
			}}
			if tt.explicit {
				opt.ProxyHTTPS = proxy.URL
			}
			ep, _ := ResolveEndpoints("", tt.target.URL, tt.target.URL)
			c, err := NewClient(ep, opt)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if out := c.Send(context.Background(), &Payload{Body: []byte("x")}, time.Now()); out.Status != 202 {
				t.Fatalf("Send through proxy = %+v", out)
			}
			if diff := cmp.Diff([]string{tt.want(tt.target.URL)}, rp.requests()); diff != "" {
				t.Errorf("proxy saw (-want +got):\n%s", diff)
			}
			if tt.explicit && envCalls != 0 {
				t.Errorf("environment proxy consulted %d times despite DD_PROXY_HTTPS", envCalls)
			}
		})
	}
	t.Run("bad proxy URL", func(t *testing.T) {
		t.Parallel()
		_, err := NewClient(Endpoints{}, Options{APIKey: testKey, ProxyHTTPS: "user:secret@proxy"})
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("NewClient with a bad proxy = %v, want an error that does not echo it", err)
		}
	})
}

func TestTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(body(202, "{}"))
	t.Cleanup(srv.Close)
	rightCA := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tests := []struct {
		name string
		opt  Options
		ok   bool
		warn bool
	}{
		{name: "custom CA", opt: Options{RootCAs: rightCA}, ok: true},
		{name: "wrong CA", opt: Options{RootCAs: otherCA(t)}},
		{name: "system roots", opt: Options{}},
		{name: "skip verify", opt: Options{SkipTLSVerify: true}, ok: true, warn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			tt.opt.APIKey = testKey
			tt.opt.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			ep, _ := ResolveEndpoints("", srv.URL, srv.URL)
			c, err := NewClient(ep, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			out := c.Send(context.Background(), &Payload{Body: []byte("x")}, time.Now())
			if tt.ok != (out.Status == 202) {
				t.Errorf("Send = %+v, want ok %v", out, tt.ok)
			}
			if !tt.ok && !errors.Is(out.Err, ErrTransport) {
				t.Errorf("Send = %+v, want ErrTransport", out)
			}
			if got := strings.Contains(logs.String(), "level=WARN"); got != tt.warn {
				t.Errorf("warning logged %v, want %v: %s", got, tt.warn, logs.String())
			}
		})
	}
}

// otherCA is a pool holding a fresh self-signed CA that signed nothing.
func otherCA(t *testing.T) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "not the intake's CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}
