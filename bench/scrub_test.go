package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/whippet-agent/whippet/internal/agentscrub"
	"github.com/whippet-agent/whippet/pkg/scrub"
)

// One op of BenchmarkScrub scrubs 5,000 command lines of a realistic mix (about
// one in eight holds a secret); ns/line is reported beside ns/op.
//
//	floor     bytes.Clone of each raw cmdline: the cost of producing any copy
//	agent     the Datadog agent's ScrubCommand, rebuilt with its regexps (split,
//	          join, lower-case, fast check, ReplaceAllString, re-split)
//	whippet   scrub.Scrubber.Append into a reused buffer

// agentScrubber is the agent's procutil.DataScrubber without its cache
// (internal/agentscrub).
type agentScrubber struct{ s *agentscrub.Scrubber }

func newAgentScrubber(words []string) *agentScrubber { return &agentScrubber{agentscrub.New(words)} }

// scrub is the agent's path for one process: trimAndSplitBytes, then ScrubCommand.
func (s *agentScrubber) scrub(cmdline []byte) ([]string, bool) {
	return s.s.Scrub(agentscrub.Args(cmdline))
}

// scrubMix is n command lines as a container host runs them.
func scrubMix(n int) [][]byte {
	r := rand.New(rand.NewPCG(7, 7))
	jars := func(k int) string {
		var b strings.Builder
		for i := range k {
			if i > 0 {
				b.WriteByte(':')
			}
			fmt.Fprintf(&b, "/opt/app/lib/dependency-%d-component-1.%d.0.jar", i, i)
		}
		return b.String()
	}
	shapes := []func(i int) []string{
		func(i int) []string { return []string{"sleep", "100000"} },
		func(i int) []string { return []string{"nginx: worker process"} },
		func(i int) []string {
			return []string{"/usr/bin/java", "-Xms256m", "-Xmx512m", "-Dspring.profiles.active=prod", "-cp", jars(20 + i%40), "com.example.Main"}
		},
		func(i int) []string {
			return []string{"python3", "-m", "gunicorn", "app.wsgi:application", "--workers", "4", "--bind", "0.0.0.0:8000"}
		},
		func(i int) []string {
			return []string{"node", "/srv/app/dist/server.js", "--port", fmt.Sprint(3000 + i%100)}
		},
		func(i int) []string {
			return []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-id", fmt.Sprintf("%064x", i), "-address", "/run/containerd/containerd.sock"}
		},
		func(i int) []string { return []string{"sh", "-c", "while true; do date; sleep 5; done"} },
		func(i int) []string { return []string{"/usr/sbin/sshd", "-D"} },
		func(i int) []string { return []string{"/bin/bash"} },
		func(i int) []string { return []string{"redis-server", "*:6379"} },
		func(i int) []string { return []string{"postgres: app app 10.0.0.5(51234) idle"} },
		func(i int) []string {
			return []string{"/usr/local/bin/envoy", "-c", "/etc/envoy/envoy.yaml", "--log-level", "info"}
		},
		func(i int) []string { return []string{"/datadog/agent", "run", "-c", "/etc/datadog-agent"} },
		func(i int) []string {
			return []string{"mysql", "-u", "root", fmt.Sprintf("--password=pw%d", i), "-h", "db"}
		},
		func(i int) []string {
			return []string{"java", fmt.Sprintf("-Dspring.datasource.password=s%d", i), "-jar", "/opt/app.jar", "--api-key=k"}
		},
		func(i int) []string {
			return []string{"curl", "-H", "X-Api-Key: abc", fmt.Sprintf("https://api.example.com/v%d", i%3)}
		},
		func(i int) []string { return []string{"psql", fmt.Sprintf("postgres://app:secret%d@db:5432/app", i)} },
		func(i int) []string { return []string{"env", "AWS_SECRET_ACCESS_KEY=abc", "aws", "s3", "ls"} },
	}
	// Weights: plain processes dominate; the last five shapes carry secrets.
	weights := []int{30, 10, 8, 6, 6, 6, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2, 2, 2}
	total := 0
	for _, w := range weights {
		total += w
	}
	lines := make([][]byte, n)
	for i := range lines {
		k, x := 0, r.IntN(total)
		for x >= weights[k] {
			x -= weights[k]
			k++
		}
		args := shapes[k](i)
		lines[i] = []byte(strings.Join(args, "\x00") + "\x00")
	}
	return lines
}

// TestScrubMix: on the benchmark's lines, every line the agent changes we
// change, and no value the agent hides survives in ours.
func TestScrubMix(t *testing.T) {
	lines := scrubMix(5000)
	agent := newAgentScrubber(scrub.DefaultWords)
	s := scrub.Default()
	changed := 0
	for _, l := range lines {
		want, ok := agent.scrub(l)
		got := s.Append(nil, l)
		if !ok {
			continue
		}
		changed++
		for _, a := range want {
			if strings.Contains(a, scrub.Mask) && !bytes.Contains(got, []byte(a)) {
				t.Errorf("agent %q, whippet %q", want, got)
				break
			}
		}
	}
	if changed < 200 {
		t.Errorf("the agent changed only %d of %d lines", changed, len(lines))
	}
}

func BenchmarkScrub(b *testing.B) {
	lines := scrubMix(5000)
	per := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(lines)), "ns/line")
	}
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, l := range lines {
				_ = bytes.Clone(l)
			}
		}
		per(b)
	})
	b.Run("agent", func(b *testing.B) {
		a := newAgentScrubber(scrub.DefaultWords)
		b.ReportAllocs()
		for b.Loop() {
			for _, l := range lines {
				a.scrub(l)
			}
		}
		per(b)
	})
	b.Run("whippet", func(b *testing.B) {
		s := scrub.Default()
		dst := make([]byte, 0, 4096)
		b.ReportAllocs()
		for b.Loop() {
			for _, l := range lines {
				dst = s.Append(dst[:0], l)
			}
		}
		per(b)
	})
}
