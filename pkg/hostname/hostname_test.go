package hostname

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const instanceID = "i-0abc123def4567890"

// imds is a fake instance metadata service. By default it is IMDSv2-only
// (HttpTokens=required): a GET without a valid token is refused with 401.
type imds struct {
	tokenStatus int    // non-zero: the token PUT answers this status (e.g. 405 on a v1-only service)
	v1          bool   // GET without a token is answered (HttpTokens=optional)
	badToken    bool   // the GET refuses the token it issued
	hang        bool   // every request blocks until the client gives up
	id          string // the instance id served; default instanceID
	puts, gets  atomic.Int32
}

func (f *imds) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.hang {
		<-r.Context().Done()
		return
	}
	const token = "AQAEAtoken=="
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
		f.puts.Add(1)
		if f.tokenStatus != 0 {
			w.WriteHeader(f.tokenStatus)
			return
		}
		if r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "missing ttl", http.StatusBadRequest)
			return
		}
		w.Write([]byte(token))
	case r.Method == http.MethodGet && r.URL.Path == "/latest/meta-data/instance-id":
		f.gets.Add(1)
		got := r.Header.Get("X-aws-ec2-metadata-token")
		if (got == "" && !f.v1) || (got != "" && (got != token || f.badToken)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		id := f.id
		if id == "" {
			id = instanceID
		}
		w.Write([]byte(id))
	default:
		http.NotFound(w, r)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	const ec2Name = "ip-10-1-2-3.eu-west-1.compute.internal"
	osName := func(n string) func() (string, error) { return func() (string, error) { return n, nil } }
	docker := func(n string, err error) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return n, err }
	}
	noEngine := docker("", errors.New("dial unix /var/run/docker.sock: no such file"))
	tests := []struct {
		name    string
		o       Options
		imds    *imds // nil: the service must not be asked
		want    Result
		wantErr bool
		puts    int32 // token requests expected (when imds != nil)
		gets    int32
	}{
		{name: "configured", o: Options{Configured: "web-1.example.com", OSHostname: osName(ec2Name)},
			want: Result{Name: "web-1.example.com", Source: SourceConfig}},
		{name: "configured EC2 default gives way to the host name", o: Options{Configured: "ip-10-0-0-9", DockerName: docker("build-host", nil)},
			want: Result{Name: "build-host", Source: SourceDocker, Aliases: []string{"ip-10-0-0-9"}}},
		{name: "configured EC2 default forced", o: Options{Configured: "ip-10-0-0-9", ForceConfigAsCanonical: true},
			want: Result{Name: "ip-10-0-0-9", Source: SourceConfig}},
		{name: "configured domU default, case-insensitive, gives way to the instance id",
			o:    Options{Configured: "DOMU-12-31-39", OSHostname: osName(ec2Name)},
			imds: &imds{}, puts: 1, gets: 1,
			want: Result{Name: instanceID, Source: SourceEC2, Aliases: []string{"DOMU-12-31-39", ec2Name}}},
		{name: "invalid configured name skipped", o: Options{Configured: "bad_name", DockerName: docker("host-a", nil)},
			want: Result{Name: "host-a", Source: SourceDocker}},
		{name: "docker name preferred over the container's own name", o: Options{DockerName: docker("host-a", nil), OSHostname: osName("3f2a9c1b7d6e")},
			want: Result{Name: "host-a", Source: SourceDocker}},
		{name: "os name without an engine", o: Options{DockerName: noEngine, OSHostname: osName("bare-metal-7")},
			want: Result{Name: "bare-metal-7", Source: SourceOS}},
		{name: "EC2 default os name: instance id via IMDSv2", o: Options{OSHostname: osName(ec2Name)},
			imds: &imds{}, puts: 1, gets: 1,
			want: Result{Name: instanceID, Source: SourceEC2, Aliases: []string{ec2Name}}},
		{name: "in a container without the engine: instance id", o: Options{InContainer: true, DockerName: noEngine, OSHostname: osName("3f2a9c1b7d6e")},
			imds: &imds{}, puts: 1, gets: 1,
			want: Result{Name: instanceID, Source: SourceEC2}},
		{name: "EC2 default docker name: instance id", o: Options{DockerName: docker(ec2Name, nil)},
			imds: &imds{}, puts: 1, gets: 1,
			want: Result{Name: instanceID, Source: SourceEC2, Aliases: []string{ec2Name}}},
		{name: "no IMDSv2 (405): IMDSv1", o: Options{OSHostname: osName(ec2Name)},
			imds: &imds{tokenStatus: http.StatusMethodNotAllowed, v1: true}, puts: 1, gets: 1,
			want: Result{Name: instanceID, Source: SourceEC2, Aliases: []string{ec2Name}}},
		{name: "IMDS off (403) and v1 refused: EC2 default os name kept", o: Options{OSHostname: osName(ec2Name)},
			imds: &imds{tokenStatus: http.StatusForbidden}, puts: 1, gets: 1,
			want: Result{Name: ec2Name, Source: SourceOS, Aliases: nil}},
		{name: "token refused (401): no downgrade, EC2 default kept", o: Options{OSHostname: osName(ec2Name)},
			imds: &imds{badToken: true, v1: true}, puts: 1, gets: 1,
			want: Result{Name: ec2Name, Source: SourceOS}},
		{name: "IMDS hangs: timeout, EC2 default kept", o: Options{OSHostname: osName(ec2Name), IMDSTimeout: 20 * time.Millisecond},
			imds: &imds{hang: true},
			want: Result{Name: ec2Name, Source: SourceOS}},
		{name: "invalid instance id ignored", o: Options{OSHostname: osName(ec2Name)},
			imds: &imds{id: "<html>error</html>"}, puts: 1, gets: 1,
			want: Result{Name: ec2Name, Source: SourceOS}},
		{name: "nothing valid", o: Options{Configured: "-bad", InContainer: true, DockerName: docker("localhost", nil)},
			imds: &imds{tokenStatus: http.StatusNotFound}, puts: 1, gets: 1, wantErr: true},
		{name: "os error and no IMDS", o: Options{IMDSTimeout: 20 * time.Millisecond, OSHostname: func() (string, error) { return "", errors.New("uname failed") }},
			imds: &imds{hang: true}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				http.Error(w, "IMDS must not be asked", http.StatusTeapot)
			})
			if tt.imds != nil {
				if tt.o.IMDSTimeout == 0 {
					tt.o.IMDSTimeout = 5 * time.Second // a loaded machine must not turn a slow answer into a failure
				}
				h = tt.imds
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			tt.o.IMDSURL = srv.URL + "/"
			tt.o.HTTPClient = srv.Client()
			if tt.o.OSHostname == nil {
				tt.o.OSHostname = func() (string, error) { return "", errors.New("OSHostname not expected") }
			}
			got, err := Resolve(context.Background(), tt.o)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Resolve() = %+v, %v, wantErr %v", got, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve() mismatch (-want +got):\n%s", diff)
			}
			if hits.Load() != 0 {
				t.Errorf("IMDS asked %d times, want 0", hits.Load())
			}
			if f := tt.imds; f != nil && !f.hang && (f.puts.Load() != tt.puts || f.gets.Load() != tt.gets) {
				t.Errorf("IMDS token PUTs %d, GETs %d, want %d and %d", f.puts.Load(), f.gets.Load(), tt.puts, tt.gets)
			}
		})
	}
}

func TestResolveCanceled(t *testing.T) {
	t.Parallel()
	f := &imds{hang: true}
	srv := httptest.NewServer(f)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Resolve(ctx, Options{IMDSURL: srv.URL, HTTPClient: srv.Client(), InContainer: true})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Resolve(canceled) error = %v, want context.Canceled", err)
	}
}

func TestValid(t *testing.T) {
	t.Parallel()
	label63 := strings.Repeat("a", 63)
	max := strings.Repeat(label63+".", 3) + strings.Repeat("b", 63) // 255 bytes
	tests := []struct {
		name string
		ok   bool
	}{
		{instanceID, true},
		{"ip-10-1-2-3.eu-west-1.compute.internal", true},
		{"Web01", true},
		{"1", true},
		{label63, true},
		{max, true},
		{"", false},
		{max + "c", false},
		{label63 + "a", false},
		{"under_score", false},
		{"with space", false},
		{"-leading", false},
		{"trailing-", false},
		{"trailing.dot.", false},
		{"double..dot", false},
		{"localhost", false},
		{"LOCALHOST.localdomain", false},
		{"héllo", false},
		{"nul\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := Valid(tt.name); (err == nil) != tt.ok {
				t.Errorf("Valid(%q) = %v, want ok %v", tt.name, err, tt.ok)
			}
		})
	}
	if len(max) != 255 {
		t.Fatalf("len(max) = %d, want 255", len(max))
	}
}

func TestIsEC2Default(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"ip-10-0-0-1": true, "IP-10-0-0-1.ec2.internal": true, "domU-12-31": true, "domu": true,
		"i-0abc": false, "ipa-server": false, "web": false, "": false,
	} {
		if got := IsEC2Default(name); got != want {
			t.Errorf("IsEC2Default(%q) = %v, want %v", name, got, want)
		}
	}
}
