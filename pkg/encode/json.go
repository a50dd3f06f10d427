package encode

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/whippet-agent/whippet/pkg/batch"
)

// AppendJSON appends m as the v2 series JSON body (the public API's shape) to
// dst, for --dry-run and debugging. Points SeriesEncoder would skip (non-finite
// values, empty names, unknown tag sets) are left out here too. No limits are
// applied.
func AppendJSON(dst []byte, m *batch.Metrics) []byte {
	dst = append(dst, `{"series":[`...)
	first := true
	for i := range m.Points {
		p := &m.Points[i]
		valid := p.Tags == batch.NoTags || (p.Tags >= 0 && int(p.Tags) < len(m.TagSets))
		if !valid || p.Name == "" || math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, `{"metric":`...)
		dst = appendJSONString(dst, p.Name)
		dst = append(dst, `,"type":`...)
		dst = strconv.AppendUint(dst, uint64(p.Type), 10)
		dst = append(dst, `,"points":[{"timestamp":`...)
		dst = strconv.AppendInt(dst, m.Timestamp, 10)
		dst = append(dst, `,"value":`...)
		dst = strconv.AppendFloat(dst, p.Value, 'g', -1, 64)
		dst = append(dst, `}]`...)
		if m.Host != "" {
			dst = append(dst, `,"resources":[{"type":"host","name":`...)
			dst = appendJSONString(dst, m.Host)
			dst = append(dst, `}]`...)
		}
		dst = append(dst, `,"tags":[`...)
		for j, t := range m.Tags(p) {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, t)
		}
		dst = append(dst, ']')
		if hasInterval(m, p.Type) {
			dst = append(dst, `,"interval":`...)
			dst = strconv.AppendInt(dst, m.Interval, 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, replacing invalid UTF-8 with
// U+FFFD as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
