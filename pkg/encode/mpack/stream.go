package mpack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// A stream (a spool file, the --output=msgpack stream) is a sequence of frames:
// a 4-byte big-endian record length, the 4-byte big-endian CRC-32C of the
// record, then the record. The length lets a reader step over a record it
// cannot decode; the checksum catches a torn or flipped write that could still
// parse.
const frameHeader = 8

// MaxRecordSize bounds a framed record (a 5,000-process record is well under
// 2 MiB), so a corrupt length cannot make a reader allocate without bound.
const MaxRecordSize = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BeginFrame reserves a frame header at the end of dst; append one record after
// it, then call EndFrame with the returned offset:
//
//	buf, off := mpack.BeginFrame(buf)
//	buf = enc.AppendMetrics(buf, m)
//	err := mpack.EndFrame(buf, off)
func BeginFrame(dst []byte) ([]byte, int) {
	return append(dst, make([]byte, frameHeader)...), len(dst)
}

// EndFrame fills in the header reserved at b[off:] for the record that follows it.
func EndFrame(b []byte, off int) error {
	if off < 0 || len(b)-off < frameHeader {
		return fmt.Errorf("end frame at %d of %d bytes: no header", off, len(b))
	}
	rec := b[off+frameHeader:]
	if len(rec) > MaxRecordSize {
		return fmt.Errorf("end frame: record of %d bytes exceeds %d", len(rec), MaxRecordSize)
	}
	binary.BigEndian.PutUint32(b[off:], uint32(len(rec)))
	binary.BigEndian.PutUint32(b[off+4:], crc32.Checksum(rec, castagnoli))
	return nil
}

// Reader reads consecutive frames. Its buffer is reused: a record returned by
// Next is valid until the next call.
type Reader struct {
	r      io.Reader
	hdr    [frameHeader]byte
	buf    []byte
	inStep bool
}

// InStep reports whether the last Next read a whole frame, so that the next
// call starts at a frame boundary: true after a record or a checksum mismatch,
// false after a damaged header or a truncated frame.
func (r *Reader) InStep() bool { return r.inStep }

// NewReader returns a Reader of the frames in r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// growStep bounds how far the buffer grows ahead of the bytes actually read, so
// a truncated stream claiming a huge record costs little.
const growStep = 1 << 20

// Next returns the next record. It returns io.EOF at a clean end of stream and
// an error wrapping ErrCorrupt for a truncated frame, an impossible length or a
// checksum mismatch. After a checksum mismatch the stream is still in step
// (InStep) and Next may be called again; after any other error it is not.
func (r *Reader) Next() ([]byte, error) {
	r.inStep = false
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%w: frame header: %w", ErrCorrupt, err)
	}
	n := int(binary.BigEndian.Uint32(r.hdr[:]))
	if n > MaxRecordSize {
		return nil, fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrCorrupt, n, MaxRecordSize)
	}
	r.buf = r.buf[:0]
	for len(r.buf) < n {
		m := min(n-len(r.buf), growStep)
		if cap(r.buf)-len(r.buf) < m {
			r.buf = append(r.buf[:cap(r.buf)], make([]byte, m)...)[:len(r.buf)]
		}
		chunk := r.buf[len(r.buf) : len(r.buf)+m]
		if _, err := io.ReadFull(r.r, chunk); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("%w: frame of %d bytes: %w", ErrCorrupt, n, err)
		}
		r.buf = r.buf[:len(r.buf)+m]
	}
	r.inStep = true
	if sum := crc32.Checksum(r.buf, castagnoli); sum != binary.BigEndian.Uint32(r.hdr[4:]) {
		return nil, fmt.Errorf("%w: frame checksum %08x, want %08x", ErrCorrupt, sum, binary.BigEndian.Uint32(r.hdr[4:]))
	}
	return r.buf, nil
}
