package encode

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/whippet-agent/whippet/pkg/batch"
)

// FuzzSeriesEncode builds a batch from arbitrary bytes (names, tags, values,
// tag indexes, including invalid ones) and checks, under small limits, that
// every payload decodes with agent-payload to exactly the series the oracle
// expects, that nothing panics, and that the JSON rendering stays valid.
func FuzzSeriesEncode(f *testing.F) {
	f.Add([]byte("docker.cpu.usage\x00a:b\x00c:d\x00\x01\x02\x03\x04\x05\x06\x07\x08"), uint16(300))
	f.Add([]byte("\xff\xfe\x00\x00\x00"), uint16(64))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		parts := strings.Split(string(data), "\x00")
		m := &batch.Metrics{Host: "h", Timestamp: 1717000000, Interval: 15}
		m.AddTagSet(parts[min(1, len(parts)-1):])
		m.AddTagSet(nil)
		for i, name := range parts {
			var v float64
			if len(name) >= 8 {
				v = math.Float64frombits(binary.LittleEndian.Uint64([]byte(name)))
			}
			m.Add(name, batch.MetricType(i%4), v, int32(i%4)-1)
		}
		opts := SeriesOptions{Compression: Compression(limit % 3), MaxCompressed: 64 + int(limit), MaxUncompressed: 64 + 2*int(limit), MaxPoints: 1 + int(limit%7)}
		e, err := NewSeriesEncoder(opts)
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := collect(t, e, m)
		if err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Encode: %v", err)
		}
		want := wantSeries(m)
		if uint64(len(got))+e.Stats().Dropped != uint64(len(want)) {
			t.Fatalf("%d series sent + %d dropped, want %d", len(got), e.Stats().Dropped, len(want))
		}
		for i, j := 0, 0; i < len(got); j++ {
			w, _ := want[j].Marshal()
			g, _ := got[i].Marshal()
			if string(w) == string(g) {
				i++
			} else if j == len(want)-1 {
				t.Fatalf("sent series %d (%q) is not in the batch in order", i, got[i].Metric)
			}
		}
		if !json.Valid(AppendJSON(nil, m)) {
			t.Fatalf("AppendJSON produced invalid JSON")
		}
	})
}
