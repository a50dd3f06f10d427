package sched

import (
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		now      time.Time
		interval time.Duration
		offset   time.Duration
		want     time.Time
	}{
		{"on a tick goes to the next", base, 15 * time.Second, 0, base.Add(15 * time.Second)},
		{"mid interval", base.Add(7 * time.Second), 15 * time.Second, 0, base.Add(15 * time.Second)},
		{"offset within", base.Add(1 * time.Second), 15 * time.Second, 3 * time.Second, base.Add(3 * time.Second)},
		{"offset passed", base.Add(4 * time.Second), 15 * time.Second, 3 * time.Second, base.Add(18 * time.Second)},
		{"10 s", base.Add(25 * time.Second), 10 * time.Second, 0, base.Add(30 * time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Next(tc.now, tc.interval, tc.offset); !got.Equal(tc.want) {
				t.Errorf("Next(%s, %s, %s) = %s, want %s", tc.now.Format(time.TimeOnly), tc.interval, tc.offset, got.Format(time.TimeOnly), tc.want.Format(time.TimeOnly))
			}
		})
	}
}

func TestOffsetSpreadsHosts(t *testing.T) {
	t.Parallel()
	const interval = 15 * time.Second
	var buckets [15]int
	for i := range 3000 {
		o := Offset("i-0"+string(rune('a'+i%26))+time.Duration(i).String(), interval)
		if o < 0 || o >= interval {
			t.Fatalf("Offset = %s, want within [0, %s)", o, interval)
		}
		buckets[o/time.Second]++
	}
	for s, n := range buckets {
		if n < 100 || n > 300 { // 200 expected per second
			t.Errorf("second %d holds %d of 3000 hosts: offsets not spread", s, n)
		}
	}
	if a, b := Offset("host-a", interval), Offset("host-a", interval); a != b {
		t.Error("Offset is not stable for one host")
	}
}

func TestTickerTwoSchedules(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	tk := NewTicker(start, []time.Duration{15 * time.Second, 10 * time.Second}, []time.Duration{0, 0})
	var got []string
	due := make([]bool, 2)
	for range 6 {
		now := tk.Wait()
		tk.Due(now, due)
		got = append(got, now.Sub(start).String()+map[[2]bool]string{{true, false}: "m", {false, true}: "p", {true, true}: "mp"}[[2]bool{due[0], due[1]}])
	}
	want := []string{"10sp", "15sm", "20sp", "30smp", "40sp", "45sm"}
	if len(got) != len(want) {
		t.Fatalf("ticks %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ticks %v, want %v", got, want)
		}
	}
}

func TestTickerSkipsMissedTicks(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	tk := NewTicker(start, []time.Duration{15 * time.Second}, []time.Duration{0})
	due := make([]bool, 1)
	// A cycle that should have run at 15 s is served at 50 s: the ticks at 30 and 45 s
	// were missed, the next one is at 60 s.
	tk.Due(start.Add(50*time.Second), due)
	if !due[0] || tk.Skipped[0] != 2 {
		t.Fatalf("due %v skipped %d, want true and 2", due[0], tk.Skipped[0])
	}
	if w := tk.Wait(); !w.Equal(start.Add(60 * time.Second)) {
		t.Fatalf("next tick %s, want 60s", w.Sub(start))
	}
}
