package encode

import (
	"encoding/binary"
	"math"
)

// Protocol-buffer wire helpers. Messages are appended field by field in field
// number order and zero scalars are left out, which is exactly what gogo's
// generated Marshal does, so our bytes equal agent-payload's for the same
// values (the tests compare them).

const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

func appendTag(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field)<<3|uint64(wire))
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func tagLen(field int) int { return varintLen(uint64(field) << 3) }

// appendUint writes a varint field unless v is zero.
func appendUint(b []byte, field int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return binary.AppendUvarint(appendTag(b, field, wireVarint), v)
}

// appendInt writes an int32 or int64 field: negatives take ten bytes, as in
// every protobuf implementation.
func appendInt(b []byte, field int, v int64) []byte { return appendUint(b, field, uint64(v)) }

func appendString(b []byte, field int, s string) []byte {
	if s == "" {
		return b
	}
	return appendRepeatedString(b, field, s)
}

// appendRepeatedString writes one element of a repeated string: empty
// elements are kept.
func appendRepeatedString(b []byte, field int, s string) []byte {
	b = appendTag(b, field, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytesField(b []byte, field int, s []byte) []byte {
	b = appendTag(b, field, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendDouble(b []byte, field int, v float64) []byte {
	if v == 0 {
		return b
	}
	return binary.LittleEndian.AppendUint64(appendTag(b, field, wireFixed64), math.Float64bits(v))
}

func appendFloat(b []byte, field int, v float32) []byte {
	if v == 0 {
		return b
	}
	return binary.LittleEndian.AppendUint32(appendTag(b, field, wireFixed32), math.Float32bits(v))
}

// openMessage starts an embedded message: its tag and a one-byte length that
// closeMessage corrects, moving the body when the length needs more bytes.
func openMessage(b []byte, field int) ([]byte, int) {
	b = appendTag(b, field, wireBytes)
	b = append(b, 0)
	return b, len(b)
}

func closeMessage(b []byte, start int) []byte {
	n := len(b) - start
	if n < 0x80 {
		b[start-1] = byte(n)
		return b
	}
	extra := varintLen(uint64(n)) - 1
	for range extra {
		b = append(b, 0)
	}
	copy(b[start+extra:], b[start:start+n])
	binary.PutUvarint(b[start-1:], uint64(n))
	return b
}
