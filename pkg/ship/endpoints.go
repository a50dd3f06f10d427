package ship

import (
	"fmt"
	"net/url"
	"strings"
)

// DefaultSite is the Datadog site used when DD_SITE is empty (US1).
const DefaultSite = "datadoghq.com"

// Sites are the documented Datadog sites (docs.datadoghq.com/getting_started/site).
// Other sites are accepted when they look like a domain, so a new region needs
// no release.
var Sites = []string{
	"datadoghq.com",
	"us3.datadoghq.com",
	"us5.datadoghq.com",
	"datadoghq.eu",
	"ap1.datadoghq.com",
	"ap2.datadoghq.com",
	"ddog-gov.com",
	"us2.ddog-gov.com",
}

// Routes on the intake hosts.
const (
	seriesPath    = "/api/v2/series"
	validatePath  = "/api/v1/validate"
	processesPath = "/api/v1/collector"
)

// Endpoints are the full URLs whippet talks to.
type Endpoints struct {
	Series    string // POST metric series (protobuf MetricPayload)
	Validate  string // GET API key check
	Processes string // POST Live Processes payloads (CollectorProc)
}

// URL returns the endpoint that payloads of kind k are posted to.
func (e Endpoints) URL(k Kind) string {
	if k == KindProcesses {
		return e.Processes
	}
	return e.Series
}

// ResolveEndpoints derives the intake URLs from DD_SITE and the agent's
// overrides: ddURL (DD_DD_URL or DD_URL) replaces the metrics host and
// processURL (DD_PROCESS_CONFIG_PROCESS_DD_URL) the process intake host. Both
// overrides are base URLs; the routes are appended to them.
func ResolveEndpoints(site, ddURL, processURL string) (Endpoints, error) {
	site = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(site)), ".")
	if site == "" {
		site = DefaultSite
	}
	if err := checkDomain(site); err != nil {
		return Endpoints{}, fmt.Errorf("DD_SITE %q: %w", site, err)
	}
	api := "https://api." + site
	proc := "https://process." + site
	if ddURL = strings.TrimSpace(ddURL); ddURL != "" {
		base, err := baseURL(ddURL)
		if err != nil {
			return Endpoints{}, fmt.Errorf("DD_DD_URL %q: %w", ddURL, err)
		}
		api = base
	}
	if processURL = strings.TrimSpace(processURL); processURL != "" {
		base, err := baseURL(processURL)
		if err != nil {
			return Endpoints{}, fmt.Errorf("DD_PROCESS_CONFIG_PROCESS_DD_URL %q: %w", processURL, err)
		}
		proc = base
	}
	return Endpoints{
		Series:    api + seriesPath,
		Validate:  api + validatePath,
		Processes: proc + processesPath,
	}, nil
}

// checkDomain accepts host names of at least two labels of letters, digits and
// inner hyphens: enough to refuse a URL, a path or a typo with spaces.
func checkDomain(s string) error {
	if strings.Contains(s, "://") {
		return fmt.Errorf("want a site domain such as datadoghq.eu, not a URL")
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 || len(s) > 253 {
		return fmt.Errorf("not a domain (known sites: %s)", strings.Join(Sites, ", "))
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("not a domain: bad label %q", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("not a domain: bad character %q", c)
			}
		}
	}
	return nil
}

// baseURL checks an override and returns it without a trailing slash.
func baseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("parse: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("scheme must be https (or http), got %q", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("no host")
	}
	if u.User != nil {
		return "", fmt.Errorf("credentials in the URL are not supported")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("a base URL takes no query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}
