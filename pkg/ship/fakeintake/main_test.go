package fakeintake

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{false, true} {
		name := "http"
		if useTLS {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := []string{"-addr", "127.0.0.1:0", "-api-key", key}
			if useTLS {
				args = append(args, "-tls")
			}
			pr, pw := io.Pipe()
			lines := make(chan string, 16)
			go func() {
				sc := bufio.NewScanner(pr)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, args, pw, io.Discard)
				pw.Close()
			}()

			first := <-lines
			url, ok := strings.CutPrefix(first, "fakeintake listening on ")
			if !ok || !strings.HasPrefix(url, name+"://127.0.0.1:") {
				t.Fatalf("first line = %q", first)
			}
			tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // self-signed, test only
			c := &http.Client{Transport: tr}
			for _, k := range []string{key, "bad"} {
				if _, err := do(t, c, http.MethodGet, url+RouteValidate, map[string]string{"DD-API-KEY": k}, nil); err != nil {
					t.Fatal(err)
				}
			}
			r, err := do(t, c, http.MethodPost, url+RouteSeriesV2, map[string]string{"DD-API-KEY": key, "Content-Type": ctProtobuf, "Content-Encoding": "zstd"}, compress(t, "zstd", seriesProto(t)))
			if err != nil || r.status != 202 {
				t.Fatalf("POST series = %d, %v", r.status, err)
			}
			tr.CloseIdleConnections()
			want := []string{
				" 200 GET /api/v1/validate - 0B",
				" 403 GET /api/v1/validate - 0B: API key missing or invalid",
				" 202 POST /api/v2/series zstd ",
			}
			for _, w := range want {
				line := <-lines
				if !strings.Contains(line, w) {
					t.Errorf("request line %q, want it to contain %q", line, w)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run = %v", err)
			}
			if last := <-lines; last != "fakeintake stopped: 3 points, 0 process messages, 0 garbage, 0 duplicate bodies" {
				t.Errorf("last line = %q", last)
			}
		})
	}
	t.Run("bad flag", func(t *testing.T) {
		t.Parallel()
		if err := run(context.Background(), []string{"-nope"}, io.Discard, io.Discard); err == nil {
			t.Errorf("run(-nope) = nil")
		}
		if err := run(context.Background(), []string{"extra"}, io.Discard, io.Discard); err == nil {
			t.Errorf("run(extra) = nil")
		}
		if err := Main([]string{"-addr", "256.0.0.1:1"}, io.Discard, io.Discard); err == nil {
			t.Errorf("Main(bad address) = nil")
		}
	})
}
