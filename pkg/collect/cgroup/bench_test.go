package cgroup

import "testing"

func benchParse(b *testing.B, in string, parse func([]byte, *Stats) error) {
	data := []byte(in)
	var s Stats
	s.IO.Devices = make([]IODevice, 0, 4)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s.IO.Devices = s.IO.Devices[:0]
		if err := parse(data, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseValue(b *testing.B) {
	benchParse(b, "27368318\n", func(d []byte, s *Stats) (err error) { s.CPU.Usage, err = ParseValue(d); return })
}

func BenchmarkParseLimit(b *testing.B) {
	benchParse(b, unlimited4K+"\n", func(d []byte, s *Stats) (err error) { s.Memory.Limit, _, err = ParseLimit(d); return })
}

func BenchmarkParseQuota(b *testing.B) {
	benchParse(b, "150000\n", func(d []byte, s *Stats) (err error) { s.CPU.Quota, err = ParseQuota(d); return })
}

func BenchmarkParseCPUAcctStat(b *testing.B) {
	benchParse(b, "user 11\nsystem 1\n", ParseCPUAcctStat)
}

func BenchmarkParseCPUStat(b *testing.B) {
	b.Run("v1", func(b *testing.B) { benchParse(b, v1CPUStat, ParseCPUStat) })
	b.Run("v2", func(b *testing.B) { benchParse(b, v2CPUStat, ParseCPUStat) })
}

func BenchmarkParseCPUMax(b *testing.B) {
	benchParse(b, "150000 100000\n", ParseCPUMax)
}

func BenchmarkParseCPUSet(b *testing.B) {
	benchParse(b, "0-3,8,10-11\n", func(d []byte, s *Stats) (err error) { s.CPU.CPUs, err = ParseCPUSet(d); return })
}

func BenchmarkParseMemoryStatV1(b *testing.B) {
	benchParse(b, v1MemoryStat, ParseMemoryStatV1)
}

func BenchmarkParseMemoryStatV2(b *testing.B) {
	benchParse(b, v2MemoryStat, ParseMemoryStatV2)
}

func BenchmarkParseMemoryEvents(b *testing.B) {
	benchParse(b, "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\nsock_throttled 0\n", ParseMemoryEvents)
}

func BenchmarkParseBlkio(b *testing.B) {
	benchParse(b, v1Blkio, func(d []byte, s *Stats) error { return ParseBlkio(d, false, s) })
}

func BenchmarkParseIOStat(b *testing.B) {
	benchParse(b, v2IOStat, ParseIOStat)
}

func BenchmarkParsePSI(b *testing.B) {
	benchParse(b, psiFile, func(d []byte, s *Stats) (err error) {
		s.PSI.IOSome, s.PSI.IOFull, _, err = ParsePSI(d)
		return
	})
}
