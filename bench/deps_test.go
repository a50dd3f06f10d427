package bench

// Blank imports keep bench/go.mod's requirements in step with the modules the
// pipeline benchmarks (encode, ship, spool) are being built on.
import (
	_ "github.com/DataDog/agent-payload/v5/gogen"
	_ "github.com/DataDog/agent-payload/v5/process"
	_ "github.com/DataDog/datadog-go/v5/statsd"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/vmihailenco/msgpack/v5"
)
