package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/pkg/ship"
)

// intake202 accepts everything, reading the body so connections are reused.
func intake202(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func shipClient(b *testing.B, url string) *ship.Client {
	b.Helper()
	ep, err := ship.ResolveEndpoints("", url, url)
	if err != nil {
		b.Fatal(err)
	}
	c, err := ship.NewClient(ep, ship.Options{APIKey: "0123456789abcdef0123456789abcdef", Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

// BenchmarkShipSend is one 16 KiB series payload posted to a local intake:
// the sender's per-payload cost (client and loopback server share the process,
// so allocs include the server's).
func BenchmarkShipSend(b *testing.B) {
	c := shipClient(b, intake202(b).URL)
	p := &ship.Payload{Kind: ship.KindSeries, Body: make([]byte, 16<<10), Header: http.Header{"Content-Encoding": {"zstd"}}}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(p.Body)))
	for b.Loop() {
		if out := c.Send(ctx, p, time.Time{}); out.Status != http.StatusAccepted {
			b.Fatalf("Send = %+v", out)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payloads/s")
}

// BenchmarkShipPipeline is Submit through delivery: store append, sender,
// encoder (one 16 KiB payload per record) and HTTP, with an in-memory store.
func BenchmarkShipPipeline(b *testing.B) {
	s, err := ship.New(ship.Config{Store: newBenchStore(), Encoder: onePayload{}, Client: shipClient(b, intake202(b).URL)})
	if err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, 16<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	n := uint64(0)
	for b.Loop() {
		if err := s.Submit(ship.KindSeries, time.Now(), rec); err != nil {
			b.Fatal(err)
		}
		n++
		for s.Stats().Completed < n { // one record in flight: latency-bound, like a 15 s cycle's last record
			time.Sleep(10 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payloads/s")
	if err := s.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
}

type onePayload struct{}

func (onePayload) Encode(kind ship.Kind, rec []byte, split int, emit func(*ship.Payload) error) error {
	p := ship.Payload{Kind: kind, Body: rec, Points: 1}
	return emit(&p)
}

// benchStore is an in-memory ship.Store.
type benchStore struct {
	mu   sync.Mutex
	next uint64
	data map[uint64][]byte
}

func newBenchStore() *benchStore { return &benchStore{data: map[uint64][]byte{}} }

func (s *benchStore) Append(b []byte) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	s.data[s.next] = slices.Clone(b)
	return s.next, nil
}

func (s *benchStore) IDs(dst []uint64) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := len(dst)
	for id := range s.data {
		dst = append(dst, id)
	}
	slices.Sort(dst[start:])
	return dst
}

func (s *benchStore) Read(id uint64, buf []byte) ([]byte, uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.data[id]
	if !ok {
		return buf, 0, fmt.Errorf("read %d: %w", id, ship.ErrNotFound)
	}
	return append(buf[:0], d...), 0, nil
}

func (s *benchStore) Mark(uint64, uint32) error { return nil }

func (s *benchStore) Ack(id uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data, id)
	return nil
}
