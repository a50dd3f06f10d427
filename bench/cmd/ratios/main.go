// Command ratios reads `go test -bench` output and prints, for each pair NUM=DEN
// of benchmark names (without the -GOMAXPROCS suffix), the ratio of their times
// paired run by run (the i-th NUM sample over the i-th DEN sample, both from the
// same -count iteration and so from the same machine state), as the median and
// the range. Paired ratios stay stable on a noisy shared machine where absolute
// times drift by tens of percent between iterations.
//
//	go run ./cmd/ratios out/compare.txt ProcCycle/live/whippet=ProcCycle/live/floor …
package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: ratios FILE NUM=DEN ...")
		os.Exit(2)
	}
	samples, err := read(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(1)
	}
	fmt.Println("| ratio | median | min–max | pairs |")
	fmt.Println("|---|---|---|---|")
	for _, pair := range os.Args[2:] {
		num, den, ok := strings.Cut(pair, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "ratios: %q is not NUM=DEN\n", pair)
			os.Exit(2)
		}
		a, b := samples[num], samples[den]
		n := min(len(a), len(b))
		if n == 0 {
			fmt.Fprintf(os.Stderr, "ratios: no samples for %s or %s\n", num, den)
			os.Exit(1)
		}
		r := make([]float64, n)
		for i := range n {
			r[i] = a[i] / b[i]
		}
		slices.Sort(r)
		med := r[n/2]
		if n%2 == 0 {
			med = (r[n/2-1] + r[n/2]) / 2
		}
		fmt.Printf("| %s / %s | %.2f× | %.2f–%.2f | %d |\n", num, den, med, r[0], r[n-1], n)
	}
}

// read returns the ns/op samples of each benchmark, in file order.
func read(name string) (map[string][]float64, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		bench := strings.TrimPrefix(fields[0], "Benchmark")
		if i := strings.LastIndexByte(bench, '-'); i > 0 {
			if _, err := strconv.Atoi(bench[i+1:]); err == nil {
				bench = bench[:i]
			}
		}
		for i := 2; i+1 < len(fields); i += 2 {
			if fields[i+1] == "ns/op" {
				v, err := strconv.ParseFloat(fields[i], 64)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", sc.Text(), err)
				}
				out[bench] = append(out[bench], v)
			}
		}
	}
	return out, sc.Err()
}
