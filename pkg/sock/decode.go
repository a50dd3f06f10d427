package sock

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/whippet-agent/whippet/pkg/container"
)

// The replies are decoded with encoding/json into structs that name only the
// fields whippet uses: the decoder skips the rest without building them. A hand
// scanner would save little here: the allocations left are the strings and label
// maps a Meta keeps, and inspect runs once per container event, not per cycle
// (BenchmarkDecodeInspect, bench/docker_test.go).

// Summary is one entry of GET /containers/json: enough to know which containers
// exist and to inspect each.
type Summary struct {
	ID    string
	Name  string // without the leading "/"
	Image string
	State string // created, running, paused, restarting, removing, exited, dead
}

type summaryJSON struct {
	ID    string   `json:"Id"`
	Names []string `json:"Names"`
	Image string   `json:"Image"`
	State string   `json:"State"`
}

// DecodeList parses the reply of GET /containers/json. It keeps nothing of b.
func DecodeList(b []byte) ([]Summary, error) {
	var raw []summaryJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("decode container list: %w", err)
	}
	out := make([]Summary, 0, len(raw))
	for i := range raw {
		r := &raw[i]
		if !validID(r.ID) {
			return nil, fmt.Errorf("decode container list: entry %d: bad container id %q", i, truncate(r.ID, 80))
		}
		out = append(out, Summary{ID: r.ID, Name: primaryName(r.Names), Image: r.Image, State: r.State})
	}
	return out, nil
}

// primaryName picks the container's own name among Names, which also lists the
// names other containers link it under ("/web/db"); the own name has no second "/".
func primaryName(names []string) string {
	for _, n := range names {
		if n = strings.TrimPrefix(n, "/"); n != "" && !strings.Contains(n, "/") {
			return n
		}
	}
	if len(names) > 0 {
		return strings.TrimPrefix(names[0], "/")
	}
	return ""
}

type inspectJSON struct {
	ID           string `json:"Id"`
	Name         string `json:"Name"`
	Image        string `json:"Image"`
	RestartCount int    `json:"RestartCount"`
	State        struct {
		Status     string     `json:"Status"`
		Pid        int        `json:"Pid"`
		OOMKilled  bool       `json:"OOMKilled"`
		StartedAt  dockerTime `json:"StartedAt"`
		FinishedAt dockerTime `json:"FinishedAt"`
	} `json:"State"`
	Config struct {
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	HostConfig struct {
		CgroupParent string `json:"CgroupParent"`
		NetworkMode  string `json:"NetworkMode"`
	} `json:"HostConfig"`
}

// DecodeInspect parses the reply of GET /containers/{id}/json into m, replacing
// every field it sets. It keeps nothing of b. m is not finished: the caller
// enriches it if it wants to, then calls m.Finish.
func DecodeInspect(b []byte, m *container.Meta) error {
	var raw inspectJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("decode container inspect: %w", err)
	}
	if !validID(raw.ID) {
		return fmt.Errorf("decode container inspect: bad container id %q", truncate(raw.ID, 80))
	}
	*m = container.Meta{
		ID:           raw.ID,
		Name:         strings.TrimPrefix(raw.Name, "/"),
		Image:        raw.Config.Image,
		ImageID:      raw.Image,
		Labels:       raw.Config.Labels,
		State:        raw.State.Status,
		Pid:          raw.State.Pid,
		StartedAt:    time.Time(raw.State.StartedAt),
		FinishedAt:   time.Time(raw.State.FinishedAt),
		RestartCount: raw.RestartCount,
		CgroupParent: raw.HostConfig.CgroupParent,
		OOMKilled:    raw.State.OOMKilled,
		NetworkMode:  raw.HostConfig.NetworkMode,
	}
	if m.Pid < 0 {
		m.Pid = 0
	}
	return nil
}

// dockerTime is a Docker RFC 3339 timestamp; "" and Go's zero time
// ("0001-01-01T00:00:00Z", what Docker reports for never) are the zero Time.
// It parses the JSON bytes in place (time.Time.UnmarshalJSON), without a string.
type dockerTime time.Time

func (t *dockerTime) UnmarshalJSON(b []byte) error {
	if string(b) == `""` || string(b) == "null" {
		*t = dockerTime{}
		return nil
	}
	var v time.Time
	if err := v.UnmarshalJSON(b); err != nil {
		return err
	}
	if v.Year() <= 1 {
		v = time.Time{}
	}
	*t = dockerTime(v)
	return nil
}

// Event is one container event of the /events stream.
type Event struct {
	Action string // create, start, die, … ("exec_start: sh" and the like lose the part after ':')
	ID     string // the container id
	Name   string // the container name after the event (the new name for rename)
	Time   time.Time
}

type eventJSON struct {
	Type   string `json:"Type"`
	Action string `json:"Action"`
	Status string `json:"status"` // API < 1.22 has only status/id
	ID     string `json:"id"`
	Actor  struct {
		ID         string `json:"ID"`
		Attributes struct {
			Name string `json:"name"`
		} `json:"Attributes"`
	} `json:"Actor"`
	Time     int64 `json:"time"`
	TimeNano int64 `json:"timeNano"`
}

// errNotContainer marks an event line about something else than a container;
// the stream filter asks for container events only, so it is skipped, not an error.
var errNotContainer = errors.New("not a container event")

// DecodeEvent parses one line of the /events stream into e. It keeps nothing of b.
func DecodeEvent(b []byte, e *Event) error {
	var raw eventJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("decode event: %w", err)
	}
	if raw.Type != "" && raw.Type != "container" {
		return errNotContainer
	}
	action := raw.Action
	if action == "" {
		action = raw.Status
	}
	if i := strings.IndexByte(action, ':'); i >= 0 {
		action = action[:i]
	}
	id := raw.Actor.ID
	if id == "" {
		id = raw.ID
	}
	if action == "" || !validID(id) {
		return fmt.Errorf("decode event: no action or container id in %q", truncate(string(b), 120))
	}
	var t time.Time
	switch {
	case raw.TimeNano > 0:
		t = time.Unix(0, raw.TimeNano)
	case raw.Time > 0:
		t = time.Unix(raw.Time, 0)
	}
	*e = Event{Action: action, ID: id, Name: raw.Actor.Attributes.Name, Time: t}
	return nil
}

// validID reports whether id looks like a Docker container id: 1 to 64 lower-case
// hex digits. Anything else is refused before it is put in a URL path, which also
// keeps whippet inside a socket proxy's containers/[0-9a-f]+/json rule.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// short is the 12-character form of an id, for errors and logs.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// apiVersion is a Docker Engine API version, "1.41".
type apiVersion struct{ major, minor int }

func parseAPIVersion(s string) (apiVersion, bool) {
	maj, min, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok {
		return apiVersion{}, false
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil || a < 0 || b < 0 {
		return apiVersion{}, false
	}
	return apiVersion{a, b}, true
}

func (v apiVersion) less(w apiVersion) bool {
	return v.major < w.major || v.major == w.major && v.minor < w.minor
}

func (v apiVersion) String() string { return strconv.Itoa(v.major) + "." + strconv.Itoa(v.minor) }
