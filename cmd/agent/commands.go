package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/whippet-agent/whippet/pkg/config"
	"github.com/whippet-agent/whippet/pkg/encode/mpack"
	"github.com/whippet-agent/whippet/pkg/metrics"
	"github.com/whippet-agent/whippet/pkg/ship"
	"github.com/whippet-agent/whippet/pkg/spool"
	"github.com/whippet-agent/whippet/pkg/status"
)

// errProblem makes `whippet status` exit 1 after printing a report with problems.
var errProblem = errors.New("the agent reports problems")

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	setFlags := config.RegisterFlags(fs)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cfg, err := config.Load(config.Sources{Env: os.Environ(), Flags: setFlags()})
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if cfg.StatusAddr == "" {
		return errors.New("the status endpoint is off (DD_WHIPPET_STATUS_ADDR=off)")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := status.Fetch(ctx, cfg.StatusAddr)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else if err := status.Print(stdout, r); err != nil {
		return err
	}
	if len(r.Problems) > 0 {
		return errProblem
	}
	return nil
}

func runMetrics(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("markdown", true, "print the reference as Markdown tables (the only format)")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	return metrics.Markdown(stdout)
}

func runDecode(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: whippet decode FILE...  (spool records or an --output=msgpack stream; - for stdin)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError{"decode: no file"}
	}
	for _, name := range fs.Args() {
		if err := decodeFile(name, stdout); err != nil {
			return err
		}
	}
	return nil
}

// decodeFile prints the records of name: an --output=msgpack stream of frames,
// or one bare record.
func decodeFile(name string, w io.Writer) error {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if err := mpack.Print(w, b); err == nil {
		return nil
	}
	// A spool record file: the spool's header, the shipper's, then the record.
	if data, err := spool.Decode(b); err == nil {
		kind, ts, rec, err := ship.ParseRecord(data)
		if err != nil {
			return fmt.Errorf("decode %s: %w", name, err)
		}
		fmt.Fprintf(w, "# spool record: %s batch of %s\n", kind, ts.UTC().Format(time.RFC3339))
		return mpack.Print(w, rec)
	}
	r := mpack.NewReader(bytes.NewReader(b))
	for n := 0; ; n++ {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return fmt.Errorf("decode %s: neither a record nor a stream of framed records", name)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("decode %s: record %d: %w", name, n, err)
		}
		if err := mpack.Print(w, rec); err != nil {
			return fmt.Errorf("decode %s: record %d: %w", name, n, err)
		}
	}
}
