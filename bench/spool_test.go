package bench

import (
	"testing"

	"github.com/whippet-agent/whippet/pkg/spool"
)

// spoolRecord is the size of one spooled cycle on a busy host: a compressed
// series payload plus a process payload run to about 100 KiB.
const spoolRecord = 100 << 10

// BenchmarkSpoolAppend measures Append throughput for 100 KiB records with
// fsync on (the production setting: file and directory synced per record) and
// off (rename only). The spool's cap is large enough that nothing is evicted
// until the benchmark has written 1 GiB; past that, eviction is part of the
// cost, as it is in a long outage.
func BenchmarkSpoolAppend(b *testing.B) {
	for _, bc := range []struct {
		name string
		sync bool
	}{{"sync", true}, {"nosync", false}} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := spool.Open(b.TempDir(), spool.Options{MaxBytes: 1 << 30, Sync: bc.sync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := make([]byte, spoolRecord)
			for i := range data {
				data[i] = byte(i * 7)
			}
			b.SetBytes(spoolRecord)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Append(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSpoolReadAck measures the replay path: Read of the oldest record
// into a reused buffer, then Ack (fsync of the directory with sync on).
// Records are appended outside the timer in batches of 64.
func BenchmarkSpoolReadAck(b *testing.B) {
	for _, bc := range []struct {
		name string
		sync bool
	}{{"sync", true}, {"nosync", false}} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := spool.Open(b.TempDir(), spool.Options{MaxBytes: 1 << 30, Sync: bc.sync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := make([]byte, spoolRecord)
			buf := make([]byte, 0, spoolRecord+64)
			var ids []uint64
			b.SetBytes(spoolRecord)
			b.ReportAllocs()
			for b.Loop() {
				if len(ids) == 0 {
					b.StopTimer()
					for range 64 {
						if _, err := s.Append(data); err != nil {
							b.Fatal(err)
						}
					}
					ids = s.IDs(ids)
					b.StartTimer()
				}
				id := ids[0]
				ids = ids[1:]
				got, _, err := s.Read(id, buf)
				if err != nil || len(got) != spoolRecord {
					b.Fatalf("Read(%d) = %d bytes, %v", id, len(got), err)
				}
				if err := s.Ack(id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
