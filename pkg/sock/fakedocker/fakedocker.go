// Package fakedocker is a fake Docker Engine API for tests: it serves the
// recorded replies of a fixture directory (testdata/fakehost/v1/docker: _ping,
// version.json, containers.json, containers/<id>.json) on a unix socket, lets a
// test change the containers and push events, records every request, and
// injects faults.
//
// It behaves as a read-only socket proxy in front of a daemon would: only GET of
// /_ping, /version, /containers/json, /containers/{hex id}/json and /events
// (optionally under /v1.xx) is served; anything else is recorded and refused with
// 403. Versioned paths outside the advertised API range get the daemon's 400.
//
//	srv := fakedocker.Start(t, "../../testdata/fakehost/v1/docker")
//	c := sock.New(srv.Socket, sock.Options{})
//	srv.Add(fakedocker.Container{ID: id, Name: "web"})
//	srv.Emit(id, "start")
//	srv.Inject(fakedocker.Fault{Route: fakedocker.RouteInspect, Status: 500})
package fakedocker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Route names an allowed endpoint.
type Route string

// The routes a read-only proxy for whippet allows.
const (
	RoutePing    Route = "ping"
	RouteVersion Route = "version"
	RouteList    Route = "list"
	RouteInspect Route = "inspect"
	RouteEvents  Route = "events"
)

var allowed = regexp.MustCompile(`^/(?:v1\.[0-9]{1,2}/)?(_ping|version|containers/json|containers/[0-9a-f]+/json|events)$`)

// Allow classifies a request as a read-only proxy for whippet does: the route of
// an allowed GET, or "" for anything else (refused).
func Allow(method, path string) Route {
	if method != http.MethodGet {
		return ""
	}
	m := allowed.FindStringSubmatch(path)
	if m == nil {
		return ""
	}
	switch m[1] {
	case "_ping":
		return RoutePing
	case "version":
		return RouteVersion
	case "containers/json":
		return RouteList
	case "events":
		return RouteEvents
	default:
		return RouteInspect
	}
}

// Request is one request the server received.
type Request struct {
	Method string
	Path   string // without the query
	Query  string
	Route  Route // "" when refused
}

// Fault changes the replies of a route (every route when Route is "") for its
// next Times requests (0: until ClearFaults). The first matching fault applies.
type Fault struct {
	Route   Route
	Times   int
	Delay   time.Duration // wait before replying (or before the event for Cut)
	Status  int           // reply this HTTP status with a Docker error body
	Garbage bool          // reply 200 with a body that is not JSON
	BadHTTP bool          // reply bytes that are not HTTP at all
	// Cut, on RouteEvents, applies when an event is delivered instead of when the
	// stream is opened: the stream gets the first half of the event line and the
	// connection is closed.
	Cut bool
}

// Container is a container a test adds: what whippet reads of one.
type Container struct {
	ID           string // 64 hex
	Name         string // without "/"
	Image        string // default whippet-busybox:latest
	Labels       map[string]string
	State        string // default running
	Pid          int    // default 4242 when running
	CgroupParent string
}

// Server is a fake Docker daemon on a unix socket. Its methods are safe for
// concurrent use.
type Server struct {
	Socket string // the socket path, in a fresh temporary directory

	t   testing.TB
	dir string

	mu       sync.Mutex
	ln       *net.UnixListener
	srv      *http.Server
	apiMax   string
	apiMin   string
	pingHdr  http.Header
	version  map[string]any
	order    []string                  // container ids in list order
	list     map[string]map[string]any // id → list entry
	inspect  map[string]map[string]any // id → inspect reply
	vanish   map[string]bool           // listed once more, then removed
	cache    map[string][]byte         // encoded replies while nothing changes
	faults   []Fault
	reqs     []Request
	conns    int
	history  []event
	subs     map[chan event]struct{}
	stopping chan struct{}
}

type event struct {
	line []byte
	nano int64
}

// Start serves fixture (a recorded docker/ directory; "" for an empty daemon
// speaking API 1.41) until the test ends.
func Start(t testing.TB, fixture string) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "fakedocker") // short: a socket path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		t:       t,
		dir:     dir,
		Socket:  filepath.Join(dir, "docker.sock"),
		apiMax:  "1.41",
		apiMin:  "1.12",
		pingHdr: http.Header{},
		version: map[string]any{},
		list:    map[string]map[string]any{},
		inspect: map[string]map[string]any{},
		vanish:  map[string]bool{},
		cache:   map[string][]byte{},
		subs:    map[chan event]struct{}{},
	}
	if fixture != "" {
		if err := s.load(fixture); err != nil {
			os.RemoveAll(dir)
			t.Fatalf("fakedocker: %v", err)
		}
	}
	if err := s.listen(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("fakedocker: %v", err)
	}
	t.Cleanup(func() {
		s.Stop()
		os.RemoveAll(dir)
	})
	return s
}

func (s *Server) load(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "_ping"))
	if err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return fmt.Errorf("_ping: %w", err)
	}
	resp.Body.Close()
	s.pingHdr = resp.Header.Clone()
	for _, h := range []string{"Date", "Content-Length", "Content-Type"} {
		s.pingHdr.Del(h)
	}
	if v := resp.Header.Get("Api-Version"); v != "" {
		s.apiMax = v
	}
	if err := readJSON(filepath.Join(dir, "version.json"), &s.version); err != nil {
		return err
	}
	if v, ok := s.version["MinAPIVersion"].(string); ok {
		s.apiMin = v
	}
	var list []map[string]any
	if err := readJSON(filepath.Join(dir, "containers.json"), &list); err != nil {
		return err
	}
	for _, e := range list {
		id, _ := e["Id"].(string)
		var insp map[string]any
		if err := readJSON(filepath.Join(dir, "containers", id+".json"), &insp); err != nil {
			return err
		}
		s.order = append(s.order, id)
		s.list[id] = e
		s.inspect[id] = insp
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func (s *Server) listen() error {
	os.Remove(s.Socket)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.Socket, Net: "unix"})
	if err != nil {
		return err
	}
	ln.SetUnlinkOnClose(false) // Stop leaves the socket file: connection refused, like a dead daemon
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.mu.Lock()
				s.conns++
				s.mu.Unlock()
			}
		},
		ErrorLog: nil,
	}
	s.mu.Lock()
	s.ln, s.srv, s.stopping = ln, srv, make(chan struct{})
	s.mu.Unlock()
	go srv.Serve(ln)
	return nil
}

// Stop stops serving and closes every connection (event streams end with EOF);
// the socket file stays, so clients get "connection refused" until Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, stopping := s.srv, s.stopping
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	close(stopping)
	srv.Close()
}

// Restart serves again after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.listen(); err != nil {
		s.t.Fatalf("fakedocker: restart: %v", err)
	}
}

// SetAPI sets the API versions the daemon speaks (its _ping Api-Version, its
// /version ApiVersion and MinAPIVersion).
func (s *Server) SetAPI(max, min string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiMax, s.apiMin = max, min
}

// Inject adds a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Count is the number of requests received for route ("" counts refused ones).
func (s *Server) Count(route Route) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.reqs {
		if r.Route == route {
			n++
		}
	}
	return n
}

// Conns is the number of connections accepted so far.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// IDs returns the ids of the containers, in list order.
func (s *Server) IDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order...)
}

// Add adds (or replaces) a container. It sends no event: see Emit.
func (s *Server) Add(c Container) {
	if c.Image == "" {
		c.Image = "whippet-busybox:latest"
	}
	if c.State == "" {
		c.State = "running"
	}
	if c.Pid == 0 && c.State == "running" {
		c.Pid = 4242
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	labels := map[string]any{}
	for k, v := range c.Labels {
		labels[k] = v
	}
	imageID := "sha256:3416eb82401c0b95bbf2817c7a4ac937b9e2f5eacf73201c7ee5a99eaf498660"
	insp := map[string]any{
		"Id": c.ID, "Created": now, "Path": "sleep", "Args": []any{"100000"},
		"State": map[string]any{
			"Status": c.State, "Running": c.State == "running", "Paused": c.State == "paused",
			"Restarting": false, "OOMKilled": false, "Dead": false, "Pid": c.Pid, "ExitCode": 0, "Error": "",
			"StartedAt": now, "FinishedAt": "0001-01-01T00:00:00Z",
		},
		"Image": imageID, "Name": "/" + c.Name, "RestartCount": 0, "Driver": "overlay2",
		"HostConfig": map[string]any{"NetworkMode": "none", "CgroupParent": c.CgroupParent},
		"Config":     map[string]any{"Image": c.Image, "Labels": labels, "Env": []any{"PATH=/bin"}, "Cmd": []any{"sleep", "100000"}},
	}
	entry := map[string]any{
		"Id": c.ID, "Names": []any{"/" + c.Name}, "Image": c.Image, "ImageID": imageID,
		"Command": "sleep 100000", "Created": time.Now().Unix(), "Labels": labels,
		"State": c.State, "Status": "Up 1 second", "HostConfig": map[string]any{"NetworkMode": "none"},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.cache)
	if _, ok := s.list[c.ID]; !ok {
		s.order = append([]string{c.ID}, s.order...) // newest first, as Docker lists
	}
	s.list[c.ID], s.inspect[c.ID] = entry, insp
}

// Remove removes a container. It sends no event: see Emit.
func (s *Server) Remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(id)
}

func (s *Server) removeLocked(id string) {
	clear(s.cache)
	delete(s.list, id)
	delete(s.inspect, id)
	delete(s.vanish, id)
	for i, o := range s.order {
		if o == id {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
}

// Rename renames a container.
func (s *Server) Rename(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.cache)
	if insp := s.inspect[id]; insp != nil {
		insp["Name"] = "/" + name
		s.list[id]["Names"] = []any{"/" + name}
	}
}

// SetState sets a container's state ("running", "exited", "paused", …) and pid.
func (s *Server) SetState(id, state string, pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.cache)
	insp := s.inspect[id]
	if insp == nil {
		return
	}
	st, _ := insp["State"].(map[string]any)
	if st == nil {
		st = map[string]any{}
		insp["State"] = st
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	st["Status"], st["Pid"], st["Running"], st["Paused"] = state, pid, state == "running", state == "paused"
	if state == "running" {
		st["StartedAt"] = now
	} else if state == "exited" || state == "dead" {
		st["FinishedAt"] = now
	}
	s.list[id]["State"] = state
}

// VanishAfterList makes the next list still show the container, which is then
// removed: its inspect answers 404, as when it is removed between list and inspect.
func (s *Server) VanishAfterList(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vanish[id] = true
	clear(s.cache)
}

// Emit sends a container event (create, start, die, destroy, rename, …) about id
// to every open stream, with the container's current name, image and labels as
// attributes, and keeps it for replay to streams opened with since.
func (s *Server) Emit(id, action string) {
	now := time.Now()
	attrs := map[string]string{}
	s.mu.Lock()
	if insp := s.inspect[id]; insp != nil {
		if cfg, _ := insp["Config"].(map[string]any); cfg != nil {
			if l, _ := cfg["Labels"].(map[string]any); l != nil {
				for k, v := range l {
					attrs[k], _ = v.(string)
				}
			}
			attrs["image"], _ = cfg["Image"].(string)
		}
		name, _ := insp["Name"].(string)
		attrs["name"] = strings.TrimPrefix(name, "/")
	}
	s.mu.Unlock()
	if action == "die" {
		attrs["exitCode"] = "0"
	}
	line, _ := json.Marshal(map[string]any{
		"status": action, "id": id, "from": attrs["image"], "Type": "container", "Action": action,
		"Actor": map[string]any{"ID": id, "Attributes": attrs},
		"scope": "local", "time": now.Unix(), "timeNano": now.UnixNano(),
	})
	s.EmitRaw(line)
}

// EmitRaw sends one line (without its newline) to every open stream as is:
// recorded events, garbage, over-long lines.
func (s *Server) EmitRaw(line []byte) {
	ev := event{line: append(append([]byte(nil), line...), '\n'), nano: time.Now().UnixNano()}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history = append(s.history, ev)
	if len(s.history) > 256 { // moby keeps the last 256 events
		s.history = s.history[len(s.history)-256:]
	}
	for ch := range s.subs {
		select {
		case ch <- ev:
		default: // a subscriber that does not read loses events, as with moby
		}
	}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route := Allow(r.Method, r.URL.Path)
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Route: route})
	s.mu.Unlock()
	if route == "" {
		writeError(w, http.StatusForbidden, "fakedocker: "+r.Method+" "+r.URL.Path+" is not allowed by the read-only proxy")
		return
	}
	if msg := s.checkVersion(r.URL.Path); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	if f, ok := s.fault(route, false); ok {
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case f.Status != 0:
			writeError(w, f.Status, "fakedocker: injected fault")
			return
		case f.Garbage:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"Id": "garbage", [[[ not json`))
			return
		case f.BadHTTP:
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Write([]byte("SSH-2.0-OpenSSH_9.6 this is not HTTP\r\n\r\n"))
				conn.Close()
			}
			return
		}
	}
	switch route {
	case RoutePing:
		s.servePing(w)
	case RouteVersion:
		s.serveVersion(w)
	case RouteList:
		s.serveList(w, r)
	case RouteInspect:
		id := strings.TrimSuffix(r.URL.Path[strings.Index(r.URL.Path, "/containers/")+len("/containers/"):], "/json")
		s.serveInspect(w, id)
	case RouteEvents:
		s.serveEvents(w, r)
	}
}

// fault returns the first fault for route and uses it up; cut selects the Cut
// faults (applied per event) or the others.
func (s *Server) fault(route Route, cut bool) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Route != "" && f.Route != route) || f.Cut != cut {
			continue
		}
		if f.Times > 0 {
			if s.faults[i].Times--; s.faults[i].Times == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		return f, true
	}
	return Fault{}, false
}

func (s *Server) checkVersion(path string) string {
	v, rest, ok := strings.Cut(strings.TrimPrefix(path, "/v"), "/")
	if !ok || rest == "" || !strings.HasPrefix(path, "/v1.") {
		return "" // unversioned: the daemon's own version
	}
	s.mu.Lock()
	max, min := s.apiMax, s.apiMin
	s.mu.Unlock()
	switch {
	case versionLess(max, v):
		return "client version " + v + " is too new. Maximum supported API version is " + max
	case versionLess(v, min):
		return "client version " + v + " is too old. Minimum supported API version is " + min + ", please upgrade your client to a newer version"
	}
	return ""
}

func versionLess(a, b string) bool {
	pa, pb := parseVersion(a), parseVersion(b)
	return pa[0] < pb[0] || pa[0] == pb[0] && pa[1] < pb[1]
}

func parseVersion(v string) [2]int {
	maj, min, _ := strings.Cut(v, ".")
	a, _ := strconv.Atoi(maj)
	b, _ := strconv.Atoi(min)
	return [2]int{a, b}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (s *Server) servePing(w http.ResponseWriter) {
	s.mu.Lock()
	for k, v := range s.pingHdr {
		w.Header()[k] = v
	}
	w.Header().Set("Api-Version", s.apiMax)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("OK"))
}

func (s *Server) serveVersion(w http.ResponseWriter) {
	s.mu.Lock()
	v := maps.Clone(s.version)
	v["ApiVersion"], v["MinAPIVersion"] = s.apiMax, s.apiMin
	s.mu.Unlock()
	writeJSON(w, v)
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	all := r.URL.Query().Get("all")
	all1 := all == "1" || all == "true"
	key := "list:" + strconv.FormatBool(all1)
	s.mu.Lock()
	b, ok := s.cache[key]
	if !ok {
		out := make([]map[string]any, 0, len(s.order))
		var vanish []string
		for _, id := range s.order {
			e := s.list[id]
			if !all1 && e["State"] != "running" {
				continue
			}
			out = append(out, e)
			if s.vanish[id] {
				vanish = append(vanish, id)
			}
		}
		var err error
		if b, err = json.Marshal(out); err != nil {
			s.mu.Unlock()
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		b = append(b, '\n')
		for _, id := range vanish {
			s.removeLocked(id)
		}
		if len(vanish) == 0 {
			s.cache[key] = b
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (s *Server) serveInspect(w http.ResponseWriter, id string) {
	key := "inspect:" + id
	s.mu.Lock()
	b, ok := s.cache[key]
	insp := s.inspect[id]
	if !ok && insp != nil {
		var err error
		if b, err = json.Marshal(insp); err != nil {
			s.mu.Unlock()
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		b = append(b, '\n')
		s.cache[key] = b
	}
	s.mu.Unlock()
	if insp == nil {
		writeError(w, http.StatusNotFound, "No such container: "+id)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// serveEvents streams events as dockerd does: header flushed first, then one JSON
// object per line. since (Unix seconds, fraction allowed) replays history.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	var since int64 = -1
	if v := r.URL.Query().Get("since"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad since: "+v)
			return
		}
		since = int64(f * 1e9)
	}
	ch := make(chan event, 1024)
	s.mu.Lock()
	var replay []event
	if since >= 0 {
		for _, ev := range s.history {
			if ev.nano >= since {
				replay = append(replay, ev)
			}
		}
	}
	s.subs[ch] = struct{}{}
	stopping := s.stopping
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}()

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	send := func(ev event) bool {
		if f, ok := s.fault(RouteEvents, true); ok {
			if f.Delay > 0 {
				time.Sleep(f.Delay)
			}
			w.Write(ev.line[:len(ev.line)/2])
			rc.Flush()
			panic(http.ErrAbortHandler) // cut the connection mid-event
		}
		if _, err := w.Write(ev.line); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	for _, ev := range replay {
		if !send(ev) {
			return
		}
	}
	for {
		select {
		case ev := <-ch:
			if !send(ev) {
				return
			}
		case <-r.Context().Done():
			return
		case <-stopping:
			return
		}
	}
}
