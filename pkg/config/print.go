package config

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
)

// RedactedKey is the API key as logs may show it: the last 4 characters
// behind a fixed-width mask ("" when no key; all masked when too short to
// show any of it safely).
func (c *Config) RedactedKey() string { return redactKey(c.APIKey) }

const keyMask = "***************************"

func redactKey(k string) string {
	switch {
	case k == "":
		return ""
	case len(k) < 12:
		return keyMask
	}
	return keyMask + k[len(k)-4:]
}

// redactURL hides a URL's password (proxy credentials), even in a URL that
// does not parse.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		scheme, _, ok := strings.Cut(s[:at], "://")
		if ok {
			return scheme + "://xxxxx" + s[at:]
		}
		return "xxxxx" + s[at:]
	}
	return s
}

// Row is one line of Print: a setting, its value as shown, and its source.
type Row struct {
	Key    string `json:"key"`
	Value  any    `json:"value"`
	Source string `json:"source"`
}

// Rows lists every setting with its value (secrets redacted) and source, then
// the values derived from them.
func (c *Config) Rows() []Row {
	rows := make([]Row, 0, len(settings)+4)
	for i := range settings {
		s := &settings[i]
		v := s.v.get(c)
		if s.redact != nil {
			if str, ok := v.(string); ok {
				v = s.redact(str)
			}
		}
		rows = append(rows, Row{Key: s.key, Value: v, Source: c.Source(s.key)})
	}
	return append(rows,
		Row{Key: "metrics_url", Value: redactURL(c.MetricsURL()), Source: "derived"},
		Row{Key: "process_url", Value: redactURL(c.ProcessURL()), Source: "derived"},
		Row{Key: "spool_dir", Value: c.SpoolDir, Source: "derived"},
		Row{Key: "host_tags", Value: c.HostTags(), Source: "derived"},
	)
}

// Print writes every setting with its value and source, secrets redacted, as
// aligned text or JSON (whippet run --print-config), then the warnings.
func (c *Config) Print(w io.Writer, asJSON bool) error {
	rows := c.Rows()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		warnings := c.Warnings
		if warnings == nil {
			warnings = []string{}
		}
		if err := enc.Encode(struct {
			Settings []Row    `json:"settings"`
			Warnings []string `json:"warnings"`
		}{rows, warnings}); err != nil {
			return fmt.Errorf("print config: %w", err)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tSOURCE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Key, showValue(r.Value), r.Source)
	}
	for _, warn := range c.Warnings {
		fmt.Fprintf(tw, "warning: %s\n", warn)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	return nil
}

func showValue(v any) string {
	switch v := v.(type) {
	case []string:
		if len(v) == 0 {
			return `""`
		}
		return strings.Join(v, " ")
	case string:
		if v == "" {
			return `""`
		}
		return v
	}
	return fmt.Sprint(v)
}

// Describe writes the configuration reference as a markdown table (for README).
func Describe(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| datadog.yaml | Environment | Flag | Default | Meaning |\n|---|---|---|---|---|\n")
	for _, s := range settings {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", code(s.yaml), code(s.env...), flagCell(s), code(s.def),
			strings.ReplaceAll(s.doc, "|", `\|`))
	}
	b.WriteString("\nPrecedence: flag > environment (first listed variable set wins) > file > default. " +
		"Empty environment variables count as unset. Durations take Go syntax (15s) or whole seconds (15).\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("describe config: %w", err)
	}
	return nil
}

func flagCell(s setting) string {
	if s.flag == "" {
		return ""
	}
	return "`-" + s.flag + "`"
}

func code(names ...string) string {
	var parts []string
	for _, n := range names {
		if n != "" {
			parts = append(parts, "`"+n+"`")
		}
	}
	return strings.Join(parts, ", ")
}

// suggest returns `; did you mean "X"?` for the known name closest to name
// (edit distance ≤ 2, or the same last dotted segment), else "".
func suggest(name string, known []string) string {
	best, bestD := "", 3
	if len(name) < 6 {
		bestD = 2
	}
	last := name[strings.LastIndexByte(name, '.')+1:]
	for _, k := range known {
		d := distance(strings.ToLower(name), strings.ToLower(k))
		if d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" && len(last) > 3 {
		for _, k := range known {
			if k[strings.LastIndexByte(k, '.')+1:] == last {
				best = k
				break
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// distance is the Levenshtein distance of a and b (bytes).
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
