package scrub

import "strings"

// word is a compiled sensitive word: literal parts between '*' wildcards.
//
// In the agent's regex a leading or inner '*' is [^\s=:$/]* and a trailing one
// [^ =:]*; literals match case-insensitively with Go's simple folding, under
// which 's' also matches 'ſ' (U+017F) and 'k' the Kelvin sign (U+212A).
type word struct {
	lead, trail bool     // starts, ends with '*'
	segs        [][]byte // lower-case literal parts, non-empty
	// fast is the agent's fast check: the longest literal part (the first of
	// equal length).
	fast []byte
}

func compile(w string) word {
	var c word
	c.lead = strings.HasPrefix(w, "*")
	c.trail = strings.HasSuffix(w, "*")
	for _, p := range strings.Split(strings.ToLower(w), "*") {
		if p == "" {
			continue
		}
		c.segs = append(c.segs, []byte(p))
		if len(p) > len(c.fast) {
			c.fast = []byte(p)
		}
	}
	return c
}

// stop reports whether a leading or inner wildcard and the literals cannot cover c.
func stop(c byte) bool { return isSpace(c) || c == '=' || c == ':' || c == '$' || c == '/' }

// match reports whether body, the text between a key's start and its delimiter,
// is the word. The caller ends body at the first ' ', '=' or ':' (also at other
// white space in dashed mode), which a trailing wildcard cannot cover either.
// dashed lets a literal '_' match '-' too.
func (w *word) match(body []byte, dashed bool) bool {
	lim := len(body) // the literals must end by the first byte only a trailing '*' covers
	for i, c := range body {
		if stop(c) {
			lim = i
			break
		}
	}
	head := body[:lim]
	p := 0
	last := len(w.segs) - 1
	for i, seg := range w.segs {
		switch {
		case i == 0 && !w.lead:
			end, ok := matchLit(head, 0, seg, dashed)
			if !ok {
				return false
			}
			if i == last && !w.trail {
				return end == len(body)
			}
			p = end
		case i == last && !w.trail:
			if lim < len(body) {
				return false
			}
			for q := p; q < len(body); q++ {
				if end, ok := matchLit(body, q, seg, dashed); ok && end == len(body) {
					return true
				}
			}
			return false
		default:
			found := false
			for q := p; q < lim; q++ {
				if end, ok := matchLit(head, q, seg, dashed); ok {
					p, found = end, true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}

// matchLit matches the lower-case literal seg at b[p:], folding case as Go's
// regexp (?i) does, and returns where the match ends.
func matchLit(b []byte, p int, seg []byte, dashed bool) (int, bool) {
	for _, c := range seg {
		if p >= len(b) {
			return 0, false
		}
		x := b[p]
		switch {
		case lower[x] == c:
			p++
		case c == 's' && x == 0xc5 && p+1 < len(b) && b[p+1] == 0xbf: // ſ
			p += 2
		case c == 'k' && x == 0xe2 && p+2 < len(b) && b[p+1] == 0x84 && b[p+2] == 0xaa: // K (Kelvin)
			p += 3
		case dashed && c == '_' && x == '-':
			p++
		default:
			return 0, false
		}
	}
	return p, true
}
