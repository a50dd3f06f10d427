//go:build linux

package collect

// idRef is an interned container id and how many tracked processes use it.
type idRef struct {
	s    string
	refs int
}

// internID returns a string equal to id, shared by every process of a container
// (ids must not be copied per process), and counts the reference; releaseID drops
// it, so the pool holds only the ids of containers with live processes.
func (c *Collector) internID(id []byte) string {
	if r, ok := c.ids[string(id)]; ok {
		r.refs++
		return r.s
	}
	if c.ids == nil {
		c.ids = make(map[string]*idRef)
	}
	r := &idRef{s: string(id), refs: 1}
	c.ids[r.s] = r
	return r.s
}

func (c *Collector) releaseID(id string) {
	if id == "" {
		return
	}
	if r, ok := c.ids[id]; ok {
		if r.refs--; r.refs <= 0 {
			delete(c.ids, id)
		}
	}
}
