// Package config loads whippet's settings the way the Datadog agent reads its own,
// so the agent's ECS task definition (DD_* variables) and datadog.yaml work
// unchanged: flags > environment > YAML file > defaults, every setting described
// once in one table (settings.go) that drives loading, flags, validation,
// --print-config and the README reference.
//
// Process collection follows the agent: off unless DD_PROCESS_AGENT_ENABLED=true
// (legacy) or DD_PROCESS_CONFIG_PROCESS_COLLECTION_ENABLED=true. The legacy switch
// only fills in the newer ones: a newer key set by the user (any source) wins over
// it, as in the agent since 7.5x (pkg/config/setup/process.go loadProcessTransforms).
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Extra slog levels for the agent's trace, critical and off.
const (
	LevelTrace    slog.Level = slog.LevelDebug - 4
	LevelCritical slog.Level = slog.LevelError + 4
	LevelOff      slog.Level = 1<<31 - 1
)

// Output is where collected data goes.
type Output string

// Outputs. OutputAuto is resolved by Load and never left in a Config.
const (
	OutputAuto      Output = "auto"
	OutputIntake    Output = "intake"
	OutputDogStatsD Output = "dogstatsd"
	OutputStdout    Output = "stdout"
	OutputJSON      Output = "json"
	OutputMsgpack   Output = "msgpack"
)

// SpoolSubdir is the spool's directory under the agent's run path.
const SpoolSubdir = "whippet-spool"

// Sources are the inputs Load merges.
type Sources struct {
	Env   []string          // os.Environ() form; empty values count as unset, as in the agent
	File  string            // YAML file in datadog.yaml layout; "" = none (overridden by -config, DD_WHIPPET_CONFIG)
	Flags map[string]string // flags the user set, by name without "-" (see RegisterFlags)
}

// Config is whippet's resolved configuration. Load fills every field.
type Config struct {
	APIKey                         string
	Site                           string
	DDURL                          string // metrics base URL override; "" = https://api.<Site>
	ProcessDDURL                   string // process intake base URL override; "" = https://process.<Site>
	Hostname                       string // configured host name; "" = detect (datadog-compat §3.8)
	HostnameForceConfigAsCanonical bool
	Tags                           []string // normalized host tags
	ExtraTags                      []string
	Env                            string
	ProcessEnabled                 bool // Live Processes
	ContainersEnabled              bool // Live Containers
	LogLevel                       slog.Level
	LogFormatJSON                  bool
	ProxyHTTPS                     string
	ProxyHTTP                      string
	NoProxy                        []string
	SkipSSLValidation              bool
	DogStatsDURL                   string // udp://host:port or unix:///path; "" = none configured
	Output                         Output // resolved, never OutputAuto
	ScrubArgs                      bool
	CustomSensitiveWords           []string
	StripProcessArgs               bool
	MetricsInterval                time.Duration
	ProcessInterval                time.Duration
	DockerMetrics                  bool // docker.* family
	ContainerMetrics               bool // container.* family
	RunPath                        string
	SpoolDir                       string
	SpoolMaxBytes                  int64
	StatusAddr                     string // "" = status endpoint off
	StatusAllowRemote              bool
	Pprof                          bool
	ECSAgentURL                    string // "" = detect
	IMDSURL                        string
	IMDSTimeout                    time.Duration
	FlushDeadline                  time.Duration
	ContainerExclude               []string
	ContainerInclude               []string
	ContainerExcludeMetrics        []string
	ContainerIncludeMetrics        []string
	ExcludePauseContainer          bool
	Filter                         *Filter // containers to leave out entirely
	MetricsFilter                  *Filter // containers to leave out of metrics (Filter plus the _metrics lists)

	// Warnings are notes for the log: ignored agent keys, normalized tags.
	Warnings []string

	// Raw values the resolution step combines.
	configPath    string
	legacyProcess string
	agentHost     string
	dogstatsdPort int64
	output        Output
	spoolDirSet   string

	origins map[string]origin // by setting key
}

// MetricsURL is the base URL series go to.
func (c *Config) MetricsURL() string {
	if c.DDURL != "" {
		return strings.TrimRight(c.DDURL, "/")
	}
	return "https://api." + c.Site
}

// ProcessURL is the base URL Live Processes payloads go to.
func (c *Config) ProcessURL() string {
	if c.ProcessDDURL != "" {
		return strings.TrimRight(c.ProcessDDURL, "/")
	}
	return "https://process." + c.Site
}

// HostTags are Tags, ExtraTags and env:<Env> (unless a tag already sets env),
// without duplicates, in that order.
func (c *Config) HostTags() []string {
	out := make([]string, 0, len(c.Tags)+len(c.ExtraTags)+1)
	hasEnv := false
	for _, t := range slices.Concat(c.Tags, c.ExtraTags) {
		if slices.Contains(out, t) {
			continue
		}
		hasEnv = hasEnv || strings.HasPrefix(t, "env:")
		out = append(out, t)
	}
	if c.Env != "" && !hasEnv {
		out = append(out, "env:"+c.Env)
	}
	return out
}

// Source tells where a setting's value came from: "flag -site", "env DD_SITE",
// "file site", "default" (key as in Describe's first column).
func (c *Config) Source(key string) string {
	o, ok := c.origins[key]
	if !ok {
		return ""
	}
	return o.String()
}

type sourceKind int

const (
	fromDefault sourceKind = iota
	fromFile
	fromEnv
	fromFlag
	fromDerived // set by another setting (the legacy process switch)
)

// origin is where one setting's value came from, and the raw text, for messages.
type origin struct {
	kind sourceKind
	name string // DD_SITE, site, -site
	file string
	val  raw
}

func (o origin) String() string {
	switch o.kind {
	case fromFlag:
		return "flag -" + o.name
	case fromEnv:
		return "env " + o.name
	case fromFile:
		return "file " + o.file
	case fromDerived:
		return "from " + o.name
	}
	return "default"
}

// label names a setting by where its value came from: "DD_TAGS (env)".
func (o origin) label() string {
	switch o.kind {
	case fromFlag:
		return "-" + o.name + " (flag)"
	case fromEnv:
		return o.name + " (env)"
	case fromFile:
		return o.name + " (file " + o.file + ")"
	}
	return o.name + " (" + o.String() + ")"
}

// describe renders `NAME="value" (source)` for an error, the value through
// redact (never the secret itself).
func (o origin) describe(redact func(string) string) string {
	v := o.val.text()
	if redact != nil {
		v = redact(v)
	}
	switch o.kind {
	case fromFlag:
		return fmt.Sprintf("-%s=%q (flag)", o.name, v)
	case fromEnv:
		return fmt.Sprintf("%s=%q (env)", o.name, v)
	case fromFile:
		return fmt.Sprintf("%s=%q (file %s)", o.name, v, o.file)
	case fromDerived:
		return fmt.Sprintf("%s=%q (%s)", o.name, v, o.String())
	}
	return fmt.Sprintf("%s=%q (default)", o.name, v)
}

// raw is a value as given: a scalar, or a YAML sequence.
type raw struct {
	s      string
	list   []string
	isList bool
	line   int // in the YAML file
}

func (r raw) text() string {
	if r.isList {
		return "[" + strings.Join(r.list, " ") + "]"
	}
	return r.s
}

// Load merges src over the defaults and validates the result. Every bad value
// is reported (errors.Join), each naming the setting, its source and what is
// accepted; no error text contains a secret.
func Load(src Sources) (*Config, error) {
	env := environ(src.Env)
	c := &Config{origins: map[string]origin{}}
	var errs []error
	for _, name := range sortedKeys(src.Flags) {
		if settingByFlag(name) == nil {
			errs = append(errs, fmt.Errorf("-%s (flag): not a configuration flag", name))
		}
	}
	for _, name := range sortedKeys(env) {
		if strings.HasPrefix(name, "DD_WHIPPET_") && settingByEnv(name) == nil {
			errs = append(errs, fmt.Errorf("%s (env): unknown whippet setting%s", name, suggest(name, allEnvNames())))
		}
	}

	// The file path is itself a setting: -config > DD_WHIPPET_CONFIG > src.File.
	cfgSetting := settingByKey("config")
	o, ok := pick(cfgSetting, src.Flags, env, nil, "")
	switch {
	case !ok && src.File != "":
		o = origin{kind: fromDerived, name: "the caller (Sources.File)", val: raw{s: src.File}}
	case !ok:
		o = origin{kind: fromDefault, name: "config"}
	}
	c.origins["config"] = o
	c.configPath = o.val.s
	var file map[string]raw
	if c.configPath != "" {
		var err error
		file, err = readFile(c.configPath, &c.Warnings)
		if err != nil {
			errs = append(errs, err)
		}
	}

	for i := range settings {
		s := &settings[i]
		if s.key == "config" {
			continue
		}
		o, ok := pick(s, src.Flags, env, file, c.configPath)
		if !ok {
			o = origin{kind: fromDefault, name: s.displayName(), val: raw{s: s.def}}
		}
		c.origins[s.key] = o
		warn := func(msg string) { c.Warnings = append(c.Warnings, o.label()+": "+msg) }
		if err := s.v.set(c, o.val, warn); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.describe(s.redact), err))
		}
	}
	if err := c.resolve(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// pick finds a setting's value by precedence: flag, env (in the table's order), file.
func pick(s *setting, flags, env map[string]string, file map[string]raw, path string) (origin, bool) {
	if s.flag != "" {
		if v, ok := flags[s.flag]; ok {
			return origin{kind: fromFlag, name: s.flag, val: raw{s: v}}, true
		}
	}
	for _, name := range s.env {
		if v, ok := env[name]; ok {
			return origin{kind: fromEnv, name: name, val: raw{s: v}}, true
		}
	}
	if s.yaml != "" {
		if v, ok := file[s.yaml]; ok {
			return origin{kind: fromFile, name: s.yaml, file: fmt.Sprintf("%s:%d", path, v.line), val: v}, true
		}
	}
	return origin{}, false
}

// environ maps os.Environ() entries; the last of duplicates wins, as in exec,
// and empty values count as unset, as in the agent (viper AllowEmptyEnv false).
func environ(kv []string) map[string]string {
	m := make(map[string]string, len(kv))
	for _, e := range kv {
		k, v, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			continue
		}
		if v == "" {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// readFile reads a datadog.yaml-layout file into values by dotted key.
func readFile(path string, warnings *[]string) (map[string]raw, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	return parseFile(b, path, warnings)
}

// parseFile parses datadog.yaml-layout text; path is for messages.
func parseFile(b []byte, path string, warnings *[]string) (map[string]raw, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse config file %s: %w", path, err)
	}
	vals := map[string]raw{}
	if len(doc.Content) == 0 { // empty file
		return vals, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config file %s: want a mapping of settings at the top level", path)
	}
	var errs []error
	walkYAML(root, "", path, vals, warnings, &errs)
	return vals, errors.Join(errs...)
}

func walkYAML(m *yaml.Node, prefix, path string, vals map[string]raw, warnings *[]string, errs *[]error) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := prefix + k.Value
		where := fmt.Sprintf("%s:%d", path, k.Line)
		switch {
		case settingByYAML(key) != nil:
			switch {
			case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
				// "key:" with no value: unset, as in the agent.
			case v.Kind == yaml.ScalarNode:
				vals[key] = raw{s: v.Value, line: k.Line}
			case v.Kind == yaml.SequenceNode:
				r := raw{isList: true, line: k.Line}
				for _, item := range v.Content {
					if item.Kind != yaml.ScalarNode {
						*errs = append(*errs, fmt.Errorf("%s (file %s): want a list of strings", key, where))
						break
					}
					r.list = append(r.list, item.Value)
				}
				vals[key] = r
			default:
				*errs = append(*errs, fmt.Errorf("%s (file %s): want a value, not a mapping", key, where))
			}
		case isSection(key) && v.Kind == yaml.MappingNode:
			walkYAML(v, key+".", path, vals, warnings, errs)
		case isSection(key):
			*errs = append(*errs, fmt.Errorf("%s (file %s): want a mapping of settings", key, where))
		default:
			s := suggest(key, allYAMLKeys())
			if !ignoredExplicit(key) && (s != "" || !ignoredFamily(key)) {
				*errs = append(*errs, fmt.Errorf("%s (file %s): unknown setting%s", key, where, s))
				continue
			}
			*warnings = append(*warnings, fmt.Sprintf("%s (file %s): a Datadog agent setting whippet does not use; ignored", key, where))
		}
	}
}

// resolve combines settings that depend on each other and checks what no
// single setting can.
func (c *Config) resolve() error {
	var errs []error
	c.resolveProcess()

	switch {
	case c.DogStatsDURL != "":
	case c.agentHost != "" && strings.Contains(c.agentHost, "://"):
		c.DogStatsDURL = c.agentHost
	case c.agentHost != "":
		c.DogStatsDURL = "udp://" + net.JoinHostPort(c.agentHost, fmt.Sprint(c.dogstatsdPort))
	}
	c.Output = c.output
	switch c.output {
	case OutputAuto:
		switch {
		case c.APIKey != "":
			c.Output = OutputIntake
		case c.DogStatsDURL != "":
			c.Output = OutputDogStatsD
		default:
			c.Output = OutputStdout
		}
	case OutputIntake:
		if c.APIKey == "" {
			errs = append(errs, fmt.Errorf("%s: output intake needs an API key (DD_API_KEY or api_key)", c.origins["whippet.output"].describe(nil)))
		}
	case OutputDogStatsD:
		if c.DogStatsDURL == "" {
			c.DogStatsDURL = "udp://localhost:" + fmt.Sprint(c.dogstatsdPort) // datadog-go's default
		}
	}

	c.SpoolDir = c.spoolDirSet
	if c.SpoolDir == "" {
		c.SpoolDir = filepath.Join(c.RunPath, SpoolSubdir)
	}

	if c.StatusAddr != "" && !c.StatusAllowRemote && !loopback(c.StatusAddr) {
		errs = append(errs, fmt.Errorf("%s: not a loopback address; the status endpoint is local only unless DD_WHIPPET_STATUS_ALLOW_REMOTE=true",
			c.origins["whippet.status_addr"].describe(nil)))
	}

	var err error
	if c.Filter, err = NewFilter(c.ContainerExclude, c.ContainerInclude, c.ExcludePauseContainer); err != nil {
		errs = append(errs, err) // unreachable: the lists' setters keep only valid entries
	}
	if c.MetricsFilter, err = NewFilter(slices.Concat(c.ContainerExclude, c.ContainerExcludeMetrics),
		slices.Concat(c.ContainerInclude, c.ContainerIncludeMetrics), c.ExcludePauseContainer); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// resolveProcess applies the legacy process_config.enabled to the newer switches
// the user did not set.
func (c *Config) resolveProcess() {
	legacy := c.origins["process_config.enabled"]
	if legacy.kind == fromDefault || c.legacyProcess == "" {
		return
	}
	var proc, cont bool
	switch c.legacyProcess {
	case "disabled":
	case "true":
		proc, cont = true, true
	case "false":
		cont = true
	}
	derived := origin{kind: fromDerived, name: legacy.String() + " (legacy)", val: legacy.val}
	if c.origins["process_config.process_collection.enabled"].kind == fromDefault {
		c.ProcessEnabled = proc
		c.origins["process_config.process_collection.enabled"] = derived
	}
	if c.origins["process_config.container_collection.enabled"].kind == fromDefault {
		c.ContainersEnabled = cont
		c.origins["process_config.container_collection.enabled"] = derived
	}
}
