// Package encode turns a cycle's batch into Datadog intake bodies: protobuf
// MetricPayload series for /api/v2/series (and their v2 JSON rendering for
// debugging), and V3-enveloped CollectorProc chunks for Live Processes.
//
// Bodies are marshalled by hand into buffers the encoders keep from cycle to
// cycle, with agent-payload's field numbers and gogo's field order, so encoding
// a cycle allocates nothing in steady state; agent-payload's generated types
// serve only as the decoding oracle in tests.
package encode

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// Kind says which intake a payload is for.
type Kind uint8

const (
	Series    Kind = iota + 1 // POST /api/v2/series
	Processes                 // POST /api/v1/collector
)

func (k Kind) String() string {
	switch k {
	case Series:
		return "series"
	case Processes:
		return "processes"
	}
	return "unknown"
}

// Payload is one request body and what its headers need. The encoder reuses
// the Payload and its Body for the next one: a sender that queues a body must
// copy it before the emit callback returns.
type Payload struct {
	Kind            Kind
	Body            []byte
	ContentType     string
	ContentEncoding string // HTTP Content-Encoding; "" for none
	// Points is the number of series (one point each) in a series payload and
	// the number of processes in a process chunk.
	Points int
	// Process chunks only.
	ContainerCount int // X-Dd-ContainerCount
	ChunkIndex     int // position in the run, for X-DD-Request-ID
	GroupSize      int // chunks in the run
}

// ContentTypeProtobuf is what both intakes are sent.
const ContentTypeProtobuf = "application/x-protobuf"

// Compression selects the series Content-Encoding.
type Compression uint8

const (
	// Zstd is the agent's default (serializer_compressor_kind zstd, level 1).
	Zstd Compression = iota
	// Zlib is Content-Encoding "deflate": a zlib stream (RFC 1950).
	Zlib
	None
)

// ContentEncoding returns the HTTP header value for c ("" for None).
func (c Compression) ContentEncoding() string {
	switch c {
	case Zstd:
		return "zstd"
	case Zlib:
		return "deflate"
	}
	return ""
}

func (c Compression) String() string {
	if c == None {
		return "none"
	}
	return c.ContentEncoding()
}

// ParseCompression maps a configuration word ("zstd", "zlib", "deflate",
// "none") to a Compression.
func ParseCompression(s string) (Compression, error) {
	switch s {
	case "zstd":
		return Zstd, nil
	case "zlib", "deflate":
		return Zlib, nil
	case "none", "identity", "":
		return None, nil
	}
	return 0, fmt.Errorf("unknown compression %q (want zstd, zlib or none)", s)
}

// compressor compresses whole bodies into a caller-owned buffer, keeping its
// encoder state between calls so steady-state compression does not allocate.
type compressor struct {
	kind Compression
	zstd *zstd.Encoder
	zlib *zlib.Writer
	out  appendWriter
}

func newCompressor(kind Compression, level zstd.EncoderLevel) (*compressor, error) {
	c := &compressor{kind: kind}
	switch kind {
	case Zstd:
		// A 128 KiB window instead of the default 8 MiB: series repeat their
		// tags within a few KiB (payloads are no larger than with 1 MiB). In
		// the low-memory mode the history holds the window plus one block and
		// slides down by a window every block: cheap at 128 KiB, half of the
		// compression time at 1 MiB. No frame checksum, as the agent's zstd.
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(1<<17), zstd.WithEncoderCRC(false), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, fmt.Errorf("new zstd encoder: %w", err)
		}
		c.zstd = enc
	case Zlib:
		w, err := zlib.NewWriterLevel(nil, zlib.DefaultCompression)
		if err != nil {
			return nil, fmt.Errorf("new zlib writer: %w", err)
		}
		c.zlib = w
	case None:
	default:
		return nil, fmt.Errorf("unknown compression %d", kind)
	}
	return c, nil
}

// compress appends the compressed src to dst[:0].
func (c *compressor) compress(dst, src []byte) ([]byte, error) {
	switch c.kind {
	case Zstd:
		return c.zstd.EncodeAll(src, dst[:0]), nil
	case Zlib:
		c.out.b = dst[:0]
		c.zlib.Reset(&c.out)
		if _, err := c.zlib.Write(src); err != nil {
			return dst, fmt.Errorf("zlib write: %w", err)
		}
		if err := c.zlib.Close(); err != nil {
			return dst, fmt.Errorf("zlib close: %w", err)
		}
		b := c.out.b
		c.out.b = nil
		return b, nil
	}
	return append(dst[:0], src...), nil
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// Decompress undoes a Content-Encoding ("zstd", "deflate", "" or
// "identity"), for tests and the fake intake. It allocates.
func Decompress(encoding string, body []byte) ([]byte, error) {
	switch encoding {
	case "", "identity":
		return bytes.Clone(body), nil
	case "zstd":
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("new zstd decoder: %w", err)
		}
		defer d.Close()
		out, err := d.DecodeAll(body, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd decode: %w", err)
		}
		return out, nil
	case "deflate":
		r, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("zlib header: %w", err)
		}
		out, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("zlib decode: %w", err)
		}
		if err := r.Close(); err != nil {
			return nil, fmt.Errorf("zlib close: %w", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("decompress: %w: %q", ErrEncoding, encoding)
}

// ErrEncoding reports a Content-Encoding Decompress does not know.
var ErrEncoding = errors.New("unknown content encoding")
