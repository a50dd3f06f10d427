package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/whippet-agent/whippet/bpf"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/passwd"
	"github.com/whippet-agent/whippet/pkg/collect/proc"
	"github.com/whippet-agent/whippet/pkg/config"
	"github.com/whippet-agent/whippet/pkg/status"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// usageError is a bad command line: exit status 2, like the flag package.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage: whippet [command] [flags]

commands:
  run         collect on the metrics and process schedules and ship (default);
              without DD_API_KEY or a DogStatsD target, print each cycle to stdout
  check       collect one cycle and print host figures, containers and processes
  status      ask the running agent for its state (exit 1 when it reports a problem)
  metrics     print the metric reference (--markdown)
  decode      print the msgpack records of a spool record or an --output=msgpack stream
  version     print the version

Run 'whippet <command> -h' for the command's flags.
`

// run is the whole binary, testable in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runAgent(ctx, args, stdout, stderr)
	case "check":
		return runCheck(ctx, args, stdout, stderr)
	case "status":
		return runStatus(ctx, args, stdout, stderr)
	case "metrics":
		return runMetrics(args, stdout, stderr)
	case "decode":
		return runDecode(args, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "whippet %s\n", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// hostFlags are the flags that locate the host, shared by every command.
type hostFlags struct {
	root, proc, sys, etc string
	maxHeld              int
	logLevel             string
	procEvents           string
	sampler              string
	eventPoll            time.Duration // the eBPF ring's drain interval; 0: bpf.DefaultPollInterval
}

func (h *hostFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.root, "root", "", "observe the host whose filesystems are under `DIR` (e.g. testdata/fakehost/v1)")
	fs.StringVar(&h.proc, "proc", "", "proc mount `DIR` (default: $HOST_PROC, /host/proc if present, /proc)")
	fs.StringVar(&h.sys, "sys", "", "sysfs mount `DIR` (default: $HOST_SYS, /host/sys if present, /sys)")
	fs.StringVar(&h.etc, "etc", "", "`DIR` holding passwd (default: $HOST_ETC, /etc)")
	fs.IntVar(&h.maxHeld, "max-held-fds", proc.DefaultMaxHeld, "cap on /proc descriptors kept open across cycles (-1: none)")
	fs.StringVar(&h.logLevel, "log-level", envOr("DD_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	fs.StringVar(&h.sampler, "process-sampler", "auto", "how processes are sampled each cycle: auto (the BPF task iterator when it loads, else /proc), iter, proc; proc with -root")
	fs.StringVar(&h.procEvents, "process-events", "auto", "process discovery: auto (eBPF, then netlink, then poll), ebpf, tp_btf, raw_tracepoint, tracepoint, netlink, poll; poll by default with -root (the kernel's events are not the fake host's)")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func (h *hostFlags) hostRoot() (hostfs.Root, error) {
	if h.root != "" {
		if !hostfs.DirExists(h.root) {
			return hostfs.Root{}, usageError{fmt.Sprintf("-root %s: not a directory", h.root)}
		}
		return hostfs.At(h.root), nil
	}
	r, err := hostfs.Detect(os.Getenv, hostfs.DirExists)
	if err != nil {
		return hostfs.Root{}, err
	}
	if h.proc != "" {
		r = r.WithProc(h.proc)
	}
	if h.sys != "" {
		r = r.WithCgroup(h.sys + "/fs/cgroup")
	}
	if h.etc != "" {
		r = r.WithEtc(h.etc)
	}
	return r, nil
}

func (h *hostFlags) logger(stderr io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(h.logLevel)); err != nil {
		return nil, usageError{fmt.Sprintf("-log-level %q: want debug, info, warn or error", h.logLevel)}
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})), nil
}

// agent is a collector and the event sources feeding it.
type agent struct {
	root    hostfs.Root
	coll    *collect.Collector
	sources *containerSources // nil without a Docker socket
	events  *processEvents    // nil when polling /proc
	tasks   *bpf.TaskIter     // nil when sampling /proc
}

func (a *agent) close() {
	a.events.stop()
	a.coll.Close()
	a.sources.stop()
	if a.tasks != nil {
		a.tasks.Close()
	}
}

// newAgent builds the collector for the host the flags name and starts the
// container sources.
func (h *hostFlags) newAgent(ctx context.Context, log *slog.Logger) (*agent, error) {
	root, err := h.hostRoot()
	if err != nil {
		return nil, err
	}
	if h.maxHeld != 0 && h.maxHeld > 0 {
		if lim, err := proc.RaiseNoFileLimit(); err != nil {
			log.Warn("cannot raise the open-file limit", "err", err)
		} else if uint64(h.maxHeld)+256 > lim {
			h.maxHeld = int(lim) - 256
			log.Info("held descriptors capped by the open-file limit", "max_held_fds", h.maxHeld)
		}
	}
	users, err := passwd.New(root)
	if err != nil {
		log.Warn("user names unavailable: uids shown as numbers", "err", err)
	}
	a := &agent{root: root, sources: startContainers(ctx, root, log)}
	opts := collect.Options{
		Proc:  proc.Options{MaxHeld: h.maxHeld},
		Users: users,
		Log:   log,
	}
	if a.sources != nil {
		opts.Containers = a.sources.watcher
	}
	if a.events, err = startProcessEvents(ctx, h.procEvents, h.eventPoll, log); err != nil {
		a.sources.stop()
		return nil, usageError{err.Error()}
	}
	if a.events != nil {
		opts.Events, opts.EventsLost, opts.EventMode = a.events.feed, a.events.src.Lost, a.events.src.Mode()
	}
	switch h.sampler {
	case "proc":
	case "auto", "iter":
		it, err := bpf.OpenTaskIter()
		if err != nil {
			if h.sampler == "iter" {
				a.events.stop()
				a.sources.stop()
				return nil, fmt.Errorf("-process-sampler iter: %w", err)
			}
			log.Info("BPF task iterator unavailable: sampling /proc", "reason", err)
			break
		}
		a.tasks, opts.Tasks = it, it
		log.Info("process sampler", "mode", "task-iterator")
	default:
		a.events.stop()
		a.sources.stop()
		return nil, usageError{fmt.Sprintf("-process-sampler %q: want auto, iter or proc", h.sampler)}
	}
	if a.coll, err = collect.New(root, opts); err != nil {
		a.events.stop()
		a.sources.stop()
		if a.tasks != nil {
			a.tasks.Close()
		}
		return nil, err
	}
	return a, nil
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	// A fake host (-root) gets no kernel process events unless asked for.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["root"] && !set["process-events"] {
		if err := fs.Set("process-events", "poll"); err != nil {
			return usageError{err.Error()}
		}
	}
	if set["root"] && !set["process-sampler"] {
		if err := fs.Set("process-sampler", "proc"); err != nil {
			return usageError{err.Error()}
		}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var hf hostFlags
	hf.register(fs)
	sample := fs.Duration("sample", time.Second, "time between the two samples that CPU rates need (0: one sample, no rates)")
	top := fs.Int("top", 0, "print only the `N` processes using most CPU (0: all)")
	asJSON := fs.Bool("json", false, "print the cycle as JSON: the metric series (v2 API shape) and the process list, as whippet would send them")
	setFlags := config.RegisterFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log, err := hf.logger(stderr)
	if err != nil {
		return err
	}
	a, err := hf.newAgent(ctx, log)
	if err != nil {
		return err
	}
	defer a.close()
	if a.sources != nil && !a.sources.waitSynced(ctx, 5*time.Second) {
		log.Warn("Docker daemon did not answer in time: no containers listed", "socket", a.root.DockerSocket())
	}
	c, root := a.coll, a.root
	var jc *jsonCheck
	var extras collect.Extras
	if *asJSON {
		extras = collect.ExtraFDs | collect.ExtraFilesystems
		if jc, err = newJSONCheck(ctx, a, setFlags(), log); err != nil {
			return err
		}
	}
	snap, err := c.CollectWith(time.Now(), extras)
	if err != nil {
		return err
	}
	if *sample > 0 {
		if jc != nil {
			jc.derive(snap) // primes the rates
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(*sample):
		}
		if snap, err = c.CollectWith(time.Now(), extras); err != nil {
			return err
		}
	}
	if jc != nil {
		jc.derive(snap)
		return jc.write(stdout)
	}
	return printCycle(stdout, root, snap, *top)
}

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var hf hostFlags
	hf.register(fs)
	setFlags := config.RegisterFlags(fs)
	cycles := fs.Int("cycles", 0, "stop after `N` cycles (0: run until stopped)")
	printCfg := fs.Bool("print-config", false, "print every setting with its value and source (secrets redacted) and exit")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	src := config.Sources{Env: os.Environ(), Flags: setFlags()}
	cfg, err := config.Load(src)
	if err != nil {
		return fmt.Errorf("invalid configuration (whippet does not start):\n%w", err)
	}
	if *printCfg {
		return cfg.Print(stdout, false)
	}
	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel)
	log := newLogger(stderr, cfg.LogFormatJSON, level)
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w)
	}
	hf.eventPoll = eventPoll(cfg.MetricsInterval, cfg.ProcessInterval)
	a, err := hf.newAgent(ctx, log)
	if err != nil {
		return err
	}
	defer a.close()
	host := resolveHost(ctx, cfg, a, log)
	out, err := newSink(ctx, cfg, host.name, stdout, log)
	if err != nil {
		return err
	}
	d := &daemon{cfg: cfg, log: log, a: a, host: host, out: out, started: time.Now(), errs: map[string]uint64{}, apiKey: "none"}
	if err := d.build(); err != nil {
		out.Close(ctx)
		return err
	}
	if cfg.StatusAddr != "" {
		srv, err := status.Listen(status.Options{Addr: cfg.StatusAddr, AllowRemote: cfg.StatusAllowRemote, Pprof: cfg.Pprof, Report: d.report, Log: log})
		if err != nil {
			out.Close(ctx)
			return err
		}
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			if err := srv.Serve(sctx); err != nil {
				log.Error("status server stopped", "err", err)
			}
		}()
	}
	hupSig := make(chan os.Signal, 1)
	signal.Notify(hupSig, syscall.SIGHUP)
	defer signal.Stop(hupSig)
	hup := make(chan struct{}, 1)
	go func() {
		for range hupSig {
			select {
			case hup <- struct{}{}:
			default:
			}
		}
	}()
	// Loading the eBPF programs parsed the kernel's BTF (tens of MiB, garbage
	// now): hand it back to the kernel rather than keep it resident until the
	// scavenger gets to it.
	debug.FreeOSMemory()
	log.Info("whippet started", "version", version, "host", host.name, "host_source", host.source,
		"root", a.root.String(), "output", cfg.Output, "metrics_interval", cfg.MetricsInterval,
		"process_interval", cfg.ProcessInterval, "processes", cfg.ProcessEnabled)
	err = d.loop(ctx, *cycles, hup, func() { d.reload(src, level) })
	// ECS stops a task with SIGTERM and kills it 30 s later: flush within the
	// deadline; what is not delivered by then stays in the spool.
	fctx, cancel := context.WithTimeout(context.Background(), cfg.FlushDeadline)
	defer cancel()
	if cerr := out.Close(fctx); cerr != nil {
		log.Warn("flush at stop incomplete: the rest is spooled", "err", cerr)
	}
	log.Info("whippet stopped")
	return err
}

// newLogger is the agent's logger: text, or JSON for log pipelines
// (DD_LOG_FORMAT_JSON), at a level SIGHUP can change.
func newLogger(w io.Writer, json bool, level slog.Leveler) *slog.Logger {
	o := &slog.HandlerOptions{Level: level}
	if json {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
