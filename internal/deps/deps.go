// Package deps pins the modules the pipeline packages (metrics, encode, ship,
// spool, config, deploy) are being built on, so go.mod stays stable while they
// land in parallel. It is removed once every module is imported for real.
package deps

import (
	_ "github.com/DataDog/agent-payload/v5/gogen"
	_ "github.com/DataDog/agent-payload/v5/process"
	_ "github.com/DataDog/datadog-go/v5/statsd"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/vmihailenco/msgpack/v5"
	_ "gopkg.in/yaml.v3"
)
