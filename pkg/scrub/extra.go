package scrub

import "bytes"

// extra masks what the agent lets through and reports whether it masked
// anything:
//   - keys anywhere an argument or an assignment starts: argv[0], after any
//     white space, '=', ',', ';', '&', '?' or a quote (--env=PASSWORD=x,
//     "url?token=…&password=x", X-Api-Key:abc), with or without one or two dashes;
//   - dashed spellings: a '_' of a word also matches '-' (api-key, access-token);
//   - a value after "key: " or "key= " (the agent hides the empty value only);
//   - the password of a URL: scheme://user:********@host.
func (s *Scrubber) extra(ascii bool) bool {
	line := s.line
	n := len(line)
	found := false
	delim := -1  // the first delimiter at or after the last key start tried
	ws := -1     // the first white space at or after the last value start
	marked := -1 // s.mask is set up to here from the values found
	for i := 0; i < n; i++ {
		if isSpace(line[i]) {
			continue
		}
		query := false
		if i > 0 {
			switch line[i-1] {
			case '?', '&':
				query = true
			case ' ', '\t', '\n', '\f', '\r', '=', ',', ';', '"', '\'':
			default:
				continue
			}
		}
		if delim < i {
			// Every key start up to the delimiter shares it: found once per token.
			for delim = i; delim < n && !isSpace(line[delim]) && line[delim] != '=' && line[delim] != ':'; delim++ {
			}
		}
		for b := i; b <= i+2 && b < delim; b++ {
			if b > i && line[b-1] != '-' {
				break
			}
			v, ok := s.extraKey(b, delim, ascii)
			if !ok {
				continue
			}
			// The ends of the values are found and marked once per byte: v only
			// grows with i, so the first white space at or after v is cached.
			var end int
			switch {
			case v < n && (line[v] == '"' || line[v] == '\'') || query:
				end = valueEnd(line, v, query)
			default:
				if ws < v {
					for ws = v; ws < n && !isSpace(line[ws]); ws++ {
					}
				}
				end = ws
			}
			for p := max(v, marked); p < end; p++ {
				s.mask[p] = true
			}
			marked = max(marked, end)
			found = found || end > v
			break
		}
	}
	for i := 0; ; {
		j := bytes.Index(line[i:], []byte("://"))
		if j < 0 {
			break
		}
		a := i + j + 3
		end := a
		for end < n && !isSpace(line[end]) && line[end] != '/' && line[end] != '?' && line[end] != '#' {
			end++
		}
		if at := bytes.LastIndexByte(line[a:end], '@'); at >= 0 {
			if c := bytes.IndexByte(line[a:a+at], ':'); c >= 0 && c+1 < at {
				for p := a + c + 1; p < a+at; p++ {
					s.mask[p] = true
				}
				found = true
			}
		}
		i = a
	}
	return found
}

// maxKey bounds the keys the extensions look at: a longer "key" is data, and
// the bound keeps the scan of a long token linear.
const maxKey = 128

// extraKey reports whether s.line[b:e], e a delimiter, is a key, and where
// its value starts.
func (s *Scrubber) extraKey(b, e int, ascii bool) (v int, ok bool) {
	line := s.line
	n := len(line)
	if e == n || e-b > maxKey {
		return 0, false
	}
	hit := false
	for i := range s.words {
		w := &s.words[i]
		if ascii && !bytes.Contains(s.low[b:e], w.fast) {
			continue
		}
		if w.match(line[b:e], true) {
			hit = true
			break
		}
	}
	if !hit {
		return 0, false
	}
	v = e + 1
	if isSpace(line[e]) || v == n || isSpace(line[v]) {
		// "key value", "key: value", "key= value": the next token.
		for v < n && isSpace(line[v]) {
			v++
		}
	}
	return v, true
}

// hasURL reports whether line may hold a URL with credentials.
func hasURL(line []byte) bool {
	i := bytes.Index(line, []byte("://"))
	return i >= 0 && bytes.IndexByte(line[i:], '@') >= 0
}
