package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// value parses a raw setting into a Config and shows it back for Print.
// Errors say what is accepted; the caller adds the setting, value and source.
type value interface {
	set(c *Config, r raw, warn func(string)) error
	get(c *Config) any
}

type funcValue struct {
	setFn func(c *Config, r raw, warn func(string)) error
	getFn func(c *Config) any
}

func (f funcValue) set(c *Config, r raw, warn func(string)) error { return f.setFn(c, r, warn) }
func (f funcValue) get(c *Config) any                             { return f.getFn(c) }

func custom(set func(c *Config, r raw, warn func(string)) error, get func(c *Config) any) value {
	return funcValue{set, get}
}

var errList = errors.New("want a single value, not a list")

func scalar(r raw) (string, error) {
	if r.isList {
		return "", errList
	}
	return strings.TrimSpace(r.s), nil
}

// str is a string setting; check (optional) validates and may normalize a
// non-empty value. Empty means unset and is not checked.
func str(p func(*Config) *string, check func(s string, warn func(string)) (string, error)) value {
	return custom(func(c *Config, r raw, warn func(string)) error {
		s, err := scalar(r)
		if err != nil {
			return err
		}
		if s != "" && check != nil {
			if s, err = check(s, warn); err != nil {
				return err
			}
		}
		*p(c) = s
		return nil
	}, func(c *Config) any { return *p(c) })
}

func boolean(p func(*Config) *bool) value {
	return custom(func(c *Config, r raw, _ func(string)) error {
		s, err := scalar(r)
		if err != nil {
			return err
		}
		b, err := parseBool(s)
		if err != nil {
			return err
		}
		*p(c) = b
		return nil
	}, func(c *Config) any { return *p(c) })
}

// parseBool accepts what the agent accepts: true/false, 1/0, yes/no, any case.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, errors.New("want true or false (or 1/0, yes/no)")
}

// duration accepts a Go duration (15s, 1m30s) or whole seconds (15) as the
// agent's interval settings use, within [lo, hi] (hi 0: no upper bound).
func duration(p func(*Config) *time.Duration, lo, hi time.Duration) value {
	want := "want a duration ≥ " + lo.String()
	switch {
	case hi == 30*time.Second-1:
		want += " and < 30s"
	case hi > 0:
		want += " and ≤ " + hi.String()
	}
	want += " (e.g. 15s, or whole seconds: 15)"
	return custom(func(c *Config, r raw, _ func(string)) error {
		s, err := scalar(r)
		if err != nil {
			return err
		}
		d, err := parseDuration(s)
		if err != nil || d < lo || (hi > 0 && d > hi) {
			return errors.New(want)
		}
		*p(c) = d
		return nil
	}, func(c *Config) any { return p(c).String() })
}

func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(1<<63-1)/int64(time.Second) || n < 0 {
			return 0, errors.New("out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

func integer(p func(*Config) *int64, lo, hi int64, want string) value {
	return custom(func(c *Config, r raw, _ func(string)) error {
		s, err := scalar(r)
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < lo || n > hi {
			return errors.New(want)
		}
		*p(c) = n
		return nil
	}, func(c *Config) any { return *p(c) })
}

// list is a list setting: a YAML sequence, or text split at any of seps.
// check (optional) validates and may rewrite the items.
func list(p func(*Config) *[]string, seps string, check func(items []string, warn func(string)) ([]string, error)) value {
	return custom(func(c *Config, r raw, warn func(string)) error {
		var items []string
		if r.isList {
			for _, it := range r.list {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
		} else {
			spaces := strings.ContainsRune(seps, ' ')
			items = strings.FieldsFunc(r.s, func(r rune) bool {
				return strings.ContainsRune(seps, r) || (spaces && unicode.IsSpace(r))
			})
		}
		if check != nil {
			var err error
			if items, err = check(items, warn); err != nil {
				return err
			}
		}
		*p(c) = items
		return nil
	}, func(c *Config) any { return *p(c) })
}

var levels = []struct {
	name string
	lvl  slog.Level
}{
	{"trace", LevelTrace}, {"debug", slog.LevelDebug}, {"info", slog.LevelInfo}, {"warn", slog.LevelWarn},
	{"warning", slog.LevelWarn}, {"error", slog.LevelError}, {"critical", LevelCritical}, {"off", LevelOff},
}

func setLogLevel(c *Config, r raw, _ func(string)) error {
	s, err := scalar(r)
	if err != nil {
		return err
	}
	for _, l := range levels {
		if strings.EqualFold(s, l.name) {
			c.LogLevel = l.lvl
			return nil
		}
	}
	return errors.New("want one of trace, debug, info, warn, error, critical, off")
}

func levelName(l slog.Level) string {
	for _, n := range levels {
		if n.lvl == l {
			return n.name
		}
	}
	return l.String()
}

func setOutput(c *Config, r raw, _ func(string)) error {
	s, err := scalar(r)
	if err != nil {
		return err
	}
	switch o := Output(strings.ToLower(s)); o {
	case OutputAuto, OutputIntake, OutputDogStatsD, OutputStdout, OutputJSON, OutputMsgpack:
		c.output = o
		return nil
	}
	return errors.New("want one of auto, intake, dogstatsd, stdout, json, msgpack")
}

func setSpoolMax(c *Config, r raw, _ func(string)) error {
	s, err := scalar(r)
	if err != nil {
		return err
	}
	n, err := parseBytes(s)
	if err != nil {
		return errors.New("want a size in bytes ≥ 0, optionally with KiB, MiB, GiB (or KB, MB, GB), e.g. 128MiB")
	}
	c.SpoolMaxBytes = n
	return nil
}

func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, errors.New("bad size")
	}
	return n * mult, nil
}

// checkAPIKey accepts what can travel in an HTTP header. Nothing it returns or
// warns contains the key.
func checkAPIKey(s string, warn func(string)) (string, error) {
	if strings.HasPrefix(s, "ENC[") {
		return "", errors.New("secret backend references (ENC[…]) are not supported: pass the key itself")
	}
	hex := len(s) == 32
	for _, r := range s {
		if r <= ' ' || r >= 0x7f {
			return "", errors.New("want printable ASCII without spaces (a Datadog API key is 32 hexadecimal digits)")
		}
		hex = hex && strings.ContainsRune("0123456789abcdefABCDEF", r)
	}
	if !hex {
		warn("not 32 hexadecimal digits: Datadog's intake will refuse it (fine for a test intake)")
	}
	return s, nil
}

func checkSite(s string, _ func(string)) (string, error) {
	if strings.Contains(s, "://") || strings.ContainsRune(s, '/') || !validHostname(s) {
		return "", errors.New("want a Datadog site host name such as datadoghq.com, us5.datadoghq.com or datadoghq.eu (a full URL goes in DD_DD_URL)")
	}
	return strings.ToLower(s), nil
}

func checkHTTPURL(s string, _ func(string)) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("want an http:// or https:// URL with a host")
	}
	return s, nil
}

func checkDogStatsDURL(s string, _ func(string)) (string, error) {
	u, err := url.Parse(s)
	if err == nil {
		switch u.Scheme {
		case "udp":
			if _, port, err := net.SplitHostPort(u.Host); err == nil && port != "" {
				return s, nil
			}
		case "unix", "unixgram":
			if u.Path != "" {
				return s, nil
			}
		}
	}
	return "", errors.New("want udp://host:port or unix:///path/to/socket")
}

// checkHostname drops an invalid configured host name with a warning, as the
// agent does (it then detects the name).
func checkHostname(s string, warn func(string)) (string, error) {
	if !validHostname(s) {
		warn("not a valid host name (RFC 1123): ignored, the host name will be detected")
		return "", nil
	}
	return s, nil
}

// validHostname is RFC 1123: dot-separated labels of letters, digits and
// inner hyphens, each ≤ 63, all ≤ 255.
func validHostname(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-') {
				return false
			}
		}
	}
	return true
}

func checkLegacyProcess(s string, _ func(string)) (string, error) {
	if strings.EqualFold(s, "disabled") {
		return "disabled", nil
	}
	b, err := parseBool(s)
	if err != nil {
		return "", errors.New("want true (processes and containers), false (containers only) or disabled")
	}
	return strconv.FormatBool(b), nil
}

func checkPath(s string, _ func(string)) (string, error) {
	return filepath.Clean(s), nil
}

func checkStatusAddr(s string, _ func(string)) (string, error) {
	if strings.EqualFold(s, "off") {
		return "", nil
	}
	_, port, err := net.SplitHostPort(s)
	if err == nil {
		if n, perr := strconv.ParseUint(port, 10, 16); perr == nil && n <= 65535 {
			return s, nil
		}
	}
	return "", errors.New("want host:port (e.g. 127.0.0.1:5012) or off")
}

// loopback reports whether a host:port listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkWords applies the agent's rules for custom sensitive words.
func checkWords(words []string, _ func(string)) ([]string, error) {
	for _, w := range words {
		ok := w != "*" && !strings.Contains(w, "**")
		for _, r := range w {
			ok = ok && (r == '_' || r == '*' || r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r)))
		}
		if !ok {
			return nil, fmt.Errorf("word %q: want letters, digits, _ and * wildcards (no lone * or **)", w)
		}
	}
	return words, nil
}

func checkFilter(entries []string, warn func(string)) ([]string, error) {
	var out []string
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e, "kube_namespace:") {
			warn(fmt.Sprintf("%q: Kubernetes namespaces do not apply on ECS; ignored", e))
			continue
		}
		if _, err := parseRule(e); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, e)
	}
	return out, errors.Join(errs...)
}

// normalizeTags applies Datadog's tag rules (lower case; letters, digits and
// _ - : . / only, others become _; start with a letter; ≤ 200 characters),
// noting each change.
func normalizeTags(tags []string, warn func(string)) ([]string, error) {
	out := tags[:0:0]
	for _, t := range tags {
		n := normalizeTag(t)
		switch {
		case n == "":
			warn(fmt.Sprintf("tag %q has no letter to start with: dropped", t))
			continue
		case n != t:
			warn(fmt.Sprintf("tag %q normalized to %q", t, n))
		}
		out = append(out, n)
	}
	return out, nil
}

func normalizeTag(t string) string {
	var b strings.Builder
	started := false
	for _, r := range t {
		r = unicode.ToLower(r)
		if !started {
			if !unicode.IsLetter(r) {
				continue
			}
			started = true
		}
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_-:./", r)) {
			r = '_'
		}
		if r == '_' && strings.HasSuffix(b.String(), "_") {
			continue
		}
		b.WriteRune(r)
	}
	s := strings.TrimRight(b.String(), "_")
	if len(s) > 200 {
		s = s[:200]
		for !utf8ValidEnd(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

func utf8ValidEnd(s string) bool {
	return strings.ToValidUTF8(s, "\uFFFD") == s
}

// checkEnvTag normalizes DD_ENV as the value of an env: tag.
func checkEnvTag(s string, warn func(string)) (string, error) {
	n := strings.TrimPrefix(normalizeTag("env:"+s), "env:")
	if n == "" {
		return "", errors.New("want letters, digits and _ - : . /")
	}
	if n != s {
		warn(fmt.Sprintf("normalized to %q", n))
	}
	return n, nil
}
