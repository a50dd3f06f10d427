package ship

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/whippet-agent/whippet/pkg/spool"
)

// Store is the write-ahead record store the Shipper delivers from; pkg/spool
// implements it. Ids grow with each Append.
type Store interface {
	// Append stores data durably (fsync) before returning; data is not retained.
	Append(data []byte) (id uint64, err error)
	// IDs appends the ids of unacknowledged records to dst, oldest first.
	IDs(dst []uint64) []uint64
	// Read returns record id (in buf when it fits) and its progress mark.
	// A missing record is ErrNotFound, an unreadable one ErrCorrupt.
	Read(id uint64, buf []byte) (data []byte, done uint32, err error)
	// Mark persists the progress mark of record id.
	Mark(id uint64, done uint32) error
	// Ack deletes record id: fully delivered or dropped.
	Ack(id uint64) error
}

// Store errors the Shipper branches on: pkg/spool's own sentinels, so the real
// store and the Shipper agree by errors.Is.
var (
	ErrNotFound = spool.ErrNotFound
	ErrCorrupt  = spool.ErrCorrupt
)

// Clock is the Shipper's time source; tests substitute simulated time so an
// outage of minutes runs in milliseconds.
type Clock interface {
	Now() time.Time
	// Sleep blocks until d has passed, wake receives or ctx ends.
	Sleep(ctx context.Context, d time.Duration, wake <-chan struct{})
}

// SystemClock is the real clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }

func (SystemClock) Sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	case <-ctx.Done():
	}
}

// The stored record is a 10-byte header, then the caller's record:
// version (1), kind, timestamp (int64 LE, unix milliseconds).
const (
	headerVersion = 1
	headerLen     = 10
)

func appendHeader(b []byte, k Kind, ts time.Time) []byte {
	b = append(b, headerVersion, byte(k))
	return binary.LittleEndian.AppendUint64(b, uint64(ts.UnixMilli()))
}

// AppendRecord appends a stored record: the header the Shipper puts in front
// of an encoded batch, then the batch (ParseRecord reverses it).
func AppendRecord(dst []byte, k Kind, ts time.Time, batch []byte) []byte {
	return append(appendHeader(dst, k, ts), batch...)
}

// ParseRecord splits a stored record into its kind, timestamp and the encoded
// batch: for tools that read the spool directly (`whippet decode`).
func ParseRecord(b []byte) (Kind, time.Time, []byte, error) { return parseHeader(b) }

func parseHeader(b []byte) (Kind, time.Time, []byte, error) {
	if len(b) < headerLen {
		return 0, time.Time{}, nil, fmt.Errorf("record of %d bytes: %w", len(b), ErrCorrupt)
	}
	if b[0] != headerVersion {
		return 0, time.Time{}, nil, fmt.Errorf("record version %d: %w", b[0], ErrCorrupt)
	}
	k := Kind(b[1])
	if k >= numKinds {
		return 0, time.Time{}, nil, fmt.Errorf("record kind %d: %w", k, ErrCorrupt)
	}
	ts := time.UnixMilli(int64(binary.LittleEndian.Uint64(b[2:])))
	return k, ts, b[headerLen:], nil
}

// A progress mark packs the split level (top 8 bits) with the number of
// payloads of that level already delivered.
func packMark(split, done int) uint32 { return uint32(split)<<24 | uint32(done)&0xffffff }

func unpackMark(m uint32) (split, done int) { return int(m >> 24), int(m & 0xffffff) }
