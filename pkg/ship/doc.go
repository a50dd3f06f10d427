// Package ship delivers encoded records to the Datadog intake without losing
// them: every record is appended to a durable store before anything is sent, a
// single sender goroutine turns records into HTTP payloads through an injected
// Encoder, and per-record progress is persisted so a crash resends at most the
// one payload that was in flight.
//
// Outcomes are classified like the Datadog agent's forwarder (retry transport
// errors, 404, 408, 429 and 5xx; drop 400 and 403; split once on 413), with a
// circuit breaker per endpoint and jittered exponential backoff (2 s doubling,
// capped at 30 s). Unlike the agent it honours Retry-After on 429 and 503, and
// it replays a backlog oldest-first while interleaving fresh records, so the
// present is never starved by the past.
package ship
