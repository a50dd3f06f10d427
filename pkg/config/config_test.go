package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// writeFile puts a YAML file in a test's temporary directory.
func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "datadog.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, src Sources) *Config {
	t.Helper()
	c, err := Load(src)
	if err != nil {
		t.Fatalf("Load(%+v): %v", src, err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, Sources{})
	type view struct {
		Site, MetricsURL, ProcessURL, SpoolDir, StatusAddr, IMDSURL string
		Output                                                      Output
		Process, Containers, Scrub, Strip, Docker, Container, Pause bool
		Metrics, ProcessIv, IMDSTimeout, Flush                      time.Duration
		SpoolMax                                                    int64
		Level                                                       slog.Level
		Warnings                                                    []string
	}
	got := view{c.Site, c.MetricsURL(), c.ProcessURL(), c.SpoolDir, c.StatusAddr, c.IMDSURL, c.Output,
		c.ProcessEnabled, c.ContainersEnabled, c.ScrubArgs, c.StripProcessArgs, c.DockerMetrics, c.ContainerMetrics, c.ExcludePauseContainer,
		c.MetricsInterval, c.ProcessInterval, c.IMDSTimeout, c.FlushDeadline, c.SpoolMaxBytes, c.LogLevel, c.Warnings}
	want := view{"datadoghq.com", "https://api.datadoghq.com", "https://process.datadoghq.com", "/opt/datadog-agent/run/whippet-spool",
		"127.0.0.1:5012", "http://169.254.169.254", OutputStdout,
		false, true, true, false, true, true, true,
		15 * time.Second, 10 * time.Second, 300 * time.Millisecond, 20 * time.Second, 128 << 20, slog.LevelInfo, nil}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if !c.Filter.Excluded("ecs-task-internalecspause-1", "amazon/amazon-ecs-pause:0.1.0") {
		t.Error("default filter keeps the ECS pause container")
	}
}

// TestPrecedence checks every pair of sources on one setting, and that each
// source is reported.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "site: file.example\nprocess_config:\n  intervals:\n    process: 30\n")
	for _, tc := range []struct {
		name       string
		flags      map[string]string
		env        []string
		file       string
		want, from string
	}{
		{"default", nil, nil, "", "datadoghq.com", "default"},
		{"file over default", nil, nil, file, "file.example", "file " + file + ":1"},
		{"env over default", nil, []string{"DD_SITE=env.example"}, "", "env.example", "env DD_SITE"},
		{"env over file", nil, []string{"DD_SITE=env.example"}, file, "env.example", "env DD_SITE"},
		{"flag over default", map[string]string{"site": "flag.example"}, nil, "", "flag.example", "flag -site"},
		{"flag over file", map[string]string{"site": "flag.example"}, nil, file, "flag.example", "flag -site"},
		{"flag over env", map[string]string{"site": "flag.example"}, []string{"DD_SITE=env.example"}, "", "flag.example", "flag -site"},
		{"flag over env over file", map[string]string{"site": "flag.example"}, []string{"DD_SITE=env.example"}, file, "flag.example", "flag -site"},
		{"empty env is unset", nil, []string{"DD_SITE="}, file, "file.example", "file " + file + ":1"},
		{"last duplicate env wins", nil, []string{"DD_SITE=a.example", "DD_SITE=b.example"}, "", "b.example", "env DD_SITE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, Sources{Env: tc.env, File: tc.file, Flags: tc.flags})
			if c.Site != tc.want || c.Source("site") != tc.from {
				t.Errorf("Site = %q from %q, want %q from %q", c.Site, c.Source("site"), tc.want, tc.from)
			}
		})
	}
	// The same order holds for a duration with flag, env and file names of its own.
	c := mustLoad(t, Sources{File: file, Env: []string{"DD_PROCESS_CONFIG_INTERVALS_PROCESS=40"}})
	if c.ProcessInterval != 40*time.Second {
		t.Errorf("ProcessInterval = %v, want env's 40s over the file's 30s", c.ProcessInterval)
	}
	c = mustLoad(t, Sources{File: file, Env: []string{"DD_PROCESS_CONFIG_INTERVALS_PROCESS=40"}, Flags: map[string]string{"process-interval": "5s"}})
	if c.ProcessInterval != 5*time.Second {
		t.Errorf("ProcessInterval = %v, want the flag's 5s", c.ProcessInterval)
	}
	c = mustLoad(t, Sources{File: file})
	if c.ProcessInterval != 30*time.Second {
		t.Errorf("ProcessInterval = %v, want the file's 30s", c.ProcessInterval)
	}
}

// TestEnvAliases checks that the first listed variable of a setting wins.
func TestEnvAliases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  []string
		get  func(*Config) string
		want string
	}{
		{[]string{"DD_URL=https://old.example", "DD_DD_URL=https://new.example"}, func(c *Config) string { return c.DDURL }, "https://new.example"},
		{[]string{"DD_URL=https://old.example"}, func(c *Config) string { return c.DDURL }, "https://old.example"},
		{[]string{"HTTPS_PROXY=http://std:1", "DD_PROXY_HTTPS=http://dd:1"}, func(c *Config) string { return c.ProxyHTTPS }, "http://dd:1"},
		{[]string{"https_proxy=http://lower:1"}, func(c *Config) string { return c.ProxyHTTPS }, "http://lower:1"},
		{[]string{"DD_PROCESS_CONFIG_SCRUB_ARGS=true", "DD_SCRUB_ARGS=false"}, func(c *Config) string { return fmt.Sprint(c.ScrubArgs) }, "false"},
		{[]string{"DD_PROCESS_AGENT_SCRUB_ARGS=false"}, func(c *Config) string { return fmt.Sprint(c.ScrubArgs) }, "false"},
		{[]string{"DD_PROCESS_CONFIG_STRIP_PROC_ARGUMENTS=true"}, func(c *Config) string { return fmt.Sprint(c.StripProcessArgs) }, "true"},
		{[]string{"DD_STRIP_PROCESS_ARGS=yes"}, func(c *Config) string { return fmt.Sprint(c.StripProcessArgs) }, "true"},
		{[]string{"DD_PROCESS_CONFIG_PROCESS_DD_URL=http://fake:8080/"}, func(c *Config) string { return c.ProcessURL() }, "http://fake:8080"},
		{[]string{"DD_AGENT_HOST=10.0.0.1"}, func(c *Config) string { return c.DogStatsDURL }, "udp://10.0.0.1:8125"},
		{[]string{"DD_AGENT_HOST=10.0.0.1", "DD_DOGSTATSD_PORT=9125"}, func(c *Config) string { return c.DogStatsDURL }, "udp://10.0.0.1:9125"},
		{[]string{"DD_AGENT_HOST=10.0.0.1", "DD_DOGSTATSD_URL=unix:///var/run/datadog/dsd.socket"}, func(c *Config) string { return c.DogStatsDURL }, "unix:///var/run/datadog/dsd.socket"},
		{[]string{"DD_AGENT_HOST=fd00::1"}, func(c *Config) string { return c.DogStatsDURL }, "udp://[fd00::1]:8125"},
		{[]string{"DD_CUSTOM_SENSITIVE_WORDS=personal_key,*token, sql*"}, func(c *Config) string { return strings.Join(c.CustomSensitiveWords, "|") }, "personal_key|*token|sql*"},
		{[]string{"DD_PROXY_NO_PROXY=a.example b.example,c.example"}, func(c *Config) string { return strings.Join(c.NoProxy, "|") }, "a.example|b.example|c.example"},
		{[]string{"DD_RUN_PATH=/run/dd"}, func(c *Config) string { return c.SpoolDir }, "/run/dd/whippet-spool"},
		{[]string{"DD_RUN_PATH=/run/dd", "DD_WHIPPET_SPOOL_DIR=/spool/"}, func(c *Config) string { return c.SpoolDir }, "/spool"},
		{[]string{"DD_WHIPPET_STATUS_ADDR=off"}, func(c *Config) string { return c.StatusAddr }, ""},
		{[]string{"DD_WHIPPET_STATUS_ADDR=0.0.0.0:5012", "DD_WHIPPET_STATUS_ALLOW_REMOTE=true"}, func(c *Config) string { return c.StatusAddr }, "0.0.0.0:5012"},
		{[]string{"DD_WHIPPET_STATUS_ADDR=[::1]:5012"}, func(c *Config) string { return c.StatusAddr }, "[::1]:5012"},
		{[]string{"DD_WHIPPET_STATUS_ADDR=localhost:0"}, func(c *Config) string { return c.StatusAddr }, "localhost:0"},
		{[]string{"DD_WHIPPET_SPOOL_MAX_BYTES=0"}, func(c *Config) string { return fmt.Sprint(c.SpoolMaxBytes) }, "0"},
		{[]string{"DD_WHIPPET_SPOOL_MAX_BYTES=2GB"}, func(c *Config) string { return fmt.Sprint(c.SpoolMaxBytes) }, "2000000000"},
		{[]string{"DD_WHIPPET_METRICS_INTERVAL=1m30s"}, func(c *Config) string { return c.MetricsInterval.String() }, "1m30s"},
		{[]string{"DD_SITE=DatadogHQ.EU"}, func(c *Config) string { return c.MetricsURL() }, "https://api.datadoghq.eu"},
		{[]string{"UNRELATED_DD_THING=1", "DD_LOGS_ENABLED=true", "DD_APM_ENABLED=false"}, func(c *Config) string { return c.Site }, "datadoghq.com"},
	} {
		t.Run(strings.Join(tc.env, " "), func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, Sources{Env: tc.env})
			if got := tc.get(c); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLogLevel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]slog.Level{
		"trace": LevelTrace, "DEBUG": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn,
		"Warning": slog.LevelWarn, "error": slog.LevelError, "critical": LevelCritical, "off": LevelOff,
	} {
		c := mustLoad(t, Sources{Env: []string{"DD_LOG_LEVEL=" + in}})
		if c.LogLevel != want {
			t.Errorf("DD_LOG_LEVEL=%s: LogLevel = %v, want %v", in, c.LogLevel, want)
		}
	}
	// cmd/agent's -log-level flag, passed through Flags, wins over the env.
	c := mustLoad(t, Sources{Env: []string{"DD_LOG_LEVEL=error"}, Flags: map[string]string{"log-level": "debug"}})
	if c.LogLevel != slog.LevelDebug {
		t.Errorf("-log-level debug over DD_LOG_LEVEL=error: LogLevel = %v", c.LogLevel)
	}
}

func TestParseBool(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{"true", true, false}, {"TRUE", true, false}, {"True", true, false}, {"1", true, false},
		{"yes", true, false}, {"YES", true, false},
		{"false", false, false}, {"False", false, false}, {"0", false, false}, {"no", false, false}, {"No", false, false},
		{"", false, true}, {"maybe", false, true}, {"2", false, true}, {"on", false, true}, {"t", false, true},
	} {
		got, err := parseBool(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("parseBool(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	// Through Load, from the file too.
	c := mustLoad(t, Sources{Env: []string{"DD_SKIP_SSL_VALIDATION=Yes"}, File: writeFile(t, "log_format_json: 1\n")})
	if !c.SkipSSLValidation || !c.LogFormatJSON {
		t.Errorf("SkipSSLValidation, LogFormatJSON = %v, %v; want true, true", c.SkipSSLValidation, c.LogFormatJSON)
	}
}

// TestValidation checks each message: setting, value, source and what is accepted.
func TestValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env   []string
		flags map[string]string
		want  string
	}{
		{[]string{"DD_LOG_LEVEL=verbose"}, nil, `DD_LOG_LEVEL="verbose" (env): want one of trace, debug, info, warn, error, critical, off`},
		{nil, map[string]string{"log-level": "loud"}, `-log-level="loud" (flag): want one of trace, debug, info, warn, error, critical, off`},
		{[]string{"DD_SCRUB_ARGS=maybe"}, nil, `DD_SCRUB_ARGS="maybe" (env): want true or false (or 1/0, yes/no)`},
		{nil, map[string]string{"pprof": "sometimes"}, `-pprof="sometimes" (flag): want true or false (or 1/0, yes/no)`},
		{[]string{"DD_WHIPPET_METRICS_INTERVAL=500ms"}, nil, `DD_WHIPPET_METRICS_INTERVAL="500ms" (env): want a duration ≥ 1s (e.g. 15s, or whole seconds: 15)`},
		{nil, map[string]string{"metrics-interval": "0"}, `-metrics-interval="0" (flag): want a duration ≥ 1s`},
		{[]string{"DD_PROCESS_CONFIG_INTERVALS_PROCESS=fast"}, nil, `DD_PROCESS_CONFIG_INTERVALS_PROCESS="fast" (env): want a duration ≥ 1s`},
		{[]string{"DD_PROCESS_CONFIG_INTERVALS_PROCESS=-5"}, nil, `DD_PROCESS_CONFIG_INTERVALS_PROCESS="-5" (env): want a duration ≥ 1s`},
		{[]string{"DD_WHIPPET_FLUSH_DEADLINE=30s"}, nil, `DD_WHIPPET_FLUSH_DEADLINE="30s" (env): want a duration ≥ 1s and < 30s`},
		{[]string{"DD_WHIPPET_IMDS_TIMEOUT=2m"}, nil, `DD_WHIPPET_IMDS_TIMEOUT="2m" (env): want a duration ≥ 1ms and ≤ 1m0s`},
		{[]string{"DD_DD_URL=ftp://intake.example"}, nil, `DD_DD_URL="ftp://intake.example" (env): want an http:// or https:// URL with a host`},
		{nil, map[string]string{"dd-url": "intake.example"}, `-dd-url="intake.example" (flag): want an http:// or https:// URL with a host`},
		{[]string{"DD_PROCESS_CONFIG_PROCESS_DD_URL=https://"}, nil, `DD_PROCESS_CONFIG_PROCESS_DD_URL="https://" (env): want an http:// or https:// URL`},
		{[]string{"DD_ECS_AGENT_URL=localhost:51678"}, nil, `DD_ECS_AGENT_URL="localhost:51678" (env): want an http:// or https:// URL`},
		{[]string{"DD_WHIPPET_IMDS_URL=169.254.169.254"}, nil, `DD_WHIPPET_IMDS_URL="169.254.169.254" (env): want an http:// or https:// URL`},
		{[]string{"DD_PROXY_HTTPS=socks5://p:1080"}, nil, `DD_PROXY_HTTPS="socks5://p:1080" (env): want an http:// or https:// URL`},
		{[]string{"DD_SITE=https://api.datadoghq.com"}, nil, `DD_SITE="https://api.datadoghq.com" (env): want a Datadog site host name such as datadoghq.com`},
		{[]string{"DD_DOGSTATSD_URL=localhost:8125"}, nil, `DD_DOGSTATSD_URL="localhost:8125" (env): want udp://host:port or unix:///path/to/socket`},
		{[]string{"DD_DOGSTATSD_URL=udp://localhost"}, nil, `DD_DOGSTATSD_URL="udp://localhost" (env): want udp://host:port`},
		{[]string{"DD_DOGSTATSD_PORT=70000"}, nil, `DD_DOGSTATSD_PORT="70000" (env): want a port number 1-65535`},
		{[]string{"DD_WHIPPET_OUTPUT=kafka"}, nil, `DD_WHIPPET_OUTPUT="kafka" (env): want one of auto, intake, dogstatsd, stdout, json, msgpack`},
		{nil, map[string]string{"output": "intake"}, `-output="intake" (flag): output intake needs an API key (DD_API_KEY or api_key)`},
		{[]string{"DD_WHIPPET_STATUS_ADDR=0.0.0.0:5012"}, nil, `DD_WHIPPET_STATUS_ADDR="0.0.0.0:5012" (env): not a loopback address; the status endpoint is local only unless DD_WHIPPET_STATUS_ALLOW_REMOTE=true`},
		{nil, map[string]string{"status-addr": ":5012"}, `-status-addr=":5012" (flag): not a loopback address`},
		{[]string{"DD_WHIPPET_STATUS_ADDR=5012"}, nil, `DD_WHIPPET_STATUS_ADDR="5012" (env): want host:port (e.g. 127.0.0.1:5012) or off`},
		{[]string{"DD_WHIPPET_SPOOL_MAX_BYTES=lots"}, nil, `DD_WHIPPET_SPOOL_MAX_BYTES="lots" (env): want a size in bytes ≥ 0, optionally with KiB, MiB, GiB`},
		{[]string{"DD_WHIPPET_SPOOL_MAX_BYTES=-1"}, nil, `DD_WHIPPET_SPOOL_MAX_BYTES="-1" (env): want a size in bytes ≥ 0`},
		{[]string{"DD_CUSTOM_SENSITIVE_WORDS=ok,bad-word"}, nil, `DD_CUSTOM_SENSITIVE_WORDS="ok,bad-word" (env): word "bad-word": want letters, digits, _ and * wildcards (no lone * or **)`},
		{[]string{"DD_CUSTOM_SENSITIVE_WORDS=*"}, nil, `word "*": want letters`},
		{[]string{"DD_CUSTOM_SENSITIVE_WORDS=a**b"}, nil, `word "a**b": want letters`},
		{[]string{"DD_CONTAINER_EXCLUDE=name:(unclosed"}, nil, `DD_CONTAINER_EXCLUDE="name:(unclosed" (env): entry "name:(unclosed": error parsing regexp: missing closing )`},
		{[]string{"DD_CONTAINER_INCLUDE=label:foo"}, nil, `DD_CONTAINER_INCLUDE="label:foo" (env): entry "label:foo": want name:<regexp> or image:<regexp>`},
		{[]string{"DD_CONTAINER_EXCLUDE_METRICS=image:"}, nil, `DD_CONTAINER_EXCLUDE_METRICS="image:" (env): entry "image:": empty regexp (use .* to match everything)`},
		{[]string{"DD_PROCESS_AGENT_ENABLED=sometimes"}, nil, `DD_PROCESS_AGENT_ENABLED="sometimes" (env): want true (processes and containers), false (containers only) or disabled`},
		{[]string{"DD_API_KEY=ENC[my_secret]"}, nil, `DD_API_KEY="***************************ret]" (env): secret backend references (ENC[…]) are not supported`},
		{[]string{"DD_ENV=!!!"}, nil, `DD_ENV="!!!" (env): want letters, digits and _ - : . /`},
		{[]string{"DD_WHIPPET_STATUS_ADR=127.0.0.1:1"}, nil, `DD_WHIPPET_STATUS_ADR (env): unknown whippet setting; did you mean "DD_WHIPPET_STATUS_ADDR"?`},
		{[]string{"DD_WHIPPET_NOTHING_LIKE_IT=1"}, nil, `DD_WHIPPET_NOTHING_LIKE_IT (env): unknown whippet setting`},
		{nil, map[string]string{"api-key": "x"}, `-api-key (flag): not a configuration flag`},
		{[]string{"DD_WHIPPET_CONFIG=/nonexistent/datadog.yaml"}, nil, `read config file: open /nonexistent/datadog.yaml: no such file or directory`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			c, err := Load(Sources{Env: tc.env, Flags: tc.flags})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load(env %q, flags %v) error = %v, want it to contain %q", tc.env, tc.flags, err, tc.want)
			}
			if c != nil {
				t.Errorf("Load returned a Config with an error")
			}
		})
	}
}

// TestAllErrors checks that every bad value is reported, not just the first.
func TestAllErrors(t *testing.T) {
	t.Parallel()
	_, err := Load(Sources{
		Env:   []string{"DD_LOG_LEVEL=verbose", "DD_SCRUB_ARGS=maybe", "DD_DD_URL=nope"},
		Flags: map[string]string{"metrics-interval": "0s"},
		File:  "testdata/bad_values.yaml",
	})
	if err == nil {
		t.Fatal("Load: no error")
	}
	for _, want := range []string{
		"DD_LOG_LEVEL=", "DD_SCRUB_ARGS=", "DD_DD_URL=", "-metrics-interval=",
		"tags (file testdata/bad_values.yaml:4): want a value, not a mapping",
		"whippet (file testdata/bad_values.yaml:6): want a mapping of settings",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// The file's own bad value is reported with its line when no env var hides it.
	_, err = Load(Sources{File: "testdata/bad_values.yaml"})
	for _, want := range []string{
		`log_level="verbose" (file testdata/bad_values.yaml:1): want one of trace`,
		`process_config.scrub_args="maybe" (file testdata/bad_values.yaml:3): want true or false`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestYAML(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, Sources{File: "testdata/datadog.yaml"})
	type view struct {
		APIKey, Site, Hostname, Env, ProxyHTTPS, RunPath, SpoolDir string
		Tags, NoProxy, Words, Exclude                              []string
		Process, Containers, Scrub, Docker                         bool
		ProcessIv, Metrics, Flush                                  time.Duration
		SpoolMax                                                   int64
		Output                                                     Output
	}
	got := view{c.APIKey, c.Site, c.Hostname, c.Env, c.ProxyHTTPS, c.RunPath, c.SpoolDir,
		c.Tags, c.NoProxy, c.CustomSensitiveWords, c.ContainerExclude,
		c.ProcessEnabled, c.ContainersEnabled, c.ScrubArgs, c.DockerMetrics,
		c.ProcessInterval, c.MetricsInterval, c.FlushDeadline, c.SpoolMaxBytes, c.Output}
	want := view{"0123456789abcdef0123456789abcdef", "datadoghq.eu", "web-1.example.com", "prod",
		"http://user:hunter2@proxy.internal:3128", "/var/run/dd", "/var/run/dd/whippet-spool",
		[]string{"team:core", "service:web"}, []string{"169.254.169.254", "169.254.170.2"},
		[]string{"personal_key", "*token"}, []string{"image:datadog/agent", "name:^ecs-agent$"},
		true, true, false, false,
		20 * time.Second, 30 * time.Second, 25 * time.Second, 64 << 20, OutputIntake}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("datadog.yaml (-want +got):\n%s", diff)
	}
	if got, want := c.Source("process_config.scrub_args"), "file testdata/datadog.yaml:22"; got != want {
		t.Errorf("Source(scrub_args) = %q, want %q", got, want)
	}
	if !c.Filter.Excluded("/ecs-agent", "amazon/amazon-ecs-agent:latest") || c.Filter.Excluded("ecs-agent-2", "x") {
		t.Error("container_exclude from the file not applied")
	}
	if diff := cmp.Diff([]string{"team:core", "service:web", "env:prod"}, c.HostTags()); diff != "" {
		t.Errorf("HostTags (-want +got):\n%s", diff)
	}
}

func TestYAMLUnknownKeys(t *testing.T) {
	t.Parallel()
	_, err := Load(Sources{File: "testdata/typo.yaml"})
	if err == nil {
		t.Fatal("Load(typo.yaml): no error")
	}
	want := strings.Join([]string{
		`process_config.scrub_arg (file testdata/typo.yaml:3): unknown setting; did you mean "process_config.scrub_args"?`,
		`whippet.metrics_intervall (file testdata/typo.yaml:5): unknown setting; did you mean "whippet.metrics_interval"?`,
		`sitee (file testdata/typo.yaml:6): unknown setting; did you mean "site"?`,
		`totally_unknown_key (file testdata/typo.yaml:7): unknown setting`,
	}, "\n")
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("Load(typo.yaml) error (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ file, want string }{
		{"testdata/list.yaml", "config file testdata/list.yaml: want a mapping of settings at the top level"},
		{writeFile(t, "site: [unclosed\n"), "parse config file"},
		{writeFile(t, "scrub_args: true\n"), `scrub_args (file `}, // at the top level instead of under process_config
		{writeFile(t, "site:\n  - a\n  - b\n"), `want a single value, not a list`},
		{writeFile(t, "tags:\n  - {a: b}\n"), `tags (file `},
	} {
		if _, err := Load(Sources{File: tc.file}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) error = %v, want it to contain %q", tc.file, err, tc.want)
		}
	}
	if _, err := Load(Sources{File: writeFile(t, "scrub_args: true\n")}); err == nil || !strings.Contains(err.Error(), `did you mean "process_config.scrub_args"?`) {
		t.Errorf("top-level scrub_args: error %v, want a suggestion of the nested key", err)
	}
	// An empty file and a key with no value are fine.
	c := mustLoad(t, Sources{File: "testdata/empty.yaml"})
	if c.Site != "datadoghq.com" {
		t.Errorf("empty file: Site = %q", c.Site)
	}
	c = mustLoad(t, Sources{File: writeFile(t, "hostname:\nsite: datadoghq.eu\n")})
	if c.Hostname != "" || c.Site != "datadoghq.eu" {
		t.Errorf("hostname with no value: Hostname %q Site %q", c.Hostname, c.Site)
	}
}

func TestYAMLIgnoredAgentKeys(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, Sources{File: "testdata/datadog.yaml"})
	want := []string{
		"logs_enabled (file testdata/datadog.yaml:9): a Datadog agent setting whippet does not use; ignored",
		"apm_config (file testdata/datadog.yaml:10): a Datadog agent setting whippet does not use; ignored",
		"dogstatsd_non_local_traffic (file testdata/datadog.yaml:13): a Datadog agent setting whippet does not use; ignored",
		"process_config.intervals.container (file testdata/datadog.yaml:26): a Datadog agent setting whippet does not use; ignored",
		"process_config.process_discovery (file testdata/datadog.yaml:27): a Datadog agent setting whippet does not use; ignored",
		`tags (file testdata/datadog.yaml:5): tag "Service:Web" normalized to "service:web"`,
	}
	if diff := cmp.Diff(want, c.Warnings); diff != "" {
		t.Errorf("Warnings (-want +got):\n%s", diff)
	}
}

// TestProcessSwitches is the legacy × newer matrix: the legacy switch fills in
// the newer ones the user left unset; a set newer one wins.
func TestProcessSwitches(t *testing.T) {
	t.Parallel()
	const (
		legacy = "DD_PROCESS_AGENT_ENABLED="
		proc   = "DD_PROCESS_CONFIG_PROCESS_COLLECTION_ENABLED="
		cont   = "DD_PROCESS_CONFIG_CONTAINER_COLLECTION_ENABLED="
	)
	for _, tc := range []struct {
		env        []string
		proc, cont bool
	}{
		{nil, false, true},
		{[]string{legacy + "true"}, true, true},
		{[]string{legacy + "TRUE"}, true, true},
		{[]string{legacy + "1"}, true, true},
		{[]string{legacy + "false"}, false, true},
		{[]string{legacy + "disabled"}, false, false},
		{[]string{legacy + "Disabled"}, false, false},
		{[]string{"DD_PROCESS_CONFIG_ENABLED=true"}, true, true},
		{[]string{proc + "true"}, true, true},
		{[]string{cont + "false"}, false, false},
		{[]string{proc + "true", cont + "false"}, true, false},
		{[]string{legacy + "true", proc + "false"}, false, true},
		{[]string{legacy + "true", cont + "false"}, true, false},
		{[]string{legacy + "disabled", proc + "true"}, true, false},
		{[]string{legacy + "disabled", cont + "true"}, false, true},
		{[]string{legacy + "false", proc + "true"}, true, true},
		{[]string{legacy + "true", proc + "false", cont + "false"}, false, false},
	} {
		t.Run(strings.Join(tc.env, " "), func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, Sources{Env: tc.env})
			if c.ProcessEnabled != tc.proc || c.ContainersEnabled != tc.cont {
				t.Errorf("ProcessEnabled, ContainersEnabled = %v, %v; want %v, %v", c.ProcessEnabled, c.ContainersEnabled, tc.proc, tc.cont)
			}
		})
	}
	// The legacy key in the file, a newer key from the env.
	c := mustLoad(t, Sources{File: writeFile(t, "process_config:\n  enabled: \"true\"\n"), Env: []string{cont + "false"}})
	if !c.ProcessEnabled || c.ContainersEnabled {
		t.Errorf("file legacy true + env containers false: %v, %v", c.ProcessEnabled, c.ContainersEnabled)
	}
	if got, want := c.Source("process_config.process_collection.enabled"), "from file "; !strings.HasPrefix(got, want) {
		t.Errorf("Source(process_collection) = %q, want it derived from the file (%q…)", got, want)
	}
	if got, want := c.Source("process_config.container_collection.enabled"), "env DD_PROCESS_CONFIG_CONTAINER_COLLECTION_ENABLED"; got != want {
		t.Errorf("Source(container_collection) = %q, want %q", got, want)
	}
}

func TestOutputAuto(t *testing.T) {
	t.Parallel()
	const key = "DD_API_KEY=0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		env    []string
		flags  map[string]string
		want   Output
		target string
	}{
		{nil, nil, OutputStdout, ""},
		{[]string{key}, nil, OutputIntake, ""},
		{[]string{"DD_AGENT_HOST=172.17.0.1"}, nil, OutputDogStatsD, "udp://172.17.0.1:8125"},
		{[]string{key, "DD_AGENT_HOST=172.17.0.1"}, nil, OutputIntake, "udp://172.17.0.1:8125"},
		{[]string{"DD_DOGSTATSD_URL=unix:///dsd.sock"}, nil, OutputDogStatsD, "unix:///dsd.sock"},
		{nil, map[string]string{"output": "dogstatsd"}, OutputDogStatsD, "udp://localhost:8125"},
		{[]string{key, "DD_WHIPPET_OUTPUT=json"}, nil, OutputJSON, ""},
		{[]string{key, "DD_WHIPPET_OUTPUT=json"}, map[string]string{"output": "msgpack"}, OutputMsgpack, ""},
	} {
		c := mustLoad(t, Sources{Env: tc.env, Flags: tc.flags})
		if c.Output != tc.want || c.DogStatsDURL != tc.target {
			t.Errorf("env %q flags %v: Output %q target %q, want %q %q", tc.env, tc.flags, c.Output, c.DogStatsDURL, tc.want, tc.target)
		}
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, Sources{Env: []string{
		"DD_TAGS=team:core,Service:Web  owner:ops 9lives:x ###",
		"DD_EXTRA_TAGS=zone:a team:core env:staging",
		"DD_ENV=Prod",
	}})
	if diff := cmp.Diff([]string{"team:core", "service:web", "owner:ops", "lives:x"}, c.Tags); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"team:core", "service:web", "owner:ops", "lives:x", "zone:a", "env:staging"}, c.HostTags()); diff != "" {
		t.Errorf("HostTags with a tag setting env (-want +got):\n%s", diff)
	}
	wantWarn := []string{
		`DD_TAGS (env): tag "Service:Web" normalized to "service:web"`,
		`DD_TAGS (env): tag "9lives:x" normalized to "lives:x"`,
		`DD_TAGS (env): tag "###" has no letter to start with: dropped`,
		`DD_ENV (env): normalized to "prod"`,
	}
	if diff := cmp.Diff(wantWarn, c.Warnings); diff != "" {
		t.Errorf("Warnings (-want +got):\n%s", diff)
	}
	for in, want := range map[string]string{
		"a b":                    "a_b",
		"Key:Välue":              "key:välue",
		"a!!b":                   "a_b",
		"path:/x/y.z-w":          "path:/x/y.z-w",
		strings.Repeat("a", 300): strings.Repeat("a", 200),
	} {
		if got := normalizeTag(in); got != want {
			t.Errorf("normalizeTag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHostname(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, Sources{Env: []string{"DD_HOSTNAME=bad_host!"}})
	if c.Hostname != "" || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "DD_HOSTNAME (env): not a valid host name") {
		t.Errorf("invalid hostname: Hostname %q, Warnings %q", c.Hostname, c.Warnings)
	}
	c = mustLoad(t, Sources{Flags: map[string]string{"hostname": "ip-10-0-0-1.ec2.internal"}, Env: []string{"DD_HOSTNAME_FORCE_CONFIG_AS_CANONICAL=true"}})
	if c.Hostname != "ip-10-0-0-1.ec2.internal" || !c.HostnameForceConfigAsCanonical {
		t.Errorf("Hostname %q, force %v", c.Hostname, c.HostnameForceConfigAsCanonical)
	}
}

// TestRedaction loads a canary key through every source and checks it never
// appears in Print output or in any error.
func TestRedaction(t *testing.T) {
	t.Parallel()
	const canary = "c4a7a1c4a7a1c4a7a1c4a7a1c4a7f00d"
	const proxyPass = "pr0xyS3cret"
	file := writeFile(t, "api_key: "+canary+"\nlog_level: verbose\n")
	bad := []string{"DD_LOG_LEVEL=verbose", "DD_WHIPPET_STATUS_ADDR=0.0.0.0:1", "DD_PROXY_HTTP=socks5://u:" + proxyPass + "@p:1"}
	for _, src := range []Sources{
		{Env: append([]string{"DD_API_KEY=" + canary}, bad...)},
		{File: file, Env: bad},
		{Env: []string{"DD_API_KEY=" + canary + " with space"}},
		{Env: []string{"DD_API_KEY=" + canary, "DD_PROXY_HTTPS=http://u:" + proxyPass + "@bad host:1"}},
		{Env: []string{"DD_API_KEY=" + canary, "DD_DD_URL=ftp://u:" + proxyPass + "@x"}},
	} {
		_, err := Load(src)
		if err == nil {
			t.Fatalf("Load(%v): no error", src)
		}
		if s := err.Error(); strings.Contains(s, canary) || strings.Contains(s, canary[:8]) || strings.Contains(s, proxyPass) {
			t.Errorf("error leaks a secret: %s", s)
		}
	}
	c := mustLoad(t, Sources{Env: []string{"DD_API_KEY= " + canary[:31] + " ", "DD_PROXY_HTTPS=http://user:" + proxyPass + "@proxy:3128"}})
	if w := strings.Join(c.Warnings, "\n"); !strings.Contains(w, "DD_API_KEY (env): not 32 hexadecimal digits") || strings.Contains(w, canary[:8]) {
		t.Errorf("Warnings for a 31-digit key: %q", w)
	}
	c = mustLoad(t, Sources{Env: []string{"DD_API_KEY=" + canary, "DD_PROXY_HTTPS=http://user:" + proxyPass + "@proxy:3128"}})
	if len(c.Warnings) != 0 {
		t.Errorf("Warnings for a good key: %q", c.Warnings)
	}
	if got, want := c.RedactedKey(), "***************************f00d"; got != want {
		t.Errorf("RedactedKey() = %q, want %q", got, want)
	}
	for _, asJSON := range []bool{false, true} {
		var b bytes.Buffer
		if err := c.Print(&b, asJSON); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if strings.Contains(out, canary) || strings.Contains(out, canary[:8]) || strings.Contains(out, proxyPass) {
			t.Errorf("Print(json=%v) leaks a secret:\n%s", asJSON, out)
		}
		if !strings.Contains(out, "***************************f00d") || !strings.Contains(out, "http://user:xxxxx@proxy:3128") {
			t.Errorf("Print(json=%v) lacks the redacted key or proxy:\n%s", asJSON, out)
		}
	}
	for in, want := range map[string]string{"": "", "short": keyMask, "0123456789ab": keyMask + "89ab"} {
		if got := redactKey(in); got != want {
			t.Errorf("redactKey(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"http://u:p@h:1":        "http://u:xxxxx@h:1",
		"http://u:p@bad host:1": "http://xxxxx@bad host:1",
		"u:p@host":              "xxxxx@host",
		"http://h:1":            "http://h:1",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrint(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, Sources{Env: []string{"DD_SITE=datadoghq.eu", "DD_TAGS=Team:X"}, Flags: map[string]string{"pprof": "true"}})
	var b bytes.Buffer
	if err := c.Print(&b, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"SETTING", "site", "datadoghq.eu", "env DD_SITE", "whippet.pprof", "flag -pprof",
		"https://api.datadoghq.eu", "warning: DD_TAGS (env): tag \"Team:X\" normalized to \"team:x\"",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Print text lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := c.Print(&b, true); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Settings []Row
		Warnings []string
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("Print json: %v\n%s", err, b.String())
	}
	if len(got.Settings) != len(settings)+4 || len(got.Warnings) != 1 {
		t.Errorf("Print json: %d rows, %d warnings; want %d, 1", len(got.Settings), len(got.Warnings), len(settings)+4)
	}
	for _, r := range got.Settings {
		if r.Key == "whippet.pprof" && (r.Value != true || r.Source != "flag -pprof") {
			t.Errorf("pprof row = %+v", r)
		}
	}
}

func TestRegisterFlags(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	logLevel := fs.String("log-level", "info", "owned by cmd/agent")
	interval := fs.Duration("interval", 0, "owned by cmd/agent")
	setFlags := RegisterFlags(fs)
	if err := fs.Parse([]string{"-site", "datadoghq.eu", "-pprof", "-tags=a:b c:d", "-log-level", "debug", "-interval", "5s", "-metrics-interval", "20s"}); err != nil {
		t.Fatal(err)
	}
	got := setFlags()
	want := map[string]string{"site": "datadoghq.eu", "pprof": "true", "tags": "a:b c:d", "log-level": "debug", "metrics-interval": "20s"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("set flags (-want +got):\n%s", diff)
	}
	if *logLevel != "debug" || *interval != 5*time.Second {
		t.Errorf("cmd/agent's flags disturbed: %q %v", *logLevel, *interval)
	}
	c := mustLoad(t, Sources{Flags: got})
	if c.Site != "datadoghq.eu" || !c.Pprof || c.LogLevel != slog.LevelDebug || c.MetricsInterval != 20*time.Second || len(c.Tags) != 2 {
		t.Errorf("Load from flags: %+v", c)
	}
	if fs.Lookup("api-key") != nil {
		t.Error("-api-key is defined: secrets must not go in argv")
	}
	for _, name := range []string{"config", "site", "hostname", "tags", "output", "metrics-interval", "process-interval", "spool-dir", "status-addr", "dd-url", "pprof"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag -%s not defined", name)
		}
	}
	// -config names the file and wins over Sources.File.
	file := writeFile(t, "site: us5.datadoghq.com\n")
	c = mustLoad(t, Sources{File: "testdata/typo.yaml", Flags: map[string]string{"config": file}})
	if c.Site != "us5.datadoghq.com" {
		t.Errorf("-config: Site = %q", c.Site)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := Describe(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	rows := 0
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "| ") {
			rows++
		}
	}
	if rows != len(settings)+1 {
		t.Errorf("Describe: %d table rows, want %d settings and a header", rows, len(settings))
	}
	for _, s := range settings {
		for _, e := range s.env {
			if !strings.Contains(out, "`"+e+"`") {
				t.Errorf("Describe lacks %s", e)
			}
		}
		if s.flag != "" && !strings.Contains(out, "`-"+s.flag+"`") {
			t.Errorf("Describe lacks -%s", s.flag)
		}
		if s.doc == "" {
			t.Errorf("setting %s has no doc", s.key)
		}
	}
}

// TestTable checks the table itself: defaults parse, names are unique.
func TestTable(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, s := range settings {
		names := append([]string{"key " + s.key, "flag " + s.flag, "yaml " + s.yaml}, s.env...)
		for _, n := range names {
			if n == "flag " || n == "yaml " {
				continue
			}
			if prev, dup := seen[n]; dup {
				t.Errorf("%s used by %s and %s", n, prev, s.key)
			}
			seen[n] = s.key
		}
		if s.yaml != "" && s.key != s.yaml {
			t.Errorf("setting %s: key differs from yaml %s", s.key, s.yaml)
		}
	}
}
