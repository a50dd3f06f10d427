// Command agentcost measures a running whippet daemon's own cost from outside:
// CPU (utime+stime in /proc/<pid>/stat) and RSS (/proc/<pid>/status) sampled on
// a fixed period, divided by the cycles the daemon reports on its status
// endpoint. run.sh starts the containers, the fake intake and the daemon, and
// calls it once per size; `agentcost table` turns the summary lines into the
// comparison with cAdvisor.
//
//	agentcost sample -pid 1234 -status 127.0.0.1:5001 -size 150 -duration 3m
//	agentcost table summaries.txt
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "agentcost:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: agentcost sample|table")
	}
	switch args[0] {
	case "sample":
		return runSample(ctx, args[1:], stdout, stderr)
	case "table":
		return runTable(args[1:], stdout)
	}
	return fmt.Errorf("unknown command %q (sample, table)", args[0])
}
