package scrub

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// agent reproduces the agent's ScrubCommand on s.line and marks in s.mask the
// bytes it hides and in s.ins where it inserts a Mask for an empty value. It
// reports whether the agent would change the line.
//
// Each word whose fast check passes on the original lower-cased line (the agent
// lower-cases once, before the loop) runs a pass over the line the previous
// passes left, replacing non-overlapping leftmost-first matches as
// regexp.ReplaceAllString does. curOrig follows every byte back to s.line, so
// a later pass hiding an earlier Mask, or a quoted value spanning arguments,
// still maps to the right bytes.
func (s *Scrubber) agent(ascii bool) bool {
	changed := false
	started := false
	for i := range s.words {
		w := &s.words[i]
		if !fastCheck(s.line, s.low, w.fast, ascii) {
			continue
		}
		if !started {
			s.cur = append(s.cur[:0], s.line...)
			s.curOrig = s.curOrig[:0]
			for j := range s.line {
				s.curOrig = append(s.curOrig, int32(j))
			}
			started = true
		}
		if s.pass(w) {
			changed = true
		}
	}
	if !changed {
		return false
	}
	n := len(s.line)
	next := 0 // the next byte of s.line not yet accounted for
	for j := 0; j < len(s.cur); j++ {
		o := int(s.curOrig[j])
		if o >= 0 {
			for p := next; p < o; p++ {
				s.mask[p] = true
			}
			next = o + 1
			continue
		}
		k := j
		for k < len(s.cur) && s.curOrig[k] < 0 {
			k++
		}
		q := n
		if k < len(s.cur) {
			q = int(s.curOrig[k])
		}
		if q == next {
			s.ins[q] = true // an empty value: the agent adds a Mask, hides nothing
		}
		for p := next; p < q; p++ {
			s.mask[p] = true
		}
		next, j = q, k-1
	}
	for p := next; p < n; p++ {
		s.mask[p] = true
	}
	return true
}

// fastCheck is strings.Contains(strings.ToLower(line), fast). low is line
// folded: on an ASCII line that is ToLower but for '-' made '_', so a hit is
// checked against the line where fast has a '_'.
func fastCheck(line, low, fast []byte, ascii bool) bool {
	if ascii {
		for off := 0; ; {
			i := bytes.Index(low[off:], fast)
			if i < 0 {
				return false
			}
			i += off
			ok := true
			for j, c := range fast {
				if c == '_' && line[i+j] != '_' {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
			off = i + 1
		}
	}
	// ToLower maps runes: the Kelvin sign becomes 'k', 'İ' 'i'; invalid bytes
	// become U+FFFD. fast is ASCII, so it matches whole runes.
	for i := 0; i < len(line); {
		j, ok := i, true
		for _, c := range fast {
			if j >= len(line) {
				ok = false
				break
			}
			r, n := utf8.DecodeRune(line[j:])
			if unicode.ToLower(r) != rune(c) {
				ok = false
				break
			}
			j += n
		}
		if ok {
			return true
		}
		_, n := utf8.DecodeRune(line[i:])
		i += n
	}
	return false
}

// pass replaces every match of w in s.cur, leftmost first, into s.next and
// swaps the two. It reports whether it replaced anything.
func (s *Scrubber) pass(w *word) bool {
	line := s.cur
	n := len(line)
	s.next, s.nextOrig = s.next[:0], s.nextOrig[:0]
	copied, found := 0, false
	for i := 0; i < n; {
		if line[i] != ' ' {
			i++
			continue
		}
		// A match starts with " +" (all the spaces: a word cannot start with
		// one) or, failing that, with the last space and one or two dashes.
		k := i
		for k < n && line[k] == ' ' {
			k++
		}
		if k == n {
			break
		}
		v, end, ok := agentMatch(line, k, w)
		if !ok && line[k] == '-' {
			if k+1 < n && line[k+1] == '-' {
				v, end, ok = agentMatch(line, k+2, w)
			}
			if !ok {
				v, end, ok = agentMatch(line, k+1, w)
			}
		}
		if !ok {
			i = k
			continue
		}
		found = true
		s.next = append(s.next, line[copied:v]...)
		s.nextOrig = append(s.nextOrig, s.curOrig[copied:v]...)
		s.next = append(s.next, Mask...)
		for range len(Mask) {
			s.nextOrig = append(s.nextOrig, -1)
		}
		copied, i = end, end
	}
	if !found {
		return false
	}
	s.next = append(s.next, line[copied:]...)
	s.nextOrig = append(s.nextOrig, s.curOrig[copied:]...)
	s.cur, s.next = s.next, s.cur
	s.curOrig, s.nextOrig = s.nextOrig, s.curOrig
	return true
}

// agentMatch matches w's key at line[b:] and returns its value's bounds.
//
// The key ends at the first ' ', '=' or ':' whatever the wildcards (none of
// them nor a literal covers those bytes), and that byte is the delimiter.
func agentMatch(line []byte, b int, w *word) (v, end int, ok bool) {
	e := b
	for e < len(line) && line[e] != ' ' && line[e] != '=' && line[e] != ':' {
		e++
	}
	if e == len(line) || !w.match(line[b:e], false) {
		return 0, 0, false
	}
	v = e + 1
	if line[e] == ' ' {
		for v < len(line) && line[v] == ' ' {
			v++
		}
	}
	return v, valueEnd(line, v, false), true
}

// valueEnd is where the value starting at line[v] ends: after the closing
// quote of a quoted value, else at white space (query: also at '&' or '#').
func valueEnd(line []byte, v int, query bool) int {
	if v < len(line) && (line[v] == '"' || line[v] == '\'') {
		if j := bytes.IndexByte(line[v+1:], line[v]); j >= 0 {
			return v + 2 + j
		}
	}
	for v < len(line) && !isSpace(line[v]) && !(query && (line[v] == '&' || line[v] == '#')) {
		v++
	}
	return v
}
