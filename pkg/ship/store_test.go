package ship

import (
	"errors"
	"testing"
	"time"
)

func TestHeader(t *testing.T) {
	t.Parallel()
	ts := time.UnixMilli(1764158400123)
	b := appendHeader(nil, KindProcesses, ts)
	b = append(b, "body"...)
	k, got, body, err := parseHeader(b)
	if err != nil || k != KindProcesses || !got.Equal(ts) || string(body) != "body" {
		t.Fatalf("parseHeader(appendHeader(...)) = %v, %v, %q, %v", k, got, body, err)
	}
	bad := [][]byte{nil, b[:headerLen-1], append([]byte{2}, b[1:]...), append([]byte{1, 9}, b[2:]...)}
	for _, in := range bad {
		if _, _, _, err := parseHeader(in); !errors.Is(err, ErrCorrupt) {
			t.Errorf("parseHeader(%q) error = %v, want ErrCorrupt", in, err)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(appendHeader(nil, KindSeries, time.UnixMilli(0)))
	f.Add([]byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, ts, body, err := parseHeader(b)
		if err != nil {
			return
		}
		again := append(appendHeader(nil, k, ts), body...)
		if string(again) != string(b) {
			t.Errorf("parseHeader(%q) does not round-trip: %q", b, again)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "20", "-1", "Wed, 26 Nov 2026 12:01:00 GMT", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseRetryAfter(s, now); d < 0 || d > MaxRetryAfter {
			t.Errorf("parseRetryAfter(%q) = %v, want within [0, %v]", s, d, MaxRetryAfter)
		}
	})
}

func TestMark(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ split, done int }{{0, 0}, {0, 7}, {1, 0}, {1, 1 << 20}} {
		if s, d := unpackMark(packMark(tt.split, tt.done)); s != tt.split || d != tt.done {
			t.Errorf("unpackMark(packMark(%d, %d)) = %d, %d", tt.split, tt.done, s, d)
		}
	}
}

// countStore keeps nothing: Submit's own cost, without the store's.
type countStore struct{ next uint64 }

func (c *countStore) Append([]byte) (uint64, error) { c.next++; return c.next, nil }
func (c *countStore) IDs(dst []uint64) []uint64     { return dst }
func (c *countStore) Read(id uint64, buf []byte) ([]byte, uint32, error) {
	return buf, 0, ErrNotFound
}
func (c *countStore) Mark(uint64, uint32) error { return nil }
func (c *countStore) Ack(uint64) error          { return nil }

func TestSubmitAllocs(t *testing.T) {
	clock := newFakeClock() // never settled: the sender stays asleep
	_, srv := newIntake(t, nil)
	s, err := New(Config{Store: &countStore{}, Encoder: testEncoder{}, Client: testClient(t, srv.URL), Clock: clock, QueueLen: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = clock.closeShipper(s, cancelled()) }()
	rec := make([]byte, 4096)
	now := clock.Now()
	for range 100 { // fill the queue and grow the buffers
		_ = s.Submit(KindSeries, now, rec)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = s.Submit(KindSeries, now, rec) }); n != 0 {
		t.Errorf("Submit allocates %v times per record, want 0", n)
	}
}
