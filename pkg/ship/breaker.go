package ship

import (
	"math/rand/v2"
	"net/http"
	"time"
)

// Backoff defaults: the agent's base and factor with a lower cap, so a
// recovered intake is probed again within 30 s (reliability.md §7).
const (
	BackoffBase = 2 * time.Second
	BackoffMax  = 30 * time.Second
)

// verdict is what to do with a payload after a request.
type verdict uint8

const (
	delivered      verdict = iota
	retry                  // transport error, 404, 408, 429, 5xx, any other >= 400
	dropBadRequest         // 400: the payload is malformed, resending cannot help
	dropForbidden          // 403: the key is invalid
	tooLarge               // 413: split finer once, then drop
)

// classify follows the agent's forwarder (transaction.go internalProcess),
// which retries every reply > 400 but 400, 403 and 413.
func classify(o Outcome) verdict {
	switch {
	case o.Err != nil:
		return retry
	case o.Status < 400:
		return delivered
	case o.Status == http.StatusBadRequest:
		return dropBadRequest
	case o.Status == http.StatusForbidden:
		return dropForbidden
	case o.Status == http.StatusRequestEntityTooLarge:
		return tooLarge
	}
	return retry
}

type breakerState uint8

const (
	closed breakerState = iota
	open
	halfOpen
)

func (s breakerState) String() string {
	return [...]string{"closed", "open", "half-open"}[s]
}

// breaker is one endpoint's circuit breaker: closed until a failure, then open
// for a jittered exponential backoff; after it, half-open lets exactly one
// probe through, whose success closes it and whose failure reopens it longer.
// It is used by the single sender goroutine and is not safe for concurrent use.
type breaker struct {
	state  breakerState
	errors int       // consecutive failures
	until  time.Time // end of the open period
	rand   func() float64
}

// ready reports whether a request could go now, without changing state.
func (b *breaker) ready(now time.Time) bool {
	switch b.state {
	case closed:
		return true
	case open:
		return !now.Before(b.until)
	}
	return false // half-open: the probe is in flight
}

// begin is called before a request; false means wait.
func (b *breaker) begin(now time.Time) bool {
	switch b.state {
	case closed:
		return true
	case open:
		if now.Before(b.until) {
			return false
		}
		b.state = halfOpen
		return true
	}
	return false
}

// success closes the breaker.
func (b *breaker) success() {
	b.state, b.errors = closed, 0
}

// failure opens the breaker for the next backoff, or for retryAfter when the
// intake asked for longer. It returns the wait.
func (b *breaker) failure(now time.Time, retryAfter time.Duration) time.Duration {
	b.errors++
	d := backoff(b.errors, b.rand)
	if retryAfter > d {
		d = min(retryAfter, MaxRetryAfter)
	}
	b.state, b.until = open, now.Add(d)
	return d
}

// backoff is base·2^(n-1) capped at BackoffMax, jittered uniformly in [d/2, d]
// so many agents recovering together do not probe in step.
func backoff(n int, rnd func() float64) time.Duration {
	d := BackoffMax
	if n < 16 {
		d = min(BackoffBase<<(n-1), BackoffMax)
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	return d/2 + time.Duration(rnd()*float64(d/2))
}

// abort undoes begin for a request cancelled by shutdown.
func (b *breaker) abort() {
	if b.state == halfOpen {
		b.state = open
	}
}
