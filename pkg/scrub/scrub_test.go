package scrub

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustNew(t testing.TB, o Options) *Scrubber {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v) error = %v", o, err)
	}
	return s
}

func cmdline(args ...string) []byte { return []byte(strings.Join(args, "\x00") + "\x00") }

func outArgs(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

func TestAppend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  Options
		in   []byte
		want []string
	}{
		// shared/spec/datadog-compat.md §4.7, the agent's own behaviour
		{"password=", DefaultOptions(), cmdline("mysql", "--password=hunter2"), []string{"mysql", "--password=********"}},
		{"-secret value", DefaultOptions(), cmdline("app", "-secret", "foo"), []string{"app", "-secret", "********"}},
		{"bare word", DefaultOptions(), cmdline("prog", "password", "hunter2"), []string{"prog", "password", "********"}},
		{"java -D", DefaultOptions(), cmdline("java", "-Dapi_key=abc", "-jar", "x.jar"), []string{"java", "-Dapi_key=********", "-jar", "x.jar"}},
		{"env style", DefaultOptions(), cmdline("env", "SECRET=abc", "run"), []string{"env", "SECRET=********", "run"}},
		{"client-secret", DefaultOptions(), cmdline("app", "--client-secret=abc"), []string{"app", "--client-secret=********"}},
		{"rails", DefaultOptions(), cmdline("bundle", "exec", "rails", "server"), []string{"bundle", "exec", "rails", "********"}},
		{"stripetoken", DefaultOptions(), cmdline("pay", "--StripeToken", "tok_1"), []string{"pay", "--StripeToken", "********"}},
		{"empty value", DefaultOptions(), cmdline("app", "--password="), []string{"app", "--password=********"}},
		{"quoted across args", DefaultOptions(), cmdline("app", "--password", `"a`, `b"`, "c"), []string{"app", "--password", "********", "********", "c"}},
		{"inside sh -c", DefaultOptions(), cmdline("sh", "-c", "mysql --password x && echo done"), []string{"sh", "-c", "mysql --password ******** && echo done"}},
		{"kelvin sign", DefaultOptions(), cmdline("app", "--api_\u212aey=abc"), []string{"app", "--api_\u212aey=********"}},
		// what the agent lets through
		{"key: value", DefaultOptions(), cmdline("prog", "--db_password:", "x"), []string{"prog", "--db_password:********", "********"}},
		{"header", DefaultOptions(), cmdline("curl", "--header", "X-Api-Key:abc"), []string{"curl", "--header", "X-Api-Key:********"}},
		{"header with space", DefaultOptions(), cmdline("curl", "-H", "X-Api-Key: abc", "http://h"), []string{"curl", "-H", "X-Api-Key: ********", "http://h"}},
		{"api-key", DefaultOptions(), cmdline("app", "--api-key", "abc"), []string{"app", "--api-key", "********"}},
		{"access-token", DefaultOptions(), cmdline("app", "--access-token=abc"), []string{"app", "--access-token=********"}},
		{"auth-token", DefaultOptions(), cmdline("app", "--auth-token=abc"), []string{"app", "--auth-token=********"}},
		{"PASSWORD=x", DefaultOptions(), cmdline("env", "PASSWORD=x", "app"), []string{"env", "PASSWORD=********", "app"}},
		{"--env=PASSWORD=x", DefaultOptions(), cmdline("docker", "run", "--env=DB_PASSWORD=x", "img"), []string{"docker", "run", "--env=DB_PASSWORD=********", "img"}},
		{"argv0 key=value", DefaultOptions(), cmdline("PASSWORD=x", "app"), []string{"PASSWORD=********", "app"}},
		{"argv0 title", DefaultOptions(), []byte("worker password=abc queue=1"), []string{"worker password=******** queue=1"}},
		{"argv0 title first", DefaultOptions(), []byte("secret=abc worker"), []string{"secret=******** worker"}},
		{"https", DefaultOptions(), cmdline("git", "clone", "https://user:pass@github.com/x/y"), []string{"git", "clone", "https://user:********@github.com/x/y"}},
		{"postgres", DefaultOptions(), cmdline("psql", "postgres://app:s3cr3t@db:5432/app?sslmode=require"), []string{"psql", "postgres://app:********@db:5432/app?sslmode=require"}},
		{"redis", DefaultOptions(), cmdline("redis-cli", "-u", "redis://:pw@cache:6379/0"), []string{"redis-cli", "-u", "redis://:********@cache:6379/0"}},
		{"amqp", DefaultOptions(), cmdline("worker", "--broker=amqp://guest:guest@mq//"), []string{"worker", "--broker=amqp://guest:********@mq//"}},
		{"url user only", DefaultOptions(), cmdline("ssh", "ssh://git@host/repo"), []string{"ssh", "ssh://git@host/repo"}},
		{"query", DefaultOptions(), cmdline("curl", "https://h/x?password=abc&page=2"), []string{"curl", "https://h/x?password=********&page=2"}},
		// nothing to hide
		{"plain", DefaultOptions(), cmdline("sleep", "100000"), []string{"sleep", "100000"}},
		{"nginx title", DefaultOptions(), []byte("nginx: master process /usr/sbin/nginx"), []string{"nginx: master process /usr/sbin/nginx"}},
		{"NUL padding", DefaultOptions(), []byte("nginx: worker process\x00\x00\x00\x00"), []string{"nginx: worker process"}},
		{"leading and double NULs", DefaultOptions(), []byte("\x00\x00a\x00\x00b"), []string{"a", "b"}},
		{"empty", DefaultOptions(), nil, nil},
		{"path is not a key", DefaultOptions(), cmdline("/usr/bin/password_tool", "--verbose"), []string{"/usr/bin/password_tool", "--verbose"}},
		// options
		{"disabled", Options{}, cmdline("mysql", "--password=hunter2"), []string{"mysql", "--password=hunter2"}},
		{"strip", Options{Enabled: true, StripArgs: true}, cmdline("/usr/bin/app", "--password=x"), []string{"/usr/bin/app"}},
		{"strip title", Options{StripArgs: true}, []byte("nginx: master process"), []string{"nginx:"}},
		{"custom personal_key", Options{Enabled: true, CustomWords: []string{"personal_key"}}, cmdline("app", "--personal_key=x"), []string{"app", "--personal_key=********"}},
		{"custom *token", Options{Enabled: true, CustomWords: []string{"*token"}}, cmdline("app", "--github_token", "x"), []string{"app", "--github_token", "********"}},
		{"custom sql*", Options{Enabled: true, CustomWords: []string{"sql*"}}, cmdline("app", "--sqlpwd=x"), []string{"app", "--sqlpwd=********"}},
		{"custom *pass*d*", Options{Enabled: true, CustomWords: []string{"*pass*d*"}}, cmdline("app", "--passphrased=x"), []string{"app", "--passphrased=********"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustNew(t, tt.opt)
			got := outArgs(s.Append(nil, tt.in))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Append(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestAgentExamples checks that where our extensions add nothing the output is
// the agent's own, argument for argument.
func TestAgentExamples(t *testing.T) {
	t.Parallel()
	o := newOracle(DefaultWords)
	s := mustNew(t, DefaultOptions())
	for _, args := range [][]string{
		{"mysql", "--password=hunter2"}, {"app", "-secret", "foo"}, {"prog", "password", "hunter2"},
		{"java", "-Dapi_key=abc", "-jar", "x.jar"}, {"env", "SECRET=abc", "run"}, {"app", "--client-secret=abc"},
		{"prog", "--db_password:", "x"}, {"curl", "--header", "X-Api-Key:abc"},
	} {
		want, _ := o.scrub(args)
		// The agent's documented output (§4.7) for the last two: the value after
		// ": " leaks, the dashed header is untouched.
		got := outArgs(s.Append(nil, cmdline(args...)))
		for i, w := range want {
			if i >= len(got) || got[i] != w && got[i] != Mask && !strings.Contains(got[i], Mask) {
				t.Errorf("%q: agent %q, we %q", args, want, got)
				break
			}
		}
	}
}

func TestNewRejectsBadWords(t *testing.T) {
	t.Parallel()
	for _, w := range []string{"bad-word", "a b", "x**y", "*", "", "pass.word", "ключ"} {
		_, err := New(Options{Enabled: true, CustomWords: []string{"ok_word", w}})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", w)) {
			t.Errorf("New(CustomWords %q) error = %v, want one naming it", w, err)
		}
	}
	if _, err := New(Options{Enabled: true, CustomWords: []string{"personal_key", "*token", "sql*", "*pass*d*"}}); err != nil {
		t.Errorf("New(spec example words) error = %v", err)
	}
}

func TestOptionsFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DD_PROCESS_CONFIG_SCRUB_ARGS": "false", "DD_STRIP_PROCESS_ARGS": "true",
		"DD_CUSTOM_SENSITIVE_WORDS": "personal_key, *token,sql*"}
	o, err := OptionsFromEnv(func(k string) string { return env[k] })
	want := Options{Enabled: false, StripArgs: true, CustomWords: []string{"personal_key", "*token", "sql*"}}
	if err != nil || !cmp.Equal(o, want) {
		t.Errorf("OptionsFromEnv = %+v, %v; want %+v", o, err, want)
	}
	if o, err := OptionsFromEnv(func(string) string { return "" }); err != nil || !cmp.Equal(o, DefaultOptions()) {
		t.Errorf("OptionsFromEnv(empty) = %+v, %v; want defaults", o, err)
	}
	if _, err := OptionsFromEnv(func(k string) string { return map[string]string{"DD_SCRUB_ARGS": "maybe"}[k] }); err == nil {
		t.Errorf("OptionsFromEnv(DD_SCRUB_ARGS=maybe): nil error")
	}
}

// debugScan runs the scan steps on cmdline and returns the agent's line, the
// bytes the agent alone hides and inserts before, and the final mask.
func (s *Scrubber) debugScan(cmdline []byte) (line, agentLine string, agentMask, agentIns, mask []bool) {
	s.split(cmdline)
	s.low = s.low[:0]
	ascii := true
	for _, c := range s.line {
		ascii = ascii && c < 0x80
		s.low = append(s.low, fold[c])
	}
	s.mask, s.ins = grow(s.mask, len(s.line)), grow(s.ins, len(s.line)+1)
	agentLine = string(s.line)
	if s.agent(ascii) {
		agentLine = string(s.cur)
	}
	agentMask, agentIns = append([]bool(nil), s.mask...), append([]bool(nil), s.ins...)
	s.extra(ascii)
	return string(s.line), agentLine, agentMask, agentIns, append([]bool(nil), s.mask...)
}

// genLine builds a command line from pieces that exercise the agent's
// patterns: keys in any case and spelling, wildcard-breaking bytes, every
// delimiter, quoted values, folded letters.
func genLine(r *rand.Rand) []byte {
	keys := []string{"password", "PassWord", "db_password", "x-api-key", "api_key", "apikey", "mysql_pwd", "MYSQL_PWD",
		"access_token", "auth_token", "secret", "client-secret", "credentials", "stripetoken", "rails", "paſſword",
		"api_\u212aey", "pass$word", "a/secret", "secret\tx", "mysecretkey", "passwd", "x.password.y", "tok", "run",
		"-v", "/usr/bin/app", "\u0130", "sEcReT", "credentials_file"}
	pre := []string{"", "", "-", "--", "---", "-D", "x.", "$", "\"", "=", " "}
	delim := []string{"=", ":", " ", "  ", ": ", "\t", "", "=\"", "\x00", "\x00\x00"}
	vals := []string{"abc", `"q u o t e"`, `'sq'`, `"unterminated`, "a=b", "x:y", "", "$HOME", "http://u:p@h/x",
		"********", "password", "--secret", "v\tw", `"`, "'", "-", "secret=1"}
	seps := []string{"\x00", " ", "\x00\x00", "\t", "\x00 "}
	var b []byte
	for i, n := 0, 1+r.IntN(8); i < n; i++ {
		if i > 0 {
			b = append(b, seps[r.IntN(len(seps))]...)
		}
		b = append(b, pre[r.IntN(len(pre))]...)
		b = append(b, keys[r.IntN(len(keys))]...)
		if r.IntN(4) > 0 {
			b = append(b, delim[r.IntN(len(delim))]...)
			b = append(b, vals[r.IntN(len(vals))]...)
		}
	}
	return b
}

var handLines = [][]byte{
	cmdline("app", "--secret", `"x --password "y" z"`, "leak"),
	cmdline("app", "--secret", "--password=\"x y\"z"),
	cmdline("app", "--password", `"a=b"secret=x`),
	cmdline("a", "password", "password", "x"),
	cmdline("a", "--password", "--password", "--password"),
	[]byte("a  --password  x"),
	cmdline("a", "- -password=x", "--", "-password", "x"),
	cmdline("a", "password \tfoo=bar"),
	cmdline("a", "PASSWORD:=x", "passwd=:y"),
	cmdline("a", "--rails=x", "rails", "rails", "x"),
	cmdline("a", "xsecret/ y", "secret$=z"),
}

// TestDifferential proves on handwritten and generated lines that every byte
// the agent's regexps hide we hide, and that the exact reproduction of the
// agent inside the Scrubber matches the regexps byte for byte.
func TestDifferential(t *testing.T) {
	t.Parallel()
	words := append(append([]string(nil), DefaultWords...), "personal_key", "*token", "sql*", "*pass*d*")
	o := newOracle(words)
	s := mustNew(t, Options{Enabled: true, CustomWords: words[len(DefaultWords):]})
	r := rand.New(rand.NewPCG(1, 2))
	lines := append([][]byte(nil), handLines...)
	for range 5000 {
		lines = append(lines, genLine(r))
	}
	masked := 0
	for _, in := range lines {
		line, agentLine, agentMask, agentIns, mask := s.debugScan(in)
		if want := strings.Join(oracleArgs(in), " "); line != want {
			t.Fatalf("split(%q) = %q, want %q", in, line, want)
		}
		wantLine, wantMask, wantIns := o.hide(line)
		if agentLine != wantLine || !cmp.Equal(agentMask, wantMask) || !cmp.Equal(agentIns, wantIns) {
			t.Errorf("agent reproduction of %q:\n got %q mask %v ins %v\nwant %q mask %v ins %v",
				line, agentLine, agentMask, agentIns, wantLine, wantMask, wantIns)
			continue
		}
		if scrubbed, _ := o.scrub(oracleArgs(in)); strings.Join(scrubbed, " ") != wantLine {
			t.Fatalf("oracle self-check on %q: %q vs %q", line, strings.Join(scrubbed, " "), wantLine)
		}
		for i := range wantMask {
			if wantMask[i] && !mask[i] {
				t.Errorf("%q: the agent hides byte %d (%q), we do not", line, i, line[i])
				break
			}
		}
		raw := s.Append(nil, in)
		if out := outArgs(raw); len(out) != len(oracleArgs(in)) {
			t.Errorf("Append(%q) = %d args %q, want %d", in, len(out), out, len(oracleArgs(in)))
		}
		for _, m := range wantMask {
			if m {
				masked++
			}
		}
		if len(line) == 0 {
			continue
		}
		// Append keeps every visible byte in place and turns every hidden run and
		// insertion point into one Mask.
		var rebuilt []byte
		star := false
		for i := 0; i <= len(line); i++ {
			if s.ins[i] && !star {
				rebuilt, star = append(rebuilt, Mask...), true
			}
			switch {
			case i == len(line):
			case isSep(s.seps, i):
				rebuilt, star = append(rebuilt, 0), false
			case mask[i] && !star:
				rebuilt, star = append(rebuilt, Mask...), true
			case !mask[i]:
				rebuilt, star = append(rebuilt, line[i]), false
			}
		}
		if rebuilt = append(rebuilt, 0); !bytes.Equal(raw, rebuilt) {
			t.Errorf("Append(%q) = %q, want %q", in, raw, rebuilt)
		}
	}
	if masked < 10000 {
		t.Errorf("the agent hid only %d bytes over %d lines: the generator misses the patterns", masked, len(lines))
	}
}

func FuzzScrub(f *testing.F) {
	for _, l := range handLines {
		f.Add(l, []byte("hunter2"), []byte{})
	}
	f.Add(cmdline("mysql", "-u", "root"), []byte("pw"), cmdline("-h", "db"))
	f.Add([]byte("nginx: master"), []byte("x"), []byte("\"'"))
	s, err := New(Options{Enabled: true, CustomWords: []string{"*token"}})
	if err != nil {
		f.Fatal(err)
	}
	o := newOracle(append(append([]string(nil), DefaultWords...), "*token"))
	const marker = "Zq9xPLANTED"
	f.Fuzz(func(t *testing.T, prefix, secret, suffix []byte) {
		out := s.Append(nil, prefix)
		if got, want := len(outArgs(out)), len(oracleArgs(prefix)); got != want {
			t.Fatalf("Append(%q): %d args, want %d", prefix, got, want)
		}
		line, _, _, _, mask := s.debugScan(prefix)
		_, wantMask, _ := o.hide(line)
		for i := range wantMask {
			if wantMask[i] && !mask[i] {
				t.Fatalf("%q: the agent hides byte %d, we do not", line, i)
			}
		}
		if bytes.Contains(prefix, []byte("Zq9x")) || bytes.Contains(suffix, []byte("Zq9x")) {
			return
		}
		plant := []byte(marker)
		for _, c := range secret {
			if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
				plant = append(plant, c)
			}
		}
		for _, key := range []string{"--password=", "--api-key=", "X-Auth-Token: ", "--secret\x00"} {
			in := append(append(append(append(append([]byte(nil), prefix...), 0), key...), plant...), 0)
			in = append(in, suffix...)
			if out := s.Append(nil, in); bytes.Contains(out, []byte(marker)) {
				t.Fatalf("Append(%q) = %q: the planted secret after %q leaks", in, out, key)
			}
		}
	})
}

func TestAppendAllocs(t *testing.T) {
	s := mustNew(t, Options{Enabled: true, CustomWords: []string{"*token"}})
	lines := append([][]byte{cmdline("sleep", "100"), []byte("nginx: worker"), cmdline("psql", "postgres://a:b@h/x")}, handLines...)
	dst := make([]byte, 0, 4096)
	for _, l := range lines {
		dst = s.Append(dst[:0], l)
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, l := range lines {
			dst = s.Append(dst[:0], l)
		}
	}); n != 0 {
		t.Errorf("Append: %v allocs per run, want 0", n)
	}
}

func BenchmarkAppend(b *testing.B) {
	s := mustNew(b, DefaultOptions())
	lines := [][]byte{cmdline("/usr/bin/java", "-Xmx512m", "-Dspring.profiles.active=prod", "-jar", "/opt/app/app.jar"),
		cmdline("mysql", "-u", "root", "--password=hunter2", "-h", "db"), cmdline("sleep", "100000")}
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			dst = s.Append(dst[:0], l)
		}
	}
}

func isSep(seps []int32, i int) bool {
	for _, p := range seps {
		if int(p) == i {
			return true
		}
	}
	return false
}
