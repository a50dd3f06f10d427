package ship

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Kind says which intake a record's payloads go to.
type Kind uint8

const (
	KindSeries    Kind = 0 // metric series, /api/v2/series
	KindProcesses Kind = 1 // Live Processes, /api/v1/collector
	numKinds           = 2
)

func (k Kind) String() string {
	switch k {
	case KindSeries:
		return "series"
	case KindProcesses:
		return "processes"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Payload is one HTTP request body produced by an Encoder.
type Payload struct {
	Kind Kind
	Body []byte
	// Header carries the encoding's headers (Content-Type, Content-Encoding,
	// the process intake's X-Dd-* headers); the client adds the API key, agent
	// version and User-Agent.
	Header http.Header
	// Points counts the items (points, processes) in the payload. After a 413
	// the record is re-encoded finer and items already delivered are skipped by
	// this count, so encoders emit items in the same order at every split level.
	Points int
}

// Errors callers branch on.
var (
	// ErrInvalidKey is a 403 from the intake: the API key is wrong or revoked.
	ErrInvalidKey = errors.New("API key invalid")
	// ErrTransport wraps failures to get any HTTP reply (DNS, connect, TLS,
	// reset, timeout).
	ErrTransport = errors.New("intake unreachable")
)

// StatusError is an HTTP reply the caller did not expect.
type StatusError struct {
	Code   int
	Detail string // start of the reply body
}

func (e *StatusError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("HTTP %d", e.Code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Detail)
}

// DefaultTimeout bounds one request, as the agent's forwarder_timeout.
const DefaultTimeout = 20 * time.Second

// Options configure a Client.
type Options struct {
	APIKey  string
	Version string // whippet's version, for User-Agent and DD-Agent-Version
	Timeout time.Duration
	// RootCAs replaces the system roots when set (tests, private proxies).
	RootCAs *x509.CertPool
	// SkipTLSVerify disables certificate checks (DD_SKIP_SSL_VALIDATION); it is
	// logged as a warning.
	SkipTLSVerify bool
	// ProxyHTTPS (DD_PROXY_HTTPS) is the proxy for every intake request; when
	// empty, Proxy decides.
	ProxyHTTPS string
	// Proxy defaults to http.ProxyFromEnvironment (HTTPS_PROXY, NO_PROXY).
	Proxy  func(*http.Request) (*url.URL, error)
	Logger *slog.Logger
}

// Client sends payloads to the intake over one connection pool.
type Client struct {
	ep             Endpoints
	key            string
	hint           string // what of the key may be shown: its last 4 characters
	userAgent      string
	version        string
	payloadVersion string
	hc             *http.Client
	tr             *http.Transport
}

// NewClient builds a client for ep.
func NewClient(ep Endpoints, opt Options) (*Client, error) {
	if opt.APIKey == "" {
		return nil, errors.New("new client: no API key")
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.Version == "" {
		opt.Version = "dev"
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	proxy := opt.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	if opt.ProxyHTTPS != "" {
		u, err := url.Parse(opt.ProxyHTTPS)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			// Never echo the value: proxy URLs often carry credentials.
			return nil, errors.New("new client: DD_PROXY_HTTPS is not an http(s)://host:port URL")
		}
		proxy = http.ProxyURL(u)
	}
	if opt.SkipTLSVerify {
		log.Warn("TLS certificate verification is disabled (DD_SKIP_SSL_VALIDATION): the API key can be intercepted")
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:       proxy,
		DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{
			RootCAs:            opt.RootCAs,
			InsecureSkipVerify: opt.SkipTLSVerify, //nolint:gosec // opt-in, warned above
			MinVersion:         tls.VersionTLS12,
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &Client{
		ep:             ep,
		key:            opt.APIKey,
		hint:           keyHint(opt.APIKey),
		userAgent:      "whippet/" + opt.Version,
		version:        opt.Version,
		payloadVersion: agentPayloadVersion(),
		hc:             &http.Client{Transport: tr, Timeout: opt.Timeout},
		tr:             tr,
	}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// keyHint is the only part of the key that may appear in logs and errors.
func keyHint(key string) string {
	if len(key) <= 8 {
		return "****"
	}
	return "****" + key[len(key)-4:]
}

// agentPayloadVersion is the DD-Agent-Payload value: the agent-payload module
// version we compile against, as the agent sends it (no "v").
func agentPayloadVersion() string {
	const fallback = "5.0.215"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fallback
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/DataDog/agent-payload/v5" {
			return strings.TrimPrefix(d.Version, "v")
		}
	}
	return fallback
}

// Outcome is the result of one request.
type Outcome struct {
	Status     int   // 0 when no reply arrived
	Err        error // transport error (wraps ErrTransport), nil when a reply arrived
	RetryAfter time.Duration
	Detail     string // start of the body of an error reply
}

// maxDetail bounds what of an error reply is kept for logs, as the agent does.
const maxDetail = 1000

// Send posts p to its endpoint. Retry-After is resolved against now.
func (c *Client) Send(ctx context.Context, p *Payload, now time.Time) Outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ep.URL(p.Kind), bytes.NewReader(p.Body))
	if err != nil {
		return Outcome{Err: fmt.Errorf("build request: %w", err)}
	}
	for k, v := range p.Header {
		req.Header[k] = v
	}
	c.setHeaders(req.Header)
	if p.Kind == KindSeries {
		if req.Header.Get("Content-Type") == "" {
			req.Header.Set("Content-Type", "application/x-protobuf")
		}
		if req.Header.Get("Content-Type") == "application/x-protobuf" {
			req.Header.Set("DD-Agent-Payload", c.payloadVersion)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return Outcome{Err: fmt.Errorf("%w: %w", ErrTransport, err)}
	}
	defer resp.Body.Close()
	out := Outcome{Status: resp.StatusCode}
	if resp.StatusCode >= 400 {
		var b [maxDetail]byte
		n, _ := io.ReadFull(resp.Body, b[:])
		out.Detail = strings.TrimSpace(string(b[:n]))
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			out.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
		}
	}
	// Drain (bounded) so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return out
}

func (c *Client) setHeaders(h http.Header) {
	h.Set("DD-API-KEY", c.key)
	h.Set("User-Agent", c.userAgent)
	h.Set("DD-Agent-Version", c.version)
}

// Validate checks the API key (GET /api/v1/validate). A 403 is ErrInvalidKey,
// no reply wraps ErrTransport, anything else unexpected is a *StatusError or
// a reply error. Only the key's last 4 characters appear in errors.
func (c *Client) Validate(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.ep.Validate, nil)
	if err != nil {
		return fmt.Errorf("validate API key: build request: %w", err)
	}
	c.setHeaders(req.Header)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("validate API key %s: %w: %w", c.hint, ErrTransport, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("validate API key %s: read reply: %w: %w", c.hint, ErrTransport, err)
	}
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("API key %s rejected by %s: %w", c.hint, req.URL.Host, ErrInvalidKey)
	case resp.StatusCode != http.StatusOK:
		d := string(body)
		if len(d) > 200 {
			d = d[:200]
		}
		return fmt.Errorf("validate API key %s: %w", c.hint, &StatusError{Code: resp.StatusCode, Detail: strings.TrimSpace(d)})
	}
	var reply struct {
		Valid *bool `json:"valid"`
	}
	if err := json.Unmarshal(body, &reply); err != nil || reply.Valid == nil {
		return fmt.Errorf("validate API key %s: unexpected reply from %s (a proxy or captive portal?)", c.hint, req.URL.Host)
	}
	if !*reply.Valid {
		return fmt.Errorf("API key %s: %w", c.hint, ErrInvalidKey)
	}
	return nil
}

// MaxRetryAfter caps how long a Retry-After header can hold an endpoint shut.
const MaxRetryAfter = 5 * time.Minute

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}
