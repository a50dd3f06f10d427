// Package scrub masks secrets in process command lines before they leave the
// host, as the Datadog agent's process check does (pkg/process/procutil
// data_scrubber.go; shared/spec/datadog-compat.md §4.7), and more.
//
// The agent joins the arguments with spaces, and for each sensitive word whose
// longest literal part the lower-cased line contains, replaces every match of
//
//	(?P<key>( +| -{1,2})(?i)WORD)(?P<delimiter> +|=|:)(?P<value>("[^"]*")|('[^']*')|[^\s]*)
//
// by key, delimiter and "********", one word after the other on the line the
// previous word left. A Scrubber first reproduces exactly that, without regexp
// (agent.go), then masks what the agent lets through (extra.go): keys at the start
// of argv[0] and after '=', ',', ';', '&', '?' or a quote, dashed spellings of the
// words (api-key, access-token), a value after "key: ", and the password of a URL
// (scheme://user:********@host). What the agent masks is thus always masked, with
// the same "********", and the argument boundaries are kept (the agent re-splits
// a scrubbed line on spaces).
package scrub

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
)

// Mask replaces every masked value.
const Mask = "********"

// DefaultWords are the agent's default sensitive words (data_scrubber.go).
var DefaultWords = []string{
	"*password*", "*passwd*", "*mysql_pwd*",
	"*access_token*", "*auth_token*",
	"*api_key*", "*apikey*",
	"*secret*", "*credentials*", "stripetoken", "rails",
}

// Options configure a Scrubber. The zero value scrubs nothing: start from
// DefaultOptions, as the agent's defaults do.
type Options struct {
	// Enabled masks sensitive values (DD_SCRUB_ARGS, the agent's default true).
	Enabled bool
	// CustomWords are added to DefaultWords (DD_CUSTOM_SENSITIVE_WORDS): letters,
	// digits, '_' and '*' (any run of characters), no "**", not a lone "*".
	CustomWords []string
	// StripArgs keeps only the first space-separated token of argv[0]
	// (DD_STRIP_PROCESS_ARGS).
	StripArgs bool
}

// DefaultOptions are the agent's defaults: scrubbing on, default words only.
func DefaultOptions() Options { return Options{Enabled: true} }

// OptionsFromEnv reads the agent's settings through getenv (os.Getenv in
// production): DD_SCRUB_ARGS (or DD_PROCESS_CONFIG_SCRUB_ARGS,
// DD_PROCESS_AGENT_SCRUB_ARGS), DD_CUSTOM_SENSITIVE_WORDS (comma or space
// separated) and DD_STRIP_PROCESS_ARGS (or DD_PROCESS_CONFIG_STRIP_PROC_ARGUMENTS).
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	o := DefaultOptions()
	first := func(names ...string) (string, string) {
		for _, n := range names {
			if v := strings.TrimSpace(getenv(n)); v != "" {
				return n, v
			}
		}
		return "", ""
	}
	var err error
	if n, v := first("DD_SCRUB_ARGS", "DD_PROCESS_CONFIG_SCRUB_ARGS", "DD_PROCESS_AGENT_SCRUB_ARGS"); n != "" {
		if o.Enabled, err = parseBool(v); err != nil {
			return o, fmt.Errorf("%s: %w", n, err)
		}
	}
	if n, v := first("DD_STRIP_PROCESS_ARGS", "DD_PROCESS_CONFIG_STRIP_PROC_ARGUMENTS"); n != "" {
		if o.StripArgs, err = parseBool(v); err != nil {
			return o, fmt.Errorf("%s: %w", n, err)
		}
	}
	if _, v := first("DD_CUSTOM_SENSITIVE_WORDS", "DD_PROCESS_CONFIG_CUSTOM_SENSITIVE_WORDS"); v != "" {
		o.CustomWords = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
	}
	return o, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "t", "true", "yes", "y", "on":
		return true, nil
	case "0", "f", "false", "no", "n", "off":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", v)
}

// Scrubber masks command lines. It is safe for concurrent use (calls are
// serialised: it owns the scratch buffers that keep Append allocation-free).
type Scrubber struct {
	enabled, strip bool
	words          []word
	// The fast path's filter: a bloom bit per 4-byte prefix of the words' fast
	// parts, the prefixes themselves, and whether a word's part is shorter.
	bloom    [64]uint64
	prefixes []uint32
	short    bool

	mu   sync.Mutex
	line []byte  // the arguments joined by spaces, as the agent sees them
	seps []int32 // indexes in line of the spaces between two arguments
	low  []byte  // line with ASCII letters lower-cased and '-' made '_' (fold)
	mask []bool  // mask[i]: line[i] is hidden
	ins  []bool  // ins[i]: a Mask is inserted before line[i] (an empty value)
	// the agent's passes: the current line and, per byte, its index in line
	// (-1 for an inserted Mask); next is the pass's output
	cur, next         []byte
	curOrig, nextOrig []int32
}

// New validates the custom words and returns a Scrubber.
func New(o Options) (*Scrubber, error) {
	for _, w := range o.CustomWords {
		if err := validate(w); err != nil {
			return nil, err
		}
	}
	return build(o), nil
}

// Default returns a Scrubber with DefaultOptions, which cannot fail.
func Default() *Scrubber { return build(DefaultOptions()) }

func build(o Options) *Scrubber {
	s := &Scrubber{enabled: o.Enabled, strip: o.StripArgs}
	for _, w := range append(append([]string(nil), DefaultWords...), o.CustomWords...) {
		c := compile(w)
		s.words = append(s.words, c)
		if len(c.fast) < 4 {
			s.short = true
			continue
		}
		p := uint32(c.fast[0])<<24 | uint32(c.fast[1])<<16 | uint32(c.fast[2])<<8 | uint32(c.fast[3])
		s.prefixes = append(s.prefixes, p)
		h := bloomHash(p)
		s.bloom[h>>6] |= 1 << (h & 63)
	}
	return s
}

func bloomHash(v uint32) uint32 { return v * 0x9e3779b1 >> 20 }

// validate applies the agent's rules to a custom word (CompileStringsToRegex),
// which the agent skips with a warning and we refuse.
func validate(w string) error {
	if w == "" {
		return fmt.Errorf("sensitive word %q: empty", w)
	}
	for i := 0; i < len(w); i++ {
		if c := w[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '*') {
			return fmt.Errorf("sensitive word %q: %q is not allowed (letters, digits, '_' and '*' only)", w, c)
		}
	}
	if w == "*" {
		return fmt.Errorf("sensitive word %q: a lone '*' matches everything", w)
	}
	if strings.Contains(w, "**") {
		return fmt.Errorf("sensitive word %q: two consecutive '*'", w)
	}
	return nil
}

// Append appends the scrubbed arguments of cmdline, the raw content of
// /proc/<pid>/cmdline, to dst, each followed by a NUL. Arguments are split as
// the agent splits them: leading, repeated and trailing NULs are dropped, so no
// argument is empty; a cmdline without NUL (a rewritten process title) is one
// argument.
func (s *Scrubber) Append(dst, cmdline []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.split(cmdline)
	if s.strip {
		// The agent keeps strings.Split(argv[0], " ")[0].
		end := len(s.line)
		for i, c := range s.line {
			if c == ' ' {
				end = i
				break
			}
		}
		s.line, s.seps = s.line[:end], s.seps[:0]
	}
	if len(s.line) == 0 {
		return dst
	}
	if !s.enabled || !s.scan() {
		return s.appendLine(dst)
	}
	return s.appendMasked(dst)
}

// split joins cmdline's non-empty arguments with spaces into s.line.
func (s *Scrubber) split(cmdline []byte) {
	s.line, s.seps = s.line[:0], s.seps[:0]
	for len(cmdline) > 0 {
		arg := cmdline
		if i := bytes.IndexByte(cmdline, 0); i >= 0 {
			arg, cmdline = cmdline[:i], cmdline[i+1:]
		} else {
			cmdline = nil
		}
		if len(arg) == 0 {
			continue
		}
		if len(s.line) > 0 {
			s.seps = append(s.seps, int32(len(s.line)))
			s.line = append(s.line, ' ')
		}
		s.line = append(s.line, arg...)
	}
}

func (s *Scrubber) appendLine(dst []byte) []byte {
	base := len(dst)
	dst = append(dst, s.line...)
	for _, i := range s.seps {
		dst[base+int(i)] = 0
	}
	return append(dst, 0)
}

// appendMasked appends the arguments with every masked run and insertion point
// replaced by one Mask.
func (s *Scrubber) appendMasked(dst []byte) []byte {
	n := len(s.line)
	masked := false // the last thing appended was a Mask
	seps := s.seps
	for i := 0; i <= n; i++ {
		if s.ins[i] && !masked {
			dst, masked = append(dst, Mask...), true
		}
		if i == n {
			break
		}
		switch {
		case len(seps) > 0 && int(seps[0]) == i:
			seps = seps[1:]
			dst, masked = append(dst, 0), false
		case s.mask[i]:
			if !masked {
				dst, masked = append(dst, Mask...), true
			}
		default:
			dst, masked = append(dst, s.line[i]), false
		}
	}
	return append(dst, 0)
}

// scan fills s.mask and s.ins for s.line and reports whether anything is masked.
func (s *Scrubber) scan() bool {
	n := len(s.line)
	if cap(s.low) < n {
		s.low = make([]byte, n, 2*n)
	}
	s.low = s.low[:n]
	// One pass folds the line and looks, through the bloom filter, for the
	// first four bytes of any word's fast part and for "://".
	var or byte
	var v uint32
	cand, url := s.short, false
	for i, c := range s.line {
		or |= c
		f := fold[c]
		s.low[i] = f
		v = v<<8 | uint32(f)
		if h := bloomHash(v); s.bloom[h>>6]&(1<<(h&63)) != 0 && i >= 3 {
			for _, p := range s.prefixes {
				cand = cand || p == v
			}
		}
		url = url || v&0xffffff == 0x3a2f2f
	}
	ascii := or < 0x80
	// Fast path: no word's longest literal part in either spelling, no URL.
	if ascii && !(cand && s.anyWord()) && !(url && hasURL(s.line)) {
		return false
	}
	s.mask = grow(s.mask, n)
	s.ins = grow(s.ins, n+1)
	any := s.agent(ascii)
	any = s.extra(ascii) || any
	return any
}

func (s *Scrubber) anyWord() bool {
	for i := range s.words {
		if bytes.Contains(s.low, s.words[i].fast) {
			return true
		}
	}
	return false
}

func grow(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	b = b[:n]
	clear(b)
	return b
}

// lower maps ASCII upper-case letters to lower case, every other byte to
// itself; fold also maps '-' to '_', so that a word's literal part is found in
// both spellings (api_key, api-key) with one search.
var lower, fold = func() (l, f [256]byte) {
	for i := range l {
		l[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			l[i] = byte(i) + 'a' - 'A'
		}
		f[i] = l[i]
	}
	f['-'] = '_'
	return l, f
}()

// isSpace is regexp's \s: tab, newline, form feed, carriage return, space.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }
