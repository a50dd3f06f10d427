package fakeintake

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Main runs a fake intake on an address until SIGINT or SIGTERM, printing one
// line per request to stdout: `go run ./cmd/fakeintake -addr 127.0.0.1:8080`.
func Main(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdout, stderr)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakeintake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	key := fs.String("api-key", "", "the only DD-API-KEY accepted (empty: any non-empty key)")
	useTLS := fs.Bool("tls", false, "serve HTTPS with a self-signed certificate (clients must skip verification or trust it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("fakeintake: unexpected arguments %q", fs.Args())
	}

	var mu sync.Mutex // request lines come from many goroutines
	in := New(Options{
		APIKey: *key,
		Log:    slog.New(slog.NewTextHandler(stderr, nil)),
		OnRequest: func(r Request) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintln(stdout, summary(r))
		},
	})
	defer in.Close()

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("fakeintake: listen %s: %w", *addr, err)
	}
	s := httptest.NewUnstartedServer(in)
	s.Listener.Close()
	s.Listener = l
	s.Config.ErrorLog = slog.NewLogLogger(slog.NewTextHandler(stderr, nil).WithAttrs([]slog.Attr{slog.String("component", "http")}), slog.LevelWarn)
	if *useTLS {
		s.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		s.StartTLS()
	} else {
		s.Start()
	}
	mu.Lock()
	fmt.Fprintf(stdout, "fakeintake listening on %s\n", s.URL)
	mu.Unlock()

	<-ctx.Done()
	in.Close() // release black holes before the server waits for handlers
	s.CloseClientConnections()
	s.Close()
	st := in.Stats()
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(stdout, "fakeintake stopped: %d points, %d process messages, %d garbage, %d duplicate bodies\n",
		len(in.Points()), len(in.Processes()), st.Garbage, st.DuplicateBodies)
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// summary is the one-line account of a request that Main prints.
func summary(r Request) string {
	status := fmt.Sprint(r.Status)
	if r.Status == 0 {
		status = "---"
	}
	line := fmt.Sprintf("%s %s %s %s %s %dB", r.Time.Format("15:04:05.000"), status, r.Method, r.Path, orDash(r.Encoding), r.Bytes)
	if r.Decompressed > 0 {
		line += fmt.Sprintf(" (%dB decoded)", r.Decompressed)
	}
	switch {
	case r.Points > 0:
		line += fmt.Sprintf(" %d points", r.Points)
	case r.Status == http.StatusOK && r.Path == RouteCollector:
		line += fmt.Sprintf(" %d processes %d containers host=%s", r.Processes, r.Containers, r.Header.Get("X-Dd-Hostname"))
	}
	if r.Reason != "" {
		line += ": " + r.Reason
	}
	return line
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
