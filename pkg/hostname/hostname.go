// Package hostname picks the host name whippet reports, by the rules the Datadog
// agent follows, so series land on the same host as the agent's would: on an
// ECS-optimized AMI that is the EC2 instance id, not the ip-… OS name and not the
// container id a bridge-networked task sees as its own name.
package hostname

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
)

// Sources of a Result.
const (
	SourceConfig = "config" // Options.Configured (DD_HOSTNAME)
	SourceDocker = "docker" // the engine's /info Name: the host's name seen from a container
	SourceOS     = "os"     // os.Hostname
	SourceEC2    = "ec2"    // the instance id from the instance metadata service
)

// Defaults for Options.
const (
	DefaultIMDSURL     = "http://169.254.169.254"
	DefaultIMDSTimeout = 300 * time.Millisecond
	// imdsTokenTTL is the IMDSv2 token lifetime asked for, in seconds (the agent's value).
	imdsTokenTTL = "21600"
	maxLen       = 255
	maxLabel     = 63
	maxBody      = 256 // an instance id is ~19 bytes
)

// Options are the inputs of Resolve. Zero values take the defaults.
type Options struct {
	// Configured is the user's host name (DD_HOSTNAME), "" when none.
	Configured string
	// ForceConfigAsCanonical uses Configured even when it looks like an EC2
	// default (hostname_force_config_as_canonical).
	ForceConfigAsCanonical bool
	// IMDSURL is the instance metadata service's base URL.
	IMDSURL string
	// IMDSTimeout bounds each metadata request: off EC2 nothing answers at
	// 169.254.169.254 and startup must not wait long for it.
	IMDSTimeout time.Duration
	// HTTPClient talks to the metadata service. The default uses no proxy:
	// HTTPS_PROXY must not capture the link-local address.
	HTTPClient *http.Client
	// OSHostname returns the kernel's host name; default os.Hostname.
	OSHostname func() (string, error)
	// DockerName returns the Docker engine's name for the host (GET /info, Name);
	// nil when there is no engine.
	DockerName func(ctx context.Context) (string, error)
	// InContainer says the OS host name is the container's (a container id in a
	// bridge-networked task), so it is never reported.
	InContainer bool
	// Log receives the reasons candidates were passed over; nil discards them.
	Log *slog.Logger
}

// Result is the chosen host name and where it came from.
type Result struct {
	Name   string
	Source string // one of the Source constants
	// Aliases are the other valid names found for this host, e.g. the ip-… name
	// when Name is the instance id; they go in host metadata.
	Aliases []string
}

// Resolve applies the agent's rules in order: (1) the configured name unless it
// is an EC2 default (ip-…, domU…) and not forced; (2) the host's name — Docker's
// view of it, else the OS's — unless it is an EC2 default; (3) the EC2 instance
// id from IMDS; (4) the first valid name passed over in (1) or (2). Invalid
// names (empty, too long, not RFC 1123) are skipped, never reported.
func Resolve(ctx context.Context, o Options) (Result, error) {
	o.defaults()
	var (
		fallback Result // first valid EC2-default name, used when IMDS fails
		aliases  []string
		errs     []error
	)
	consider := func(name, source string) (Result, bool) {
		if err := Valid(name); err != nil {
			errs = append(errs, fmt.Errorf("%s host name: %w", source, err))
			return Result{}, false
		}
		if (source == SourceConfig && o.ForceConfigAsCanonical) || !IsEC2Default(name) {
			return Result{Name: name, Source: source}, true
		}
		if fallback.Name == "" {
			fallback = Result{Name: name, Source: source}
		}
		aliases = appendNew(aliases, name)
		return Result{}, false
	}
	finish := func(r Result) Result {
		for _, a := range aliases {
			if a != r.Name {
				r.Aliases = append(r.Aliases, a)
			}
		}
		return r
	}

	if o.Configured != "" {
		if r, ok := consider(o.Configured, SourceConfig); ok {
			return finish(r), nil
		}
	}
	if name, source, err := o.hostName(ctx); err != nil {
		errs = append(errs, err)
	} else if name != "" {
		if r, ok := consider(name, source); ok {
			return finish(r), nil
		}
	}
	id, err := o.instanceID(ctx)
	if err == nil {
		err = Valid(id)
	}
	if err == nil {
		return finish(Result{Name: id, Source: SourceEC2}), nil
	}
	errs = append(errs, fmt.Errorf("ec2 instance id: %w", err))
	if fallback.Name != "" {
		o.Log.Debug("host name: instance id unavailable, keeping the EC2 default name", "name", fallback.Name, "err", err)
		return finish(fallback), nil
	}
	return Result{}, fmt.Errorf("no valid host name: %w", errors.Join(errs...))
}

func (o *Options) defaults() {
	if o.IMDSURL == "" {
		o.IMDSURL = DefaultIMDSURL
	}
	o.IMDSURL = strings.TrimSuffix(o.IMDSURL, "/")
	if o.IMDSTimeout <= 0 {
		o.IMDSTimeout = DefaultIMDSTimeout
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: &http.Transport{Proxy: nil}}
	}
	if o.OSHostname == nil {
		o.OSHostname = os.Hostname
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// hostName is rule (2)'s candidate: Docker's name for the host when an engine
// answers, else the OS host name unless that is a container's.
func (o *Options) hostName(ctx context.Context) (name, source string, err error) {
	if o.DockerName != nil {
		name, err := o.DockerName(ctx)
		if err == nil && name != "" {
			return name, SourceDocker, nil
		}
		o.Log.Debug("host name: Docker engine name unavailable", "err", err)
	}
	if o.InContainer {
		return "", "", errors.New("in a container without the Docker engine's name: the OS host name is the container's")
	}
	name, err = o.OSHostname()
	if err != nil {
		return "", "", fmt.Errorf("os host name: %w", err)
	}
	return name, SourceOS, nil
}

// instanceID asks IMDS for the instance id, IMDSv2 first. When no token can be
// had (a timeout — the PUT response is dropped past its hop limit, which a
// bridge-networked container is one hop beyond — or an error status from a
// service without v2) it retries once with IMDSv1, which instances with
// HttpTokens=optional still answer. A token that the metadata GET then refuses
// is an error, not a reason to downgrade.
func (o *Options) instanceID(ctx context.Context) (string, error) {
	token, err := o.imds(ctx, http.MethodPut, "/latest/api/token", "X-aws-ec2-metadata-token-ttl-seconds", imdsTokenTTL)
	if err != nil {
		if ctx.Err() != nil {
			return "", err
		}
		o.Log.Debug("host name: no IMDSv2 token, trying IMDSv1", "err", err)
		id, err1 := o.imds(ctx, http.MethodGet, "/latest/meta-data/instance-id", "", "")
		if err1 != nil {
			return "", fmt.Errorf("imdsv2 token: %w; imdsv1: %w", err, err1)
		}
		return id, nil
	}
	return o.imds(ctx, http.MethodGet, "/latest/meta-data/instance-id", "X-aws-ec2-metadata-token", token)
}

// imds makes one metadata request bounded by IMDSTimeout and returns its body.
func (o *Options) imds(ctx context.Context, method, path, header, value string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.IMDSTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, o.IMDSURL+path, nil)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", method, path, err)
	}
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := o.HTTPClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return "", fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if len(b) > maxBody {
		return "", fmt.Errorf("%s %s: body over %d bytes", method, path, maxBody)
	}
	return strings.TrimSpace(string(b)), nil
}

// IsEC2Default reports whether name is an EC2-assigned default host name
// (ip-10-0-0-1…, domU-…), which the agent never takes as canonical on its own.
func IsEC2Default(name string) bool {
	l := strings.ToLower(name)
	return strings.HasPrefix(l, "ip-") || strings.HasPrefix(l, "domu")
}

// Valid returns why name cannot be a host name, or nil: it must be an RFC 1123
// name of at most 255 bytes (labels of 1–63 letters, digits and inner hyphens)
// and not a loopback name, as the agent's validation requires.
func Valid(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > maxLen:
		return fmt.Errorf("%d bytes, over %d", len(name), maxLen)
	}
	switch strings.ToLower(name) {
	case "localhost", "localhost.localdomain", "localhost6.localdomain6", "ip6-localhost":
		return fmt.Errorf("%q is a loopback name", name)
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > maxLabel {
			return fmt.Errorf("%q: label %q must be 1 to %d bytes", name, label, maxLabel)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q: label %q starts or ends with '-'", name, label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("%q: invalid character %q", name, c)
			}
		}
	}
	return nil
}

func appendNew(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
