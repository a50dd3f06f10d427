package config

import (
	"strings"
	"time"
)

// setting is one row of the configuration table: where a value may come from,
// its default, its documentation and how it is parsed into a Config.
type setting struct {
	key      string   // yaml path when it has one, else a name of our own
	yaml     string   // dotted path in datadog.yaml layout; "" = not in the file
	env      []string // first set one wins
	flag     string   // "" = no flag
	register bool     // RegisterFlags defines the flag (false: cmd/agent owns it)
	def      string
	doc      string
	redact   func(string) string // hides a secret in messages and Print
	v        value
}

// displayName is how messages name a setting with no source: its first env
// name, else its yaml key.
func (s *setting) displayName() string {
	if len(s.env) > 0 {
		return s.env[0]
	}
	if s.yaml != "" {
		return s.yaml
	}
	return s.key
}

func envs(names ...string) []string { return names }

// settings is the one table. Order is the order of Print and Describe.
var settings = []setting{
	{key: "config", env: envs("DD_WHIPPET_CONFIG"), flag: "config", register: true,
		doc: "YAML file in datadog.yaml layout (the agent's own file works; whippet-only keys go under `whippet:`)",
		v:   str(func(c *Config) *string { return &c.configPath }, nil)},
	{key: "api_key", yaml: "api_key", env: envs("DD_API_KEY"),
		doc: "Datadog API key, sent only in the DD-API-KEY header; no flag, secrets stay out of argv", redact: redactKey,
		v: str(func(c *Config) *string { return &c.APIKey }, checkAPIKey)},
	{key: "site", yaml: "site", env: envs("DD_SITE"), flag: "site", register: true, def: "datadoghq.com",
		doc: "Datadog site: metrics to https://api.<site>, processes to https://process.<site>",
		v:   str(func(c *Config) *string { return &c.Site }, checkSite)},
	{key: "dd_url", yaml: "dd_url", env: envs("DD_DD_URL", "DD_URL"), flag: "dd-url", register: true, redact: redactURL,
		doc: "metrics intake base URL, overrides the site (e.g. a fake intake)",
		v:   str(func(c *Config) *string { return &c.DDURL }, checkHTTPURL)},
	{key: "process_config.process_dd_url", yaml: "process_config.process_dd_url",
		env: envs("DD_PROCESS_CONFIG_PROCESS_DD_URL", "DD_PROCESS_AGENT_PROCESS_DD_URL"), redact: redactURL,
		doc: "Live Processes intake base URL, overrides the site",
		v:   str(func(c *Config) *string { return &c.ProcessDDURL }, checkHTTPURL)},
	{key: "hostname", yaml: "hostname", env: envs("DD_HOSTNAME"), flag: "hostname", register: true,
		doc: "host name to report; an invalid name is ignored with a warning and the host name is detected, as the agent does",
		v:   str(func(c *Config) *string { return &c.Hostname }, checkHostname)},
	{key: "hostname_force_config_as_canonical", yaml: "hostname_force_config_as_canonical", env: envs("DD_HOSTNAME_FORCE_CONFIG_AS_CANONICAL"),
		def: "false", doc: "use a configured ip-…/domU… host name as is instead of the EC2 instance id",
		v: boolean(func(c *Config) *bool { return &c.HostnameForceConfigAsCanonical })},
	{key: "tags", yaml: "tags", env: envs("DD_TAGS"), flag: "tags", register: true,
		doc: "host tags `key:value`, space- or comma-separated (YAML: a list); lower-cased per Datadog tag rules",
		v:   list(func(c *Config) *[]string { return &c.Tags }, " ,", normalizeTags)},
	{key: "extra_tags", yaml: "extra_tags", env: envs("DD_EXTRA_TAGS"),
		doc: "more host tags, added to `tags`",
		v:   list(func(c *Config) *[]string { return &c.ExtraTags }, " ,", normalizeTags)},
	{key: "env", yaml: "env", env: envs("DD_ENV"),
		doc: "environment; adds the host tag env:<value> unless a tag sets env",
		v:   str(func(c *Config) *string { return &c.Env }, checkEnvTag)},
	{key: "process_config.enabled", yaml: "process_config.enabled", env: envs("DD_PROCESS_AGENT_ENABLED", "DD_PROCESS_CONFIG_ENABLED"),
		doc: "legacy switch: true = processes and containers, false = containers only, disabled = neither; the two settings below win when set",
		v:   str(func(c *Config) *string { return &c.legacyProcess }, checkLegacyProcess)},
	{key: "process_config.process_collection.enabled", yaml: "process_config.process_collection.enabled",
		env: envs("DD_PROCESS_CONFIG_PROCESS_COLLECTION_ENABLED", "DD_PROCESS_AGENT_PROCESS_COLLECTION_ENABLED"), def: "false",
		doc: "send Live Processes (off by default, as in the agent)",
		v:   boolean(func(c *Config) *bool { return &c.ProcessEnabled })},
	{key: "process_config.container_collection.enabled", yaml: "process_config.container_collection.enabled",
		env: envs("DD_PROCESS_CONFIG_CONTAINER_COLLECTION_ENABLED", "DD_PROCESS_AGENT_CONTAINER_COLLECTION_ENABLED"), def: "true",
		doc: "send Live Containers",
		v:   boolean(func(c *Config) *bool { return &c.ContainersEnabled })},
	{key: "log_level", yaml: "log_level", env: envs("DD_LOG_LEVEL"), flag: "log-level", def: "info",
		doc: "trace, debug, info, warn (warning), error, critical or off; the -log-level flag belongs to cmd/agent",
		v:   custom(setLogLevel, func(c *Config) any { return levelName(c.LogLevel) })},
	{key: "log_format_json", yaml: "log_format_json", env: envs("DD_LOG_FORMAT_JSON"), def: "false",
		doc: "log as JSON lines instead of text",
		v:   boolean(func(c *Config) *bool { return &c.LogFormatJSON })},
	{key: "proxy.https", yaml: "proxy.https", env: envs("DD_PROXY_HTTPS", "HTTPS_PROXY", "https_proxy"), redact: redactURL,
		doc: "proxy for https requests (all intake traffic)",
		v:   str(func(c *Config) *string { return &c.ProxyHTTPS }, checkHTTPURL)},
	{key: "proxy.http", yaml: "proxy.http", env: envs("DD_PROXY_HTTP", "HTTP_PROXY", "http_proxy"), redact: redactURL,
		doc: "proxy for plain http requests",
		v:   str(func(c *Config) *string { return &c.ProxyHTTP }, checkHTTPURL)},
	{key: "proxy.no_proxy", yaml: "proxy.no_proxy", env: envs("DD_PROXY_NO_PROXY", "NO_PROXY", "no_proxy"),
		doc: "hosts reached without the proxy, space- or comma-separated",
		v:   list(func(c *Config) *[]string { return &c.NoProxy }, " ,", nil)},
	{key: "skip_ssl_validation", yaml: "skip_ssl_validation", env: envs("DD_SKIP_SSL_VALIDATION"), def: "false",
		doc: "do not verify intake TLS certificates (testing only)",
		v:   boolean(func(c *Config) *bool { return &c.SkipSSLValidation })},
	{key: "whippet.dogstatsd_url", yaml: "whippet.dogstatsd_url", env: envs("DD_DOGSTATSD_URL"),
		doc: "DogStatsD target udp://host:port or unix:///path (datadog-go's variable)",
		v:   str(func(c *Config) *string { return &c.DogStatsDURL }, checkDogStatsDURL)},
	{key: "agent_host", env: envs("DD_AGENT_HOST"),
		doc: "DogStatsD host when DD_DOGSTATSD_URL is unset (datadog-go's variable)",
		v:   str(func(c *Config) *string { return &c.agentHost }, nil)},
	{key: "dogstatsd_port", env: envs("DD_DOGSTATSD_PORT"), def: "8125",
		doc: "DogStatsD port with DD_AGENT_HOST",
		v:   integer(func(c *Config) *int64 { return &c.dogstatsdPort }, 1, 65535, "want a port number 1-65535")},
	{key: "whippet.output", yaml: "whippet.output", env: envs("DD_WHIPPET_OUTPUT"), flag: "output", register: true, def: "auto",
		doc: "auto (intake with an API key, else dogstatsd when a target is set, else stdout), intake, dogstatsd, stdout, json, msgpack",
		v:   custom(setOutput, func(c *Config) any { return string(c.Output) })},
	{key: "process_config.scrub_args", yaml: "process_config.scrub_args",
		env: envs("DD_SCRUB_ARGS", "DD_PROCESS_CONFIG_SCRUB_ARGS", "DD_PROCESS_AGENT_SCRUB_ARGS"), def: "true",
		doc: "mask secrets in process command lines",
		v:   boolean(func(c *Config) *bool { return &c.ScrubArgs })},
	{key: "process_config.custom_sensitive_words", yaml: "process_config.custom_sensitive_words",
		env: envs("DD_CUSTOM_SENSITIVE_WORDS", "DD_PROCESS_CONFIG_CUSTOM_SENSITIVE_WORDS", "DD_PROCESS_AGENT_CUSTOM_SENSITIVE_WORDS"),
		doc: "more words to scrub, comma-separated; letters, digits, _ and * wildcards",
		v:   list(func(c *Config) *[]string { return &c.CustomSensitiveWords }, ", ", checkWords)},
	{key: "process_config.strip_proc_arguments", yaml: "process_config.strip_proc_arguments",
		env: envs("DD_STRIP_PROCESS_ARGS", "DD_PROCESS_CONFIG_STRIP_PROC_ARGUMENTS", "DD_PROCESS_AGENT_STRIP_PROC_ARGUMENTS"), def: "false",
		doc: "send only the program of each command line, no arguments",
		v:   boolean(func(c *Config) *bool { return &c.StripProcessArgs })},
	{key: "whippet.metrics_interval", yaml: "whippet.metrics_interval", env: envs("DD_WHIPPET_METRICS_INTERVAL"),
		flag: "metrics-interval", register: true, def: "15s",
		doc: "host and container metrics interval (the agent's check interval), ≥ 1s",
		v:   duration(func(c *Config) *time.Duration { return &c.MetricsInterval }, time.Second, 0)},
	{key: "process_config.intervals.process", yaml: "process_config.intervals.process",
		env:  envs("DD_PROCESS_CONFIG_INTERVALS_PROCESS", "DD_PROCESS_AGENT_INTERVALS_PROCESS"),
		flag: "process-interval", register: true, def: "10s",
		doc: "Live Processes interval, ≥ 1s (whole seconds as in the agent, or a Go duration)",
		v:   duration(func(c *Config) *time.Duration { return &c.ProcessInterval }, time.Second, 0)},
	{key: "whippet.docker_metrics", yaml: "whippet.docker_metrics", env: envs("DD_WHIPPET_DOCKER_METRICS"), def: "true",
		doc: "emit the docker.* metric family",
		v:   boolean(func(c *Config) *bool { return &c.DockerMetrics })},
	{key: "whippet.container_metrics", yaml: "whippet.container_metrics", env: envs("DD_WHIPPET_CONTAINER_METRICS"), def: "true",
		doc: "emit the container.* metric family",
		v:   boolean(func(c *Config) *bool { return &c.ContainerMetrics })},
	{key: "run_path", yaml: "run_path", env: envs("DD_RUN_PATH"), def: "/opt/datadog-agent/run",
		doc: "the agent's run directory; the spool lives in its whippet-spool subdirectory",
		v:   str(func(c *Config) *string { return &c.RunPath }, checkPath)},
	{key: "whippet.spool_dir", yaml: "whippet.spool_dir", env: envs("DD_WHIPPET_SPOOL_DIR"), flag: "spool-dir", register: true,
		doc: "spool directory (default <run_path>/whippet-spool)",
		v:   str(func(c *Config) *string { return &c.spoolDirSet }, checkPath)},
	{key: "whippet.spool_max_bytes", yaml: "whippet.spool_max_bytes", env: envs("DD_WHIPPET_SPOOL_MAX_BYTES"), def: "128MiB",
		doc: "disk spool cap: bytes, or with KiB/MiB/GiB (KB/MB/GB); 0 = no disk spool",
		v:   custom(setSpoolMax, func(c *Config) any { return c.SpoolMaxBytes })},
	{key: "whippet.status_addr", yaml: "whippet.status_addr", env: envs("DD_WHIPPET_STATUS_ADDR"), flag: "status-addr", register: true,
		def: "127.0.0.1:5012",
		doc: "status endpoint host:port, loopback only unless status_allow_remote; off = none",
		v:   str(func(c *Config) *string { return &c.StatusAddr }, checkStatusAddr)},
	{key: "whippet.status_allow_remote", yaml: "whippet.status_allow_remote", env: envs("DD_WHIPPET_STATUS_ALLOW_REMOTE"), def: "false",
		doc: "allow a non-loopback status address",
		v:   boolean(func(c *Config) *bool { return &c.StatusAllowRemote })},
	{key: "whippet.pprof", yaml: "whippet.pprof", env: envs("DD_WHIPPET_PPROF"), flag: "pprof", register: true, def: "false",
		doc: "serve /debug/pprof on the status address",
		v:   boolean(func(c *Config) *bool { return &c.Pprof })},
	{key: "ecs_agent_url", yaml: "ecs_agent_url", env: envs("DD_ECS_AGENT_URL"),
		doc: "ECS agent introspection URL (default: detected)",
		v:   str(func(c *Config) *string { return &c.ECSAgentURL }, checkHTTPURL)},
	{key: "whippet.imds_url", yaml: "whippet.imds_url", env: envs("DD_WHIPPET_IMDS_URL"), def: "http://169.254.169.254",
		doc: "EC2 instance metadata service base URL",
		v:   str(func(c *Config) *string { return &c.IMDSURL }, checkHTTPURL)},
	{key: "whippet.imds_timeout", yaml: "whippet.imds_timeout", env: envs("DD_WHIPPET_IMDS_TIMEOUT"), def: "300ms",
		doc: "timeout of one IMDS request (the agent's ec2_metadata_timeout), 1ms to 1m",
		v:   duration(func(c *Config) *time.Duration { return &c.IMDSTimeout }, time.Millisecond, time.Minute)},
	{key: "whippet.flush_deadline", yaml: "whippet.flush_deadline", env: envs("DD_WHIPPET_FLUSH_DEADLINE"), def: "20s",
		doc: "time to send or spool pending data after SIGTERM; under ECS's default 30s stopTimeout",
		v:   duration(func(c *Config) *time.Duration { return &c.FlushDeadline }, time.Second, 30*time.Second-1)},
	{key: "container_exclude", yaml: "container_exclude", env: envs("DD_CONTAINER_EXCLUDE"),
		doc: "containers to ignore: space-separated `name:<regexp>` / `image:<regexp>`",
		v:   list(func(c *Config) *[]string { return &c.ContainerExclude }, " ", checkFilter)},
	{key: "container_include", yaml: "container_include", env: envs("DD_CONTAINER_INCLUDE"),
		doc: "containers kept even when excluded, same form",
		v:   list(func(c *Config) *[]string { return &c.ContainerInclude }, " ", checkFilter)},
	{key: "container_exclude_metrics", yaml: "container_exclude_metrics", env: envs("DD_CONTAINER_EXCLUDE_METRICS"),
		doc: "containers left out of metrics only, same form",
		v:   list(func(c *Config) *[]string { return &c.ContainerExcludeMetrics }, " ", checkFilter)},
	{key: "container_include_metrics", yaml: "container_include_metrics", env: envs("DD_CONTAINER_INCLUDE_METRICS"),
		doc: "containers kept in metrics even when excluded, same form",
		v:   list(func(c *Config) *[]string { return &c.ContainerIncludeMetrics }, " ", checkFilter)},
	{key: "exclude_pause_container", yaml: "exclude_pause_container", env: envs("DD_EXCLUDE_PAUSE_CONTAINER"), def: "true",
		doc: "ignore pause containers (amazon/amazon-ecs-pause and the Kubernetes pause images)",
		v:   boolean(func(c *Config) *bool { return &c.ExcludePauseContainer })},
}

// Lookup indexes over the table, built once.
var (
	byKey, byFlag, byEnv, byYAML = indexSettings()
	yamlKeys, envNames           = tableNames()
)

func indexSettings() (key, flag, env, yml map[string]*setting) {
	key, flag, env, yml = map[string]*setting{}, map[string]*setting{}, map[string]*setting{}, map[string]*setting{}
	for i := range settings {
		s := &settings[i]
		key[s.key] = s
		if s.flag != "" {
			flag[s.flag] = s
		}
		for _, e := range s.env {
			env[e] = s
		}
		if s.yaml != "" {
			yml[s.yaml] = s
		}
	}
	return key, flag, env, yml
}

func tableNames() (yml, env []string) {
	for _, s := range settings {
		if s.yaml != "" {
			yml = append(yml, s.yaml)
		}
		env = append(env, s.env...)
	}
	return yml, env
}

func settingByKey(k string) *setting  { return byKey[k] }
func settingByFlag(f string) *setting { return byFlag[f] }
func settingByEnv(e string) *setting  { return byEnv[e] }
func settingByYAML(y string) *setting { return byYAML[y] }
func allYAMLKeys() []string           { return yamlKeys }
func allEnvNames() []string           { return envNames }

// isSection reports whether key is a mapping that holds known settings
// (process_config, proxy, whippet, process_config.intervals …).
func isSection(key string) bool {
	for _, y := range yamlKeys {
		if strings.HasPrefix(y, key+".") {
			return true
		}
	}
	return false
}

// ignoredTop are top-level datadog.yaml keys (or whole sections) of the agent
// that whippet does not use; the same file must still load. ignoredFamilies are
// key prefixes of agent setting families.
var (
	ignoredTop = map[string]bool{
		"logs_enabled": true, "logs_config": true, "apm_config": true, "apm_enabled": true,
		"process_agent_enabled": true, "use_dogstatsd": true, "log_file": true, "log_to_console": true,
		"log_to_syslog": true, "log_format_rfc3339": true, "syslog_uri": true, "cmd_port": true, "cmd_host": true,
		"expvar_port": true, "gui_port": true, "health_port": true, "bind_host": true, "ipc_address": true,
		"listeners": true, "extra_listeners": true, "config_providers": true, "extra_config_providers": true,
		"ac_exclude": true, "ac_include": true, "container_exclude_logs": true, "container_include_logs": true,
		"container_labels_as_tags": true, "container_env_as_tags": true, "collect_ec2_tags": true,
		"collect_ec2_tags_use_imds": true, "collect_gce_tags": true, "cloud_provider_metadata": true,
		"enable_metadata_collection": true, "enable_gohai": true, "system_probe_config": true,
		"network_config": true, "runtime_security_config": true, "compliance_config": true, "sbom": true,
		"orchestrator_explorer": true, "admission_controller": true, "remote_configuration": true,
		"additional_endpoints": true, "use_v2_api": true, "check_runners": true, "hostname_fqdn": true,
		"hostname_file": true, "hostname_trust_uts_namespace": true, "python_version": true,
		"use_proxy_for_cloud_metadata": true, "no_proxy_nonexact_match": true, "min_tls_version": true,
		"tls_handshake_timeout": true, "fips": true, "telemetry": true, "otlp_config": true,
		"confd_path": true, "additional_checksd": true, "procfs_path": true, "container_proc_root": true,
		"container_cgroup_root": true, "dd_site": true, "app_key": true, "histogram_aggregates": true,
		"histogram_percentiles": true, "inventories_enabled": true, "cluster_agent": true, "cluster_checks": true,
		"cluster_name": true, "external_metrics": true, "language_detection": true, "dogstatsd_port": true,
		"process_config.process_discovery": true, "process_config.event_collection": true,
		"process_config.intervals.container": true, "process_config.intervals.container_realtime": true,
		"process_config.intervals.process_realtime": true, "process_config.max_per_message": true,
		"process_config.max_message_bytes": true, "process_config.expvar_port": true, "process_config.cmd_port": true,
		"process_config.log_file": true, "process_config.blacklist_patterns": true, "process_config.queue_size": true,
		"process_config.rt_queue_size": true, "process_config.process_queue_bytes": true,
		"process_config.dd_agent_env": true, "process_config.windows": true, "process_config.disable_realtime_checks": true,
		"process_config.run_in_core_agent": true, "process_config.additional_endpoints": true,
		"process_config.language_detection": true, "process_config.internal_profiling": true,
		"process_config.cache_lookupid": true, "process_config.remote_tagger": true,
		"process_config.drop_check_payloads": true, "process_config.grpc_connection_timeout_secs": true,
		"process_config.ignore_zombie_processes": true, "process_config.process_collection.use_wlm": true,
	}
	ignoredFamilies = []string{
		"dogstatsd_", "forwarder_", "kubelet_", "kubernetes_", "secret_backend_", "inventories_", "histogram_",
		"ec2_", "serializer_", "jmx_", "docker_", "ecs_", "logs_", "apm_", "autoconfig_", "cluster_", "cri_",
		"containerd_", "podman_", "win_", "snmp_", "network_", "system_probe_", "metadata_", "gce_", "azure_",
	}
)

// ignoredExplicit reports whether key, or a section holding it, is an agent
// setting we deliberately ignore.
func ignoredExplicit(key string) bool {
	for k := key; ; {
		if ignoredTop[k] {
			return true
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			return false
		}
		k = k[:i]
	}
}

// ignoredFamily reports whether a top-level key belongs to an agent setting
// family we ignore.
func ignoredFamily(key string) bool {
	if strings.Contains(key, ".") {
		return false
	}
	for _, f := range ignoredFamilies {
		if strings.HasPrefix(key, f) {
			return true
		}
	}
	return false
}
