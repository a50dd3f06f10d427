package proc

import "testing"

func BenchmarkParseStat(b *testing.B) {
	in := []byte(catStat)
	var s Stat
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if err := ParseStat(in, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseStatus(b *testing.B) {
	in := []byte(catStatus)
	var s Status
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if err := ParseStatus(in, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseStatusSample(b *testing.B) {
	in := []byte(catStatus)
	var s StatusSample
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if err := ParseStatusSample(in, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseStatm(b *testing.B) {
	in := []byte("765 421 393 5 0 123 0\n")
	var s Statm
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseStatm(in, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseIO(b *testing.B) {
	in := []byte("rchar: 6976\nwchar: 1\nsyscr: 10\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 3\n")
	var s IO
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseIO(in, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCgroups(b *testing.B) {
	in := []byte("9:name=systemd:/docker/abc\n8:pids:/docker/abc\n4:memory:/docker/abc\n1:cpu:/docker/abc\n0::/\n")
	var c Cgroups
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseCgroups(in, &c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkArgs(b *testing.B) {
	in := []byte("/usr/bin/containerd-shim-runc-v2\x00-namespace\x00moby\x00-id\x000cbed5dba142\x00-address\x00/run/containerd.sock\x00")
	var dst [][]byte
	b.ReportAllocs()
	for b.Loop() {
		dst = Args(in, dst)
	}
}
