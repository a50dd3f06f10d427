// Package ecs reads the ECS container agent's introspection API
// (GET /v1/metadata and /v1/tasks on port 51678) and completes container Metas
// with what only the agent knows: the task's known and desired status, the
// container instance ARN, and the task identity of a container without ECS
// labels. Labels alone already give the task ARN, family, version and cluster
// (container.ParseECS); the agent is optional and its absence costs one log line.
//
// Finding the agent (Datadog's pkg/util/ecs/metadata/detection.go order): the
// configured URL (ecs_agent_url) alone when set; else the default gateway of the
// agent's own network namespace on port 51678 (a bridge-mode daemon task reaches
// the host-networked ECS agent there), then 169.254.172.1:51678 (the awsvpc
// bridge), then localhost:51678 (host networking). Datadog also tries the
// addresses of a container named ecs-agent; whippet does not: that lookup needs
// GET /containers/ecs-agent/json, which a read-only socket proxy allowing only
// hex ids refuses, and the ECS agent runs with host networking, so it has no
// address of its own. A candidate is accepted when GET /v1/metadata answers 200
// with JSON (Datadog probes GET / for AvailableCommands; /v1/metadata is the call
// we need anyway, so the probe costs nothing extra), within 1 s.
package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Introspection port and the awsvpc bridge address of the ECS agent.
const (
	Port          = 51678
	awsvpcBridge  = "169.254.172.1"
	localhostAddr = "localhost"
)

// DefaultTimeout bounds each call to the ECS agent, as Datadog's detection does.
const DefaultTimeout = time.Second

// Size caps of the agent's replies.
const (
	maxMetadataBytes = 64 << 10
	maxTasksBytes    = 8 << 20
)

// Metadata is the reply of GET /v1/metadata.
type Metadata struct {
	Cluster              string `json:"Cluster"`
	ContainerInstanceArn string `json:"ContainerInstanceArn"`
	Version              string `json:"Version"`
}

// Task is one task of GET /v1/tasks; unknown fields are ignored.
type Task struct {
	Arn           string      `json:"Arn"`
	DesiredStatus string      `json:"DesiredStatus"`
	KnownStatus   string      `json:"KnownStatus"`
	Family        string      `json:"Family"`
	Version       string      `json:"Version"`
	Containers    []Container `json:"Containers"`
}

// Container is one container of a Task.
type Container struct {
	DockerID   string `json:"DockerId"`
	DockerName string `json:"DockerName"`
	Name       string `json:"Name"` // the name in the task definition
}

// Client calls one ECS agent's introspection API.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client of the agent at baseURL ("http://172.17.0.1:51678").
// Each call is bounded by timeout (0: DefaultTimeout). It never uses an HTTP
// proxy from the environment: the agent is on this host.
func NewClient(baseURL string, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{
		base: strings.TrimRight(baseURL, "/"),
		hc: &http.Client{
			Timeout: timeout,
			Transport: &http.Transport{
				Proxy:               nil,
				DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
				MaxIdleConnsPerHost: 1,
				IdleConnTimeout:     90 * time.Second,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// URL is the agent's base URL.
func (c *Client) URL() string { return c.base }

// Close closes idle connections; it is idempotent.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// Metadata returns GET /v1/metadata.
func (c *Client) Metadata(ctx context.Context) (Metadata, error) {
	var md Metadata
	if err := c.get(ctx, "/v1/metadata", maxMetadataBytes, &md); err != nil {
		return Metadata{}, err
	}
	return md, nil
}

// Tasks returns GET /v1/tasks.
func (c *Client) Tasks(ctx context.Context) ([]Task, error) {
	var r struct {
		Tasks []Task `json:"Tasks"`
	}
	if err := c.get(ctx, "/v1/tasks", maxTasksBytes, &r); err != nil {
		return nil, err
	}
	return r.Tasks, nil
}

func (c *Client) get(ctx context.Context, path string, limit int64, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("ecs agent %s: %w", path, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("ecs agent %s%s: %w", c.base, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("ecs agent %s%s: HTTP %d", c.base, path, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("ecs agent %s%s: read: %w", c.base, path, err)
	}
	if int64(len(b)) > limit {
		return fmt.Errorf("ecs agent %s%s: reply over %d bytes", c.base, path, limit)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("ecs agent %s%s: decode: %w", c.base, path, err)
	}
	return nil
}

// Candidates returns the agent URLs to try, in order: configured alone when set;
// else the default gateway (when valid), the awsvpc bridge and localhost, each
// on port 51678.
func Candidates(configured string, gateway netip.Addr) []string {
	if configured != "" {
		return []string{configured}
	}
	var out []string
	if gateway.IsValid() && !gateway.IsUnspecified() {
		out = append(out, "http://"+net.JoinHostPort(gateway.String(), strconv.Itoa(Port)))
	}
	return append(out,
		"http://"+net.JoinHostPort(awsvpcBridge, strconv.Itoa(Port)),
		"http://"+net.JoinHostPort(localhostAddr, strconv.Itoa(Port)))
}

// DefaultGateway returns the IPv4 default gateway from a /proc/net/route file:
// the agent's own network namespace's (<proc>/self/net/route, or <proc>/net/route).
func DefaultGateway(routeFile string) (netip.Addr, error) {
	b, err := os.ReadFile(routeFile)
	if err != nil {
		return netip.Addr{}, err
	}
	gw, ok := ParseRoute(b)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%s: no default route", routeFile)
	}
	return gw, nil
}

// ParseRoute finds the default route with a gateway in the content of
// /proc/net/route (hex, host byte order: little-endian on every ECS host) and
// returns its gateway; with several, the one of the lowest metric.
func ParseRoute(b []byte) (netip.Addr, bool) {
	const rtfGateway = 0x2
	var (
		best   netip.Addr
		metric = -1
	)
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		gw, err1 := strconv.ParseUint(f[2], 16, 32)
		flags, err2 := strconv.ParseUint(f[3], 16, 32)
		m, err3 := strconv.Atoi(f[6])
		if err1 != nil || err2 != nil || err3 != nil || flags&rtfGateway == 0 || gw == 0 {
			continue
		}
		if metric < 0 || m < metric {
			best = netip.AddrFrom4([4]byte{byte(gw), byte(gw >> 8), byte(gw >> 16), byte(gw >> 24)})
			metric = m
		}
	}
	return best, metric >= 0
}

// Detect tries candidates in order with GET /v1/metadata and returns a client of
// the first that answers, and its metadata.
func Detect(ctx context.Context, candidates []string, timeout time.Duration) (*Client, Metadata, error) {
	var errs []error
	for _, u := range candidates {
		c := NewClient(u, timeout)
		md, err := c.Metadata(ctx)
		if err == nil {
			return c, md, nil
		}
		c.Close()
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, Metadata{}, errors.New("ecs agent: no candidate URL")
	}
	return nil, Metadata{}, fmt.Errorf("ecs agent not found: %w", errors.Join(errs...))
}
