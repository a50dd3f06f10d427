// Package status serves the running agent's self-telemetry on a loopback port:
// /healthz for liveness probes, /status (the JSON behind `whippet status`) and
// /metrics in Prometheus text format, with pprof behind an option. It refuses
// non-loopback addresses unless explicitly allowed, because /status describes the
// host and pprof can stall the process.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Report is the agent's state as `whippet status` prints it. Nothing secret is
// in it: the API key only as its last four characters.
type Report struct {
	Version        string    `json:"version"`
	Started        time.Time `json:"started"`
	UptimeSeconds  float64   `json:"uptime_seconds"`
	Hostname       string    `json:"hostname"`
	HostnameSource string    `json:"hostname_source"`
	Output         string    `json:"output"`
	APIKey         string    `json:"api_key,omitempty"`   // redacted
	APIKeyState    string    `json:"api_key_state"`       // valid, invalid, unchecked, none
	Site           string    `json:"site,omitempty"`      //
	HostRoot       string    `json:"host_root"`           //
	ProcessEvents  string    `json:"process_events"`      // tp_btf, netlink, poll, …
	Sampler        string    `json:"process_sampler"`     // task-iterator or proc
	EventsLost     uint64    `json:"process_events_lost"` //

	Containers int `json:"containers"`
	Processes  int `json:"processes"`

	Cycles        uint64  `json:"cycles"`
	LastCycleMs   float64 `json:"last_cycle_ms"`
	SlowCycles    uint64  `json:"slow_cycles"`    // cycles longer than the shortest interval
	SkippedTicks  uint64  `json:"skipped_ticks"`  // ticks missed because a cycle overran
	Panics        uint64  `json:"panics"`         // recovered, per stage in Errors
	MetricsPoints int     `json:"metrics_points"` // in the last metrics batch

	Endpoints []Endpoint `json:"endpoints,omitempty"`
	Queue     int        `json:"queue"` // records waiting for delivery (written ahead to the spool)
	Spool     Spool      `json:"spool"`

	Drops  map[string]uint64 `json:"drops"`  // by reason
	Errors map[string]uint64 `json:"errors"` // by collector or stage

	Self Self `json:"self"`

	Problems []string `json:"problems,omitempty"` // non-empty: `whippet status` exits 1
}

// Endpoint is one intake's delivery state.
type Endpoint struct {
	Name       string    `json:"name"`
	URL        string    `json:"url"`
	LastFlush  time.Time `json:"last_flush,omitzero"`
	LastStatus int       `json:"last_status"`
	LastError  string    `json:"last_error,omitempty"`
	Sent       uint64    `json:"payloads_sent"`
	Failed     uint64    `json:"payloads_failed"`
	Breaker    string    `json:"breaker"` // closed, open, half-open
}

// Spool is the disk spool's size.
type Spool struct {
	Dir     string `json:"dir,omitempty"`
	Records int    `json:"records"`
	Bytes   int64  `json:"bytes"`
	Evicted uint64 `json:"evicted"`
	Corrupt uint64 `json:"corrupt"`
}

// Self is the agent's own cost.
type Self struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	RSSBytes   uint64  `json:"rss_bytes"`
	Goroutines int     `json:"goroutines"`
	OpenFDs    int     `json:"open_fds"`
}

// Options configure a Server.
type Options struct {
	Addr        string // host:port; port 0 picks one
	AllowRemote bool   // permit a non-loopback Addr
	Pprof       bool   // serve /debug/pprof/
	Report      func() Report
	Log         *slog.Logger
}

// Server is the status HTTP server.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	opts Options
}

// ErrNotLoopback is returned for a non-loopback address without AllowRemote.
var ErrNotLoopback = errors.New("status address is not loopback (allow it explicitly to expose status beyond the host)")

// Listen binds the status address.
func Listen(o Options) (*Server, error) {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("status address %q: %w", o.Addr, err)
	}
	if !o.AllowRemote && !isLoopback(host) {
		return nil, fmt.Errorf("status address %q: %w", o.Addr, ErrNotLoopback)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("status listen: %w", err)
	}
	s := &Server{ln: ln, opts: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /status", s.status)
	mux.HandleFunc("GET /metrics", s.metrics)
	if o.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Addr is the bound address (with the real port when Options.Addr had port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve answers requests until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.srv.Shutdown(sctx)
	}()
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("status server: %w", err)
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	r := s.opts.Report()
	if len(r.Problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, strings.Join(r.Problems, "\n"))
		return
	}
	fmt.Fprintln(w, "ok")
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s.opts.Report()); err != nil {
		s.opts.Log.Debug("status reply", "err", err)
	}
}

func (s *Server) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	if err := WriteMetrics(w, s.opts.Report()); err != nil {
		s.opts.Log.Debug("metrics reply", "err", err)
	}
}

// WriteMetrics renders r in the Prometheus text exposition format.
func WriteMetrics(w io.Writer, r Report) error {
	p := promWriter{w: w}
	p.metric("whippet_up", "gauge", "1 while the agent runs.", 1)
	p.metric("whippet_uptime_seconds", "gauge", "Seconds since the agent started.", r.UptimeSeconds)
	p.metric("whippet_cycles_total", "counter", "Collection cycles run.", float64(r.Cycles))
	p.metric("whippet_cycle_duration_seconds", "gauge", "Duration of the last collection cycle.", r.LastCycleMs/1000)
	p.metric("whippet_slow_cycles_total", "counter", "Cycles longer than the shortest interval.", float64(r.SlowCycles))
	p.metric("whippet_skipped_ticks_total", "counter", "Ticks missed because a cycle overran.", float64(r.SkippedTicks))
	p.metric("whippet_panics_total", "counter", "Panics recovered in a collection or shipping stage.", float64(r.Panics))
	p.metric("whippet_containers", "gauge", "Containers tracked.", float64(r.Containers))
	p.metric("whippet_processes", "gauge", "Processes tracked.", float64(r.Processes))
	p.metric("whippet_metrics_points", "gauge", "Points in the last metrics batch.", float64(r.MetricsPoints))
	p.metric("whippet_process_events_lost_total", "counter", "Process events the kernel source lost.", float64(r.EventsLost))
	p.labeled("whippet_process_event_mode", "gauge", "The process event source (1 for the active one).", "mode", map[string]float64{r.ProcessEvents: 1})
	p.labeled("whippet_process_sampler", "gauge", "The process sampler (1 for the active one).", "sampler", map[string]float64{r.Sampler: 1})
	p.metric("whippet_queue_records", "gauge", "Records waiting for delivery.", float64(r.Queue))
	p.metric("whippet_spool_records", "gauge", "Records in the disk spool.", float64(r.Spool.Records))
	p.metric("whippet_spool_bytes", "gauge", "Bytes in the disk spool.", float64(r.Spool.Bytes))
	p.metric("whippet_spool_evicted_total", "counter", "Spool records evicted at the size cap.", float64(r.Spool.Evicted))
	p.metric("whippet_spool_corrupt_total", "counter", "Spool records skipped as corrupt.", float64(r.Spool.Corrupt))
	p.labeled("whippet_drops_total", "counter", "Data dropped, by reason.", "reason", toFloat(r.Drops))
	p.labeled("whippet_errors_total", "counter", "Errors, by collector or stage.", "stage", toFloat(r.Errors))
	sent, failed := map[string]float64{}, map[string]float64{}
	for _, e := range r.Endpoints {
		sent[e.Name], failed[e.Name] = float64(e.Sent), float64(e.Failed)
	}
	p.labeled("whippet_payloads_sent_total", "counter", "Payloads accepted by the intake.", "endpoint", sent)
	p.labeled("whippet_payloads_failed_total", "counter", "Payload attempts that failed.", "endpoint", failed)
	p.metric("whippet_cpu_seconds_total", "counter", "CPU time used by the agent.", r.Self.CPUSeconds)
	p.metric("whippet_resident_memory_bytes", "gauge", "Resident memory of the agent.", float64(r.Self.RSSBytes))
	p.metric("whippet_goroutines", "gauge", "Goroutines of the agent.", float64(r.Self.Goroutines))
	p.metric("whippet_open_fds", "gauge", "File descriptors the agent holds.", float64(r.Self.OpenFDs))
	return p.err
}

func toFloat(m map[string]uint64) map[string]float64 {
	f := make(map[string]float64, len(m))
	for k, v := range m {
		f[k] = float64(v)
	}
	return f
}

type promWriter struct {
	w   io.Writer
	err error
}

func (p *promWriter) header(name, typ, help string) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
}

func (p *promWriter) metric(name, typ, help string, v float64) {
	p.header(name, typ, help)
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, "%s %s\n", name, strconv.FormatFloat(v, 'g', -1, 64))
	}
}

func (p *promWriter) labeled(name, typ, help, label string, vals map[string]float64) {
	p.header(name, typ, help)
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if p.err == nil {
			_, p.err = fmt.Fprintf(p.w, "%s{%s=%q} %s\n", name, label, k, strconv.FormatFloat(vals[k], 'g', -1, 64))
		}
	}
}

// Fetch asks the agent listening on addr for its report.
func Fetch(ctx context.Context, addr string) (Report, error) {
	var r Report
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/status", nil)
	if err != nil {
		return r, fmt.Errorf("status request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, fmt.Errorf("no agent answering on %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("status from %s: %s", addr, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil {
		return r, fmt.Errorf("status from %s: decode: %w", addr, err)
	}
	return r, nil
}
