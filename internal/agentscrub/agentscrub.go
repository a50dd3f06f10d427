// Package agentscrub is the Datadog agent's command-line scrubber rebuilt with
// regexp from its rules (pkg/process/procutil/data_scrubber.go:
// CompileStringsToRegex, ScrubCommand): the oracle pkg/scrub's tests check
// against and the peer its benchmark runs beside. Not for the agent itself.
package agentscrub

import (
	"bytes"
	"regexp"
	"strings"
)

// Mask is what the agent writes in place of a value.
const Mask = "********"

// Scrubber is the agent's DataScrubber without its cache.
type Scrubber struct{ pats []pattern }

type pattern struct {
	fast string
	re   *regexp.Regexp
}

// New compiles the agent's pattern for each word.
func New(words []string) *Scrubber {
	o := &Scrubber{}
	for _, w := range words {
		var b strings.Builder
		for i := 0; i < len(w); i++ {
			switch {
			case w[i] != '*':
				b.WriteByte(w[i])
			case i == len(w)-1:
				b.WriteString(`[^ =:]*`)
			default:
				b.WriteString(`[^\s=:$/]*`)
			}
		}
		re := regexp.MustCompile(`(?P<key>( +| -{1,2})(?i)` + b.String() + `)(?P<delimiter> +|=|:)(?P<value>("([^"]*)")|('([^']*)')|[^\s]*)`)
		fast := ""
		for _, p := range strings.Split(w, "*") {
			if len(p) > len(fast) {
				fast = p
			}
		}
		o.pats = append(o.pats, pattern{strings.ToLower(fast), re})
	}
	return o
}

// Args splits a raw cmdline as the agent's trimAndSplitBytes does.
func Args(cmdline []byte) []string {
	var out []string
	for _, a := range bytes.Split(cmdline, []byte{0}) {
		if len(a) > 0 {
			out = append(out, string(a))
		}
	}
	return out
}

// Scrub is ScrubCommand: the scrubbed arguments and whether any changed.
func (o *Scrubber) Scrub(args []string) ([]string, bool) {
	raw := strings.Join(args, " ")
	low := strings.ToLower(raw)
	changed := false
	for _, p := range o.pats {
		if !strings.Contains(low, p.fast) {
			continue
		}
		if p.re.MatchString(raw) {
			changed = true
			raw = p.re.ReplaceAllString(raw, "${key}${delimiter}********")
		}
	}
	if !changed {
		return args, false
	}
	return strings.Split(raw, " "), true
}

// Hide runs the same replacements on the joined line and returns the final
// line, which bytes of the original it hides, and before which it inserts a
// Mask for an empty value.
func (o *Scrubber) Hide(line string) (out string, mask, ins []bool) {
	low := strings.ToLower(line)
	cur := line
	orig := make([]int, len(line))
	for i := range orig {
		orig[i] = i
	}
	for _, p := range o.pats {
		if !strings.Contains(low, p.fast) {
			continue
		}
		vi := p.re.SubexpIndex("value")
		var b strings.Builder
		var no []int
		last := 0
		for _, m := range p.re.FindAllStringSubmatchIndex(cur, -1) {
			vs, ve := m[2*vi], m[2*vi+1]
			b.WriteString(cur[last:vs])
			no = append(no, orig[last:vs]...)
			b.WriteString(Mask)
			no = append(no, -1, -1, -1, -1, -1, -1, -1, -1)
			last = ve
		}
		b.WriteString(cur[last:])
		cur, orig = b.String(), append(no, orig[last:]...)
	}
	mask = make([]bool, len(line))
	ins = make([]bool, len(line)+1)
	seen := make([]bool, len(line))
	for _, x := range orig {
		if x >= 0 {
			seen[x] = true
		}
	}
	for i := range mask {
		mask[i] = !seen[i]
	}
	next := 0
	for j := 0; j < len(orig); j++ {
		if orig[j] >= 0 {
			next = orig[j] + 1
			continue
		}
		k := j
		for k < len(orig) && orig[k] < 0 {
			k++
		}
		q := len(line)
		if k < len(orig) {
			q = orig[k]
		}
		if q == next {
			ins[q] = true
		}
		next, j = q, k-1
	}
	return cur, mask, ins
}
