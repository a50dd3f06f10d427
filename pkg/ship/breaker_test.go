package ship

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n        int
		min, max time.Duration
	}{
		{1, time.Second, 2 * time.Second},
		{2, 2 * time.Second, 4 * time.Second},
		{3, 4 * time.Second, 8 * time.Second},
		{4, 8 * time.Second, 16 * time.Second},
		{5, 15 * time.Second, 30 * time.Second},
		{6, 15 * time.Second, 30 * time.Second},
		{100, 15 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		for _, r := range []float64{0, 0.5, 0.999999} {
			got := backoff(tt.n, func() float64 { return r })
			if got < tt.min || got > tt.max {
				t.Errorf("backoff(%d) with rand %v = %v, want in [%v, %v]", tt.n, r, got, tt.min, tt.max)
			}
		}
	}
}

func TestBreakerTransitions(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := breaker{rand: func() float64 { return 1 }} // jitter off: the full backoff
	check := func(step string, now time.Time, wantState breakerState, wantReady bool) {
		t.Helper()
		if b.state != wantState || b.ready(now) != wantReady {
			t.Fatalf("%s: state %v ready %v, want %v ready %v", step, b.state, b.ready(now), wantState, wantReady)
		}
	}
	check("new", t0, closed, true)
	if !b.begin(t0) {
		t.Fatal("closed breaker refused a request")
	}
	if d := b.failure(t0, 0); d != 2*time.Second {
		t.Fatalf("first failure backoff = %v, want 2s", d)
	}
	check("after failure", t0.Add(time.Second), open, false)
	if b.begin(t0.Add(time.Second)) {
		t.Fatal("open breaker let a request through before the backoff")
	}
	t2 := t0.Add(2 * time.Second)
	check("backoff over", t2, open, true)
	if !b.begin(t2) {
		t.Fatal("breaker refused the probe after the backoff")
	}
	check("probing", t2, halfOpen, false)
	if b.begin(t2) {
		t.Fatal("half-open breaker let a second request through")
	}
	if d := b.failure(t2, 0); d != 4*time.Second {
		t.Fatalf("second failure backoff = %v, want 4s", d)
	}
	check("probe failed", t2.Add(3*time.Second), open, false)
	t6 := t2.Add(4 * time.Second)
	if !b.begin(t6) {
		t.Fatal("breaker refused the second probe")
	}
	b.success()
	check("probe succeeded", t6, closed, true)
	if d := b.failure(t6, 0); d != 2*time.Second {
		t.Fatalf("failure after recovery backoff = %v, want 2s (errors reset)", d)
	}
	if d := b.failure(t6, 20*time.Second); d != 20*time.Second {
		t.Fatalf("Retry-After 20s: wait %v, want 20s", d)
	}
	if d := b.failure(t6, time.Hour); d != MaxRetryAfter {
		t.Fatalf("Retry-After 1h: wait %v, want the cap %v", d, MaxRetryAfter)
	}
	b.state = halfOpen
	b.abort()
	check("aborted probe", t6.Add(MaxRetryAfter), open, true)
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		out  Outcome
		want verdict
	}{
		{Outcome{Status: 200}, delivered},
		{Outcome{Status: 202}, delivered},
		{Outcome{Status: 400}, dropBadRequest},
		{Outcome{Status: 401}, retry},
		{Outcome{Status: 403}, dropForbidden},
		{Outcome{Status: 404}, retry},
		{Outcome{Status: 408}, retry},
		{Outcome{Status: 413}, tooLarge},
		{Outcome{Status: 429}, retry},
		{Outcome{Status: 500}, retry},
		{Outcome{Status: 503}, retry},
		{Outcome{Err: ErrTransport}, retry},
	}
	for _, tt := range tests {
		if got := classify(tt.out); got != tt.want {
			t.Errorf("classify(%+v) = %v, want %v", tt.out, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"20", 20 * time.Second},
		{" 5 ", 5 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"86400", MaxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(time.Hour).Format(http.TimeFormat), MaxRetryAfter},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
