package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/config"
	"github.com/whippet-agent/whippet/pkg/encode"
)

// jsonCheck derives one cycle the way `run` does and prints it as JSON:
// `whippet check --json`.
type jsonCheck struct {
	d *daemon
}

func newJSONCheck(ctx context.Context, a *agent, flags map[string]string, log *slog.Logger) (*jsonCheck, error) {
	cfg, err := config.Load(config.Sources{Env: os.Environ(), Flags: flags})
	if err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	cfg.ProcessEnabled = true // check shows processes whatever the collection switch
	d := &daemon{cfg: cfg, log: log, a: a, host: resolveHost(ctx, cfg, a, log), errs: map[string]uint64{}}
	if err := d.build(); err != nil {
		return nil, err
	}
	return &jsonCheck{d: d}, nil
}

func (j *jsonCheck) derive(s *collect.Snapshot) {
	j.d.deriver.Derive(s, &j.d.mb)
	j.d.procs.Build(s, &j.d.pb)
}

// jsonProcess is a batch.Process for people: arguments as strings.
type jsonProcess struct {
	PID         int32    `json:"pid"`
	PPID        int32    `json:"ppid"`
	User        string   `json:"user"`
	State       string   `json:"state"`
	Args        []string `json:"args"`
	Comm        string   `json:"comm"`
	CPUPct      float32  `json:"cpu_pct"`
	RSS         uint64   `json:"rss"`
	Threads     int32    `json:"threads"`
	ContainerID string   `json:"container_id,omitempty"`
}

func (j *jsonCheck) write(w io.Writer) error {
	series := encode.AppendJSON(nil, &j.d.mb)
	procs := make([]jsonProcess, 0, len(j.d.pb.Procs))
	for i := range j.d.pb.Procs {
		p := &j.d.pb.Procs[i]
		var args []string
		for a := range bytes.SplitSeq(bytes.TrimSuffix(p.Args, []byte{0}), []byte{0}) {
			if len(a) > 0 {
				args = append(args, string(a))
			}
		}
		procs = append(procs, jsonProcess{PID: p.PID, PPID: p.PPID, User: p.User, State: string(p.State), Args: args,
			Comm: string(p.Comm), CPUPct: p.TotalPct, RSS: p.RSS, Threads: p.Threads, ContainerID: p.ContainerID})
	}
	out := struct {
		Host       string            `json:"host"`
		Series     json.RawMessage   `json:"series"`
		Processes  []jsonProcess     `json:"processes"`
		Containers []batch.Container `json:"containers"`
	}{j.d.host.name, series, procs, append([]batch.Container{}, j.d.pb.Containers...)}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(out)
}
