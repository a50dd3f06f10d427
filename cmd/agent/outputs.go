package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/config"
	"github.com/whippet-agent/whippet/pkg/encode"
	"github.com/whippet-agent/whippet/pkg/encode/mpack"
	"github.com/whippet-agent/whippet/pkg/ship"
	"github.com/whippet-agent/whippet/pkg/ship/statsd"
	"github.com/whippet-agent/whippet/pkg/spool"
	"github.com/whippet-agent/whippet/pkg/status"
)

// newSink builds the output the configuration asks for.
func newSink(ctx context.Context, cfg *config.Config, host string, stdout io.Writer, log *slog.Logger) (sink, error) {
	switch cfg.Output {
	case config.OutputIntake:
		return newIntakeSink(ctx, cfg, host, log)
	case config.OutputDogStatsD:
		s, err := statsd.New(cfg.DogStatsDURL, statsd.Options{Timestamps: true})
		if err != nil {
			return nil, fmt.Errorf("dogstatsd output: %w", err)
		}
		if cfg.ProcessEnabled {
			log.Warn(statsd.ProcessesUnsupported)
		}
		return &statsdSink{s: s}, nil
	case config.OutputJSON, config.OutputMsgpack, config.OutputStdout:
		return &printSink{w: bufio.NewWriterSize(stdout, 64<<10), mode: cfg.Output}, nil
	}
	return nil, fmt.Errorf("output %q: not supported", cfg.Output)
}

// intakeSink ships to Datadog through the write-ahead spool: each batch is one
// msgpack record, appended (fsync'ed) before anything is sent, so neither an
// intake outage nor a SIGKILL loses it.
type intakeSink struct {
	enc     mpack.Encoder
	m       *batch.Metrics   // the batch being submitted
	p       *batch.Processes // the batch being submitted
	appendM func([]byte) []byte
	appendP func([]byte) []byte
	client  *ship.Client
	shipper *ship.Shipper
	spool   *spool.Spool
	ep      ship.Endpoints
	dir     string
	log     *slog.Logger

	mu       sync.Mutex
	keyState string
}

func newIntakeSink(ctx context.Context, cfg *config.Config, host string, log *slog.Logger) (*intakeSink, error) {
	ep, err := ship.ResolveEndpoints(cfg.Site, cfg.DDURL, cfg.ProcessDDURL)
	if err != nil {
		return nil, err
	}
	client, err := ship.NewClient(ep, ship.Options{
		APIKey: cfg.APIKey, Version: version, SkipTLSVerify: cfg.SkipSSLValidation,
		ProxyHTTPS: cfg.ProxyHTTPS, Logger: log.With("component", "ship"),
	})
	if err != nil {
		return nil, err
	}
	sp, err := spool.Open(cfg.SpoolDir, spool.Options{MaxBytes: cfg.SpoolMaxBytes, Sync: true, Log: log.With("component", "spool")})
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	enc, err := newPayloadEncoder(host)
	if err != nil {
		sp.Close()
		client.Close()
		return nil, err
	}
	sh, err := ship.New(ship.Config{Store: sp, Encoder: enc, Client: client, Logger: log.With("component", "ship")})
	if err != nil {
		sp.Close()
		client.Close()
		return nil, err
	}
	s := &intakeSink{client: client, shipper: sh, spool: sp, ep: ep, dir: cfg.SpoolDir, log: log, keyState: "unchecked"}
	s.appendM = func(b []byte) []byte { return s.enc.AppendMetrics(b, s.m) }
	s.appendP = func(b []byte) []byte { return s.enc.AppendProcesses(b, s.p) }
	go s.validate(ctx)
	return s, nil
}

// validate checks the API key at start and every hour, as the agent does; an
// invalid key is one clear log line and a status problem, and collection and
// spooling go on (the key may be fixed by a secret rotation).
func (s *intakeSink) validate(ctx context.Context) {
	for {
		vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := s.client.Validate(vctx)
		cancel()
		state := "valid"
		switch {
		case err == nil:
		case errors.Is(err, ship.ErrInvalidKey):
			state = "invalid"
			s.log.Error("API key rejected by the intake: data is kept in the spool until the key is fixed", "err", err)
		default:
			state = "unchecked"
			s.log.Warn("API key not validated: intake unreachable", "err", err)
		}
		s.mu.Lock()
		s.keyState = state
		s.mu.Unlock()
		wait := time.Hour
		if state == "unchecked" {
			wait = time.Minute
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Metrics and Processes encode the record straight into the shipper's buffer
// (the append functions are bound once: no closure per cycle).
func (s *intakeSink) Metrics(m *batch.Metrics) error {
	s.m = m
	defer func() { s.m = nil }()
	return s.shipper.SubmitAppend(ship.KindSeries, time.Unix(m.Timestamp, 0), s.appendM)
}

func (s *intakeSink) Processes(p *batch.Processes) error {
	s.p = p
	defer func() { s.p = nil }()
	return s.shipper.SubmitAppend(ship.KindProcesses, time.UnixMilli(p.Timestamp), s.appendP)
}

func (s *intakeSink) Close(ctx context.Context) error {
	err := s.shipper.Close(ctx)
	s.client.Close()
	return errors.Join(err, s.spool.Close())
}

func (s *intakeSink) Report(r *status.Report) {
	s.mu.Lock()
	r.APIKeyState = s.keyState
	s.mu.Unlock()
	st := s.shipper.Stats()
	for _, k := range []ship.Kind{ship.KindSeries, ship.KindProcesses} {
		e := st.Endpoints[k]
		breaker := e.Breaker
		if breaker == "" {
			breaker = "closed"
		}
		r.Endpoints = append(r.Endpoints, status.Endpoint{
			Name: k.String(), URL: s.ep.URL(k), LastFlush: e.LastSuccess, LastStatus: e.LastStatus,
			LastError: e.LastError, Sent: e.Payloads, Failed: e.Failures, Breaker: breaker,
		})
	}
	for i, n := range st.Dropped {
		if n > 0 {
			r.Drops[ship.DropReason(i).String()] += n
		}
	}
	r.Errors["transport"] += st.TransportErrors
	r.Errors["http"] += st.HTTPErrors
	r.Errors["spool"] += st.StoreErrors
	ss := s.spool.Stats()
	r.Spool = status.Spool{Dir: s.dir, Records: ss.Records, Bytes: ss.Bytes, Evicted: ss.Evicted, Corrupt: ss.Corrupt}
	// Every record is written ahead to the spool and removed once delivered:
	// what waits for delivery is what the spool holds (this run's and earlier
	// runs' alike).
	r.Queue = ss.Records
}

// payloadEncoder turns spooled msgpack records into intake payloads. It is
// deterministic: the same record gives the same payloads, so progress marks
// survive a restart.
type payloadEncoder struct {
	host  string
	start time.Time
	dec   mpack.Decoder
	mb    batch.Metrics
	pb    batch.Processes
	zst   map[int]*encode.SeriesEncoder // by split level
	procs map[int]*encode.ProcessEncoder
	out   ship.Payload
}

func newPayloadEncoder(host string) (*payloadEncoder, error) {
	return &payloadEncoder{
		host: host, start: time.Now(),
		zst: map[int]*encode.SeriesEncoder{}, procs: map[int]*encode.ProcessEncoder{},
		out: ship.Payload{Header: http.Header{}},
	}, nil
}

func (e *payloadEncoder) series(split int) (*encode.SeriesEncoder, error) {
	if se := e.zst[split]; se != nil {
		return se, nil
	}
	se, err := encode.NewSeriesEncoder(encode.SeriesOptions{
		Compression:     encode.Zstd,
		MaxCompressed:   encode.MaxSeriesCompressed / split,
		MaxUncompressed: encode.AgentSeriesUncompressed / split,
		MaxPoints:       encode.MaxSeriesPoints / split,
	})
	if err != nil {
		return nil, err
	}
	e.zst[split] = se
	return se, nil
}

func (e *payloadEncoder) processes(split int) (*encode.ProcessEncoder, error) {
	if pe := e.procs[split]; pe != nil {
		return pe, nil
	}
	pe, err := encode.NewProcessEncoder(encode.ProcessOptions{MaxPerChunk: max(1, encode.MaxProcsPerChunk/split)})
	if err != nil {
		return nil, err
	}
	e.procs[split] = pe
	return pe, nil
}

func (e *payloadEncoder) Encode(kind ship.Kind, record []byte, split int, emit func(*ship.Payload) error) error {
	// split 0 is the intake's limits; after a 413 the shipper asks for split 1:
	// payloads half the size.
	div := max(split, 0) + 1
	if _, err := e.dec.Decode(record, &e.mb, &e.pb); err != nil {
		return fmt.Errorf("decode spooled record: %w", err)
	}
	e.out.Kind = kind
	switch kind {
	case ship.KindSeries:
		se, err := e.series(div)
		if err != nil {
			return err
		}
		return se.Encode(&e.mb, func(p *encode.Payload) error {
			clear(e.out.Header)
			e.out.Header.Set("Content-Type", p.ContentType)
			if p.ContentEncoding != "" {
				e.out.Header.Set("Content-Encoding", p.ContentEncoding)
			}
			e.out.Body, e.out.Points = p.Body, p.Points
			return emit(&e.out)
		})
	case ship.KindProcesses:
		pe, err := e.processes(div)
		if err != nil {
			return err
		}
		// The group id only has to be the same for the chunks of one run: the
		// run's timestamp keeps it stable across restarts.
		group := int32(e.pb.Timestamp / 1000 % (1 << 30))
		ts := time.UnixMilli(e.pb.Timestamp)
		return pe.Encode(&e.pb, group, func(p *encode.Payload) error {
			clear(e.out.Header)
			encode.ProcessHeaders(e.out.Header, e.pb.Host, version, p, ts, e.start)
			e.out.Body, e.out.Points = p.Body, p.Points
			return emit(&e.out)
		})
	}
	return fmt.Errorf("encode: unknown kind %d", kind)
}

// statsdSink sends metrics to a local DogStatsD; processes cannot go there.
type statsdSink struct {
	s *statsd.Sender
}

func (s *statsdSink) Metrics(m *batch.Metrics) error   { return s.s.Send(m) }
func (s *statsdSink) Processes(*batch.Processes) error { return nil }
func (s *statsdSink) Close(ctx context.Context) error  { s.s.Close(); return nil }
func (s *statsdSink) Report(r *status.Report) {
	st := s.s.Stats()
	r.Drops["dogstatsd_skipped"] += st.Skipped
	r.Drops["dogstatsd_packets_dropped"] += st.TotalPayloadsDropped
	r.Endpoints = append(r.Endpoints, status.Endpoint{Name: "dogstatsd", Sent: st.TotalPayloadsSent})
}

// printSink writes each batch to stdout: a readable table, v2 JSON series and
// JSON process lines, or msgpack records (the spool's format) for other
// consumers.
type printSink struct {
	w    *bufio.Writer
	mode config.Output
	enc  mpack.Encoder
	buf  []byte
}

func (s *printSink) Metrics(m *batch.Metrics) error {
	switch s.mode {
	case config.OutputJSON:
		s.buf = append(encode.AppendJSON(s.buf[:0], m), '\n')
		s.w.Write(s.buf)
	case config.OutputMsgpack:
		var off int
		s.buf, off = mpack.BeginFrame(s.buf[:0])
		s.buf = s.enc.AppendMetrics(s.buf, m)
		if err := mpack.EndFrame(s.buf, off); err != nil {
			return err
		}
		s.w.Write(s.buf)
	default:
		fmt.Fprintf(s.w, "# %s host=%s points=%d\n", time.Unix(m.Timestamp, 0).UTC().Format(time.RFC3339), m.Host, len(m.Points))
		for i := range m.Points {
			p := &m.Points[i]
			s.buf = append(s.buf[:0], p.Name...)
			s.buf = append(s.buf, ' ')
			s.buf = strconv.AppendFloat(s.buf, p.Value, 'g', 6, 64)
			s.buf = append(s.buf, ' ')
			s.buf = append(s.buf, p.Type.String()...)
			for j, t := range m.Tags(p) {
				if j == 0 {
					s.buf = append(s.buf, ' ')
				} else {
					s.buf = append(s.buf, ',')
				}
				s.buf = append(s.buf, t...)
			}
			s.buf = append(s.buf, '\n')
			s.w.Write(s.buf)
		}
	}
	return s.w.Flush()
}

func (s *printSink) Processes(p *batch.Processes) error {
	switch s.mode {
	case config.OutputMsgpack:
		var off int
		s.buf, off = mpack.BeginFrame(s.buf[:0])
		s.buf = s.enc.AppendProcesses(s.buf, p)
		if err := mpack.EndFrame(s.buf, off); err != nil {
			return err
		}
		s.w.Write(s.buf)
	default:
		if err := mpack.Print(s.w, s.enc.AppendProcesses(s.buf[:0], p)); err != nil {
			return err
		}
	}
	return s.w.Flush()
}

func (s *printSink) Close(context.Context) error { return s.w.Flush() }
func (s *printSink) Report(r *status.Report) {
	r.Endpoints = append(r.Endpoints, status.Endpoint{Name: "stdout"})
}
