package fakedocker

import "testing"

func TestAllow(t *testing.T) {
	t.Parallel()
	const id = "0cbed5dba142072315d496a4f4f21230c74020775cb2f6249dc24ea7f8a2129f"
	for _, tt := range []struct {
		method, path string
		want         Route
	}{
		{"GET", "/_ping", RoutePing},
		{"GET", "/v1.41/_ping", RoutePing},
		{"GET", "/version", RouteVersion},
		{"GET", "/v1.24/version", RouteVersion},
		{"GET", "/v1.47/containers/json", RouteList},
		{"GET", "/containers/" + id + "/json", RouteInspect},
		{"GET", "/v1.41/containers/" + id + "/json", RouteInspect},
		{"GET", "/v1.41/events", RouteEvents},
		{"HEAD", "/_ping", ""},
		{"POST", "/v1.41/containers/create", ""},
		{"POST", "/v1.41/containers/" + id + "/start", ""},
		{"DELETE", "/v1.41/containers/" + id, ""},
		{"GET", "/v1.41/containers/" + id + "/archive", ""},
		{"GET", "/v1.41/containers/" + id + "/export", ""},
		{"GET", "/v1.41/containers/ecs-agent/json", ""},
		{"GET", "/v1.41/containers/../images/json", ""},
		{"GET", "/v2.0/version", ""},
		{"GET", "/v1.41/images/json", ""},
		{"GET", "/v1.41/containers/" + id + "/stats", ""},
	} {
		if got := Allow(tt.method, tt.path); got != tt.want {
			t.Errorf("Allow(%s, %s) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}
