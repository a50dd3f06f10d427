package container

// Change is one update of the set of containers: a container appeared or changed
// (Meta is its new state; the previous Meta is never modified), or it was removed.
type Change struct {
	ID      string
	Meta    *Meta // nil when Removed
	Removed bool
}

// Source reports container changes to a consumer that polls once per cycle. A
// runtime watcher (sock.Watcher for Docker) implements it; the collector consumes
// it. Drain must not block: it hands over what accumulated since the last call.
type Source interface {
	// Drain calls fn for every change since the previous Drain, oldest first. When
	// the source had to resynchronise (stream lost, queue overflow) it reports a
	// Meta for every container it knows and a removal for every one that vanished,
	// so applying the changes in order always leads to the current set.
	Drain(fn func(Change))
}
