package mpack

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// msgpack type codes (https://github.com/msgpack/msgpack/blob/master/spec.md),
// as constants: msgpcode declares them as variables. TestCodes checks them
// against msgpcode.
const (
	codePosFixHigh = 0x7f
	codeFixArray   = 0x90 // | n, n < 16
	codeFixStr     = 0xa0 // | n, n < 32
	codeBin8       = 0xc4
	codeBin16      = 0xc5
	codeBin32      = 0xc6
	codeFloat32    = 0xca
	codeFloat64    = 0xcb
	codeUint8      = 0xcc
	codeUint16     = 0xcd
	codeUint32     = 0xce
	codeUint64     = 0xcf
	codeInt8       = 0xd0
	codeInt16      = 0xd1
	codeInt32      = 0xd2
	codeInt64      = 0xd3
	codeStr8       = 0xd9
	codeStr16      = 0xda
	codeStr32      = 0xdb
	codeArray16    = 0xdc
	codeArray32    = 0xdd
	codeNegFixLow  = 0xe0
)

// The append functions write msgpack in its smallest encodings, byte for byte
// what msgpack.Encoder's EncodeArrayLen, EncodeUint, EncodeInt, EncodeFloat32/64
// and EncodeString write (TestWireMatchesLibrary). They append to the caller's
// buffer directly: the Encoder's per-field cost is a few instructions rather than
// an io.Writer call per value.

func appendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, codeFixArray|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, codeArray16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, codeArray32), uint32(n))
}

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= math.MaxInt8:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, codeUint8, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, codeUint16), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, codeUint32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, codeUint64), v)
}

func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0:
		return appendUint(b, uint64(v))
	case v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt8:
		return append(b, codeInt8, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, codeInt16), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, codeInt32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, codeInt64), uint64(v))
}

func appendF32(b []byte, v float32) []byte {
	return binary.BigEndian.AppendUint32(append(b, codeFloat32), math.Float32bits(v))
}

func appendF64(b []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, codeFloat64), math.Float64bits(v))
}

// appendText writes s as str when it is UTF-8 and as bin otherwise (command
// lines are arbitrary bytes), so strict msgpack readers accept every record.
func appendText(b []byte, s string) []byte {
	n := len(s)
	if utf8.ValidString(s) {
		switch {
		case n < 32:
			b = append(b, codeFixStr|byte(n))
		case n <= math.MaxUint8:
			b = append(b, codeStr8, byte(n))
		case n <= math.MaxUint16:
			b = binary.BigEndian.AppendUint16(append(b, codeStr16), uint16(n))
		default:
			b = binary.BigEndian.AppendUint32(append(b, codeStr32), uint32(n))
		}
		return append(b, s...)
	}
	switch {
	case n <= math.MaxUint8:
		b = append(b, codeBin8, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, codeBin16), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, codeBin32), uint32(n))
	}
	return append(b, s...)
}

// reader reads msgpack values from a byte slice. Every read checks the bytes
// left, so truncated or hostile input is an error wrapping ErrCorrupt; nothing
// it returns aliases anything but the input.
type reader struct {
	b   []byte
	off int
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) truncated(what string) error {
	return fmt.Errorf("%w: %s at offset %d: truncated", ErrCorrupt, what, r.off)
}

func (r *reader) badCode(what string, c byte) error {
	return fmt.Errorf("%w: %s at offset %d: unexpected msgpack code 0x%02x", ErrCorrupt, what, r.off-1, c)
}

func (r *reader) code(what string) (byte, error) {
	if r.off >= len(r.b) {
		return 0, r.truncated(what)
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// next returns the following n bytes.
func (r *reader) next(what string, n int) ([]byte, error) {
	if n > r.left() {
		return nil, r.truncated(what)
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p, nil
}

// be reads a big-endian unsigned integer of n = 1, 2, 4 or 8 bytes.
func (r *reader) be(what string, n int) (uint64, error) {
	p, err := r.next(what, n)
	if err != nil {
		return 0, err
	}
	switch n {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
	return binary.BigEndian.Uint64(p), nil
}

func (r *reader) arrayLen() (int, error) {
	c, err := r.code("array")
	if err != nil {
		return 0, err
	}
	switch {
	case c >= codeFixArray && c < codeFixArray+16:
		return int(c - codeFixArray), nil
	case c == codeArray16:
		n, err := r.be("array", 2)
		return int(n), err
	case c == codeArray32:
		n, err := r.be("array", 4)
		return int(n), err
	}
	return 0, r.badCode("array", c)
}

// integer reads any msgpack integer; neg tells a negative value, held in v
// as two's complement.
func (r *reader) integer() (v uint64, neg bool, err error) {
	c, err := r.code("integer")
	if err != nil {
		return 0, false, err
	}
	switch {
	case c <= codePosFixHigh:
		return uint64(c), false, nil
	case c >= codeNegFixLow:
		return uint64(int64(int8(c))), true, nil
	}
	switch c {
	case codeUint8, codeUint16, codeUint32, codeUint64:
		v, err = r.be("integer", 1<<(c-codeUint8))
		return v, false, err
	case codeInt8:
		v, err = r.be("integer", 1)
		v = uint64(int64(int8(v)))
	case codeInt16:
		v, err = r.be("integer", 2)
		v = uint64(int64(int16(v)))
	case codeInt32:
		v, err = r.be("integer", 4)
		v = uint64(int64(int32(v)))
	case codeInt64:
		v, err = r.be("integer", 8)
	default:
		return 0, false, r.badCode("integer", c)
	}
	return v, int64(v) < 0, err
}

func (r *reader) uint(hi uint64) (uint64, error) {
	v, neg, err := r.integer()
	if err != nil {
		return 0, err
	}
	if neg || v > hi {
		return 0, r.outOfRange(v, neg, 0, int64(min(hi, math.MaxInt64)))
	}
	return v, nil
}

func (r *reader) int(lo, hi int64) (int64, error) {
	v, neg, err := r.integer()
	if err != nil {
		return 0, err
	}
	if (!neg && v > math.MaxInt64) || int64(v) < lo || int64(v) > hi {
		return 0, r.outOfRange(v, neg, lo, hi)
	}
	return int64(v), nil
}

func (r *reader) outOfRange(v uint64, neg bool, lo, hi int64) error {
	s := strconv.FormatUint(v, 10)
	if neg {
		s = strconv.FormatInt(int64(v), 10)
	}
	return fmt.Errorf("%w: integer %s before offset %d out of range [%d, %d]", ErrCorrupt, s, r.off, lo, hi)
}

func (r *reader) f32() (float32, error) {
	c, err := r.code("float 32")
	if err != nil {
		return 0, err
	}
	if c != codeFloat32 {
		return 0, r.badCode("float 32", c)
	}
	v, err := r.be("float 32", 4)
	return math.Float32frombits(uint32(v)), err
}

func (r *reader) f64() (float64, error) {
	c, err := r.code("float 64")
	if err != nil {
		return 0, err
	}
	if c != codeFloat64 {
		return 0, r.badCode("float 64", c)
	}
	v, err := r.be("float 64", 8)
	return math.Float64frombits(v), err
}

// text reads a str or bin; the result aliases the input.
func (r *reader) text() ([]byte, error) {
	c, err := r.code("string")
	if err != nil {
		return nil, err
	}
	var n uint64
	switch {
	case c >= codeFixStr && c < codeFixStr+32:
		n = uint64(c - codeFixStr)
	case c == codeStr8 || c == codeBin8:
		n, err = r.be("string", 1)
	case c == codeStr16 || c == codeBin16:
		n, err = r.be("string", 2)
	case c == codeStr32 || c == codeBin32:
		n, err = r.be("string", 4)
	default:
		return nil, r.badCode("string", c)
	}
	if err != nil {
		return nil, err
	}
	if n > uint64(r.left()) {
		return nil, fmt.Errorf("%w: string of %d bytes in %d remaining bytes", ErrCorrupt, n, r.left())
	}
	return r.next("string", int(n))
}
