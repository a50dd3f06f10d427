package mpack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/whippet-agent/whippet/pkg/batch"
)

// fuzzSrc hands out fuzz input as the values of a batch; an exhausted source
// yields zeros, so every input builds a batch.
type fuzzSrc struct{ b []byte }

func (s *fuzzSrc) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *fuzzSrc) u64() uint64 {
	var buf [8]byte
	n := copy(buf[:], s.b)
	s.b = s.b[n:]
	return binary.LittleEndian.Uint64(buf[:])
}

// str picks one of a few strings (so strings repeat, as in real batches) or
// takes raw bytes from the input.
func (s *fuzzSrc) str() string {
	c := s.byte()
	if c < 192 {
		return [...]string{"", "a", "container_name:web", "root", "ünï", "\xff"}[c%6]
	}
	n := min(int(c-192), len(s.b))
	str := string(s.b[:n])
	s.b = s.b[n:]
	return str
}

func fuzzMetrics(s *fuzzSrc) *batch.Metrics {
	m := &batch.Metrics{Host: s.str(), Timestamp: int64(s.u64()), Interval: int64(s.u64())}
	for range s.byte() % 5 {
		var tags []string
		for range s.byte() % 6 {
			tags = append(tags, s.str())
		}
		m.AddTagSet(tags)
	}
	for range s.byte() {
		tags := int32(s.byte()%8) - 1
		if int(tags) >= len(m.TagSets) {
			tags = batch.NoTags
		}
		m.Add(s.str(), batch.MetricType(s.byte()%4), math.Float64frombits(s.u64()), tags)
	}
	return m
}

func fuzzProcesses(s *fuzzSrc) *batch.Processes {
	p := &batch.Processes{Host: s.str(), Timestamp: int64(s.u64()), Interval: int64(s.u64()),
		System: batch.System{CPUs: int32(s.u64()), TotalMemory: s.u64(), KernelVersion: s.str(), OS: s.str()}}
	for range s.byte() % 4 {
		c := batch.Container{ID: s.str(), Name: s.str(), Runtime: s.str(), State: batch.ContainerState(s.byte()),
			Created: int64(s.u64()), MemoryLimit: s.u64(), TotalPct: math.Float32frombits(uint32(s.u64())), ThreadLimit: s.u64()}
		for range s.byte() % 4 {
			c.Tags = append(c.Tags, s.str())
		}
		p.Containers = append(p.Containers, c)
	}
	for range s.byte() % 16 {
		pr := p.Next()
		pr.PID, pr.PPID, pr.NsPID = int32(s.u64()), int32(s.u64()), int32(s.u64())
		pr.Args, pr.Comm, pr.Exe = []byte(s.str()), []byte(s.str()), []byte(s.str())
		pr.User, pr.UID, pr.State = s.str(), uint32(s.u64()), s.byte()
		pr.CreateTime, pr.Nice, pr.OpenFDs = int64(s.u64()), int32(s.u64()), int32(s.u64())
		pr.UserPct, pr.ReadRate = math.Float32frombits(uint32(s.u64())), math.Float32frombits(uint32(s.u64()))
		pr.RSS, pr.VolCtxSwitches, pr.ContainerID = s.u64(), s.u64(), s.str()
	}
	return p
}

// FuzzRoundTrip: decoding what the Encoder wrote gives back the batch, bit for bit.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x03\x01\x02\x00\x00\x00\x00\x00\x00\x00\x0f\x02\x03\x02\x05\xc3abc"))
	f.Add(bytes.Repeat([]byte{0xc8, 'x', 'y', 0xff, 0x7f, 0x80}, 40))
	var (
		e Encoder
		d Decoder
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &fuzzSrc{b: data}
		m := fuzzMetrics(s)
		var mo batch.Metrics
		if _, err := d.Decode(e.AppendMetrics(nil, m), &mo, nil); err != nil {
			t.Fatalf("Decode(AppendMetrics(%+v)): %v", m, err)
		}
		if diff := cmp.Diff(m, &mo, bitsEqual); diff != "" {
			t.Fatalf("metrics round trip (-in +out):\n%s", diff)
		}
		p := fuzzProcesses(s)
		var po batch.Processes
		if _, err := d.Decode(e.AppendProcesses(nil, p), nil, &po); err != nil {
			t.Fatalf("Decode(AppendProcesses(%+v)): %v", p, err)
		}
		if diff := cmp.Diff(p, &po, bitsEqual); diff != "" {
			t.Fatalf("processes round trip (-in +out):\n%s", diff)
		}
	})
}

// FuzzDecode: arbitrary bytes are an error or a record, never a panic; a
// record that decodes re-encodes to a record that decodes to the same batch.
func FuzzDecode(f *testing.F) {
	for _, tc := range goldenCases() {
		f.Add(tc.rec)
	}
	var (
		d, d2 Decoder
		e     Encoder
		m, m2 batch.Metrics
		p, p2 batch.Processes
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := d.Decode(b, &m, &p)
		perr := Print(io.Discard, b)
		if (err == nil) != (perr == nil) {
			t.Fatalf("Decode error %v but Print error %v", err, perr)
		}
		for r := NewReader(bytes.NewReader(b)); ; {
			if _, err := r.Next(); err != nil {
				break
			}
		}
		if err != nil {
			return
		}
		switch k {
		case KindMetrics:
			if _, err := d2.Decode(e.AppendMetrics(nil, &m), &m2, nil); err != nil {
				t.Fatalf("re-encoded metrics: %v", err)
			}
			if diff := cmp.Diff(&m, &m2, bitsEqual); diff != "" {
				t.Fatalf("re-encoded metrics (-first +second):\n%s", diff)
			}
		case KindProcesses:
			if _, err := d2.Decode(e.AppendProcesses(nil, &p), nil, &p2); err != nil {
				t.Fatalf("re-encoded processes: %v", err)
			}
			if diff := cmp.Diff(&p, &p2, bitsEqual); diff != "" {
				t.Fatalf("re-encoded processes (-first +second):\n%s", diff)
			}
		}
	})
}

// TestFuzzSeeds writes the committed seed corpus with -update: the golden
// records, their frames, and a few damaged variants.
func TestFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("writes testdata/fuzz with -update only")
	}
	write := func(fuzz, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range goldenCases() {
		write("FuzzDecode", tc.name, tc.rec)
		write("FuzzDecode", tc.name+"-truncated", tc.rec[:len(tc.rec)/2])
		framed, off := BeginFrame(nil)
		framed = append(framed, tc.rec...)
		if err := EndFrame(framed, off); err != nil {
			t.Fatal(err)
		}
		write("FuzzDecode", tc.name+"-framed", framed)
		write("FuzzRoundTrip", tc.name, tc.rec) // any bytes build a batch
	}
	write("FuzzDecode", "huge-lengths", []byte("\x99\xa7whippet\x01\x01\xa0\x00\x00\xdd\xff\xff\xff\xff"))
}
