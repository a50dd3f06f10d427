// Command genhost writes a large fake host for benchmarks (see package genhost):
//
//	go run ./cmd/genhost -out /tmp/bighost -containers 200 -procs 25 [-v2]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/whippet-agent/whippet/bench/genhost"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "genhost:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("genhost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the host root into `DIR` (must not exist or be empty)")
	var opt genhost.Options
	fs.IntVar(&opt.Containers, "containers", genhost.DefaultContainers, "running containers")
	fs.IntVar(&opt.ProcsPerContainer, "procs", genhost.DefaultProcsPerContainer, "processes per container")
	fs.IntVar(&opt.HostProcs, "hostprocs", genhost.DefaultHostProcs, "host processes besides the containerd shims")
	fs.BoolVar(&opt.CgroupV2, "v2", false, "cgroup v2 unified layout (ECS AL2023) instead of v1 (ECS AL2)")
	fs.Int64Var(&opt.Seed, "seed", 1, "seed; the same flags give the same bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("usage: genhost -out DIR [-containers N] [-procs N] [-hostprocs N] [-v2] [-seed N]")
	}
	if entries, err := os.ReadDir(*out); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty", *out)
	}
	start := time.Now()
	h, err := genhost.Generate(*out, opt)
	if err != nil {
		return err
	}
	layout := "cgroup v1"
	if h.CgroupV2 {
		layout = "cgroup v2"
	}
	_, err = fmt.Fprintf(stdout, "%s: %d processes, %d containers in %d ECS tasks, %s, proc/self -> %d (%.1fs)\n",
		h.Dir, len(h.Procs), len(h.Containers), len(h.Tasks), layout, h.Self, time.Since(start).Seconds())
	return err
}
