package ship

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolveEndpoints(t *testing.T) {
	t.Parallel()
	site := func(s string) Endpoints {
		return Endpoints{
			Series:    "https://api." + s + "/api/v2/series",
			Validate:  "https://api." + s + "/api/v1/validate",
			Processes: "https://process." + s + "/api/v1/collector",
		}
	}
	tests := []struct {
		name, site, ddURL, procURL string
		want                       Endpoints
		wantErr                    string
	}{
		{name: "default", want: site("datadoghq.com")},
		{name: "US3", site: "us3.datadoghq.com", want: site("us3.datadoghq.com")},
		{name: "US5", site: "us5.datadoghq.com", want: site("us5.datadoghq.com")},
		{name: "EU1", site: "datadoghq.eu", want: site("datadoghq.eu")},
		{name: "AP1", site: "ap1.datadoghq.com", want: site("ap1.datadoghq.com")},
		{name: "AP2", site: "ap2.datadoghq.com", want: site("ap2.datadoghq.com")},
		{name: "US1-FED", site: "ddog-gov.com", want: site("ddog-gov.com")},
		{name: "US2-FED", site: "us2.ddog-gov.com", want: site("us2.ddog-gov.com")},
		{name: "case and spaces", site: "  DatadogHQ.EU. ", want: site("datadoghq.eu")},
		{name: "unknown domain", site: "ap9.datadoghq.com", want: site("ap9.datadoghq.com")},
		{name: "site is a URL", site: "https://datadoghq.eu", wantErr: "not a URL"},
		{name: "single label", site: "localhost", wantErr: "not a domain"},
		{name: "bad char", site: "datadog hq.com", wantErr: "bad character"},
		{name: "empty label", site: "datadoghq..com", wantErr: "bad label"},
		{
			name: "DD_DD_URL override", site: "datadoghq.eu", ddURL: "https://proxy.internal:3834/",
			want: Endpoints{
				Series:    "https://proxy.internal:3834/api/v2/series",
				Validate:  "https://proxy.internal:3834/api/v1/validate",
				Processes: "https://process.datadoghq.eu/api/v1/collector",
			},
		},
		{
			name: "both overrides with path prefix", ddURL: "http://10.0.0.1:8080/dd", procURL: "https://p.example.com/x/",
			want: Endpoints{
				Series:    "http://10.0.0.1:8080/dd/api/v2/series",
				Validate:  "http://10.0.0.1:8080/dd/api/v1/validate",
				Processes: "https://p.example.com/x/api/v1/collector",
			},
		},
		{name: "override without scheme", ddURL: "app.datadoghq.com", wantErr: "DD_DD_URL"},
		{name: "override ftp", ddURL: "ftp://app.datadoghq.com", wantErr: "scheme must be https"},
		{name: "override no host", ddURL: "https://", wantErr: "no host"},
		{name: "override query", ddURL: "https://a.example.com/?x=1", wantErr: "no query"},
		{name: "override credentials", ddURL: "https://u:p@a.example.com", wantErr: "credentials"},
		{name: "process override bad", procURL: "process.datadoghq.com", wantErr: "DD_PROCESS_CONFIG_PROCESS_DD_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ResolveEndpoints(tt.site, tt.ddURL, tt.procURL)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ResolveEndpoints(%q, %q, %q) error = %v, want it to mention %q", tt.site, tt.ddURL, tt.procURL, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveEndpoints(%q, %q, %q): %v", tt.site, tt.ddURL, tt.procURL, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ResolveEndpoints(%q, %q, %q) (-want +got):\n%s", tt.site, tt.ddURL, tt.procURL, diff)
			}
		})
	}
}

func TestEveryDocumentedSiteResolves(t *testing.T) {
	t.Parallel()
	for _, s := range Sites {
		ep, err := ResolveEndpoints(s, "", "")
		if err != nil {
			t.Errorf("ResolveEndpoints(%q): %v", s, err)
			continue
		}
		if ep.URL(KindSeries) != "https://api."+s+"/api/v2/series" || ep.URL(KindProcesses) != "https://process."+s+"/api/v1/collector" {
			t.Errorf("ResolveEndpoints(%q) = %+v", s, ep)
		}
	}
}
