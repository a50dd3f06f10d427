// Command fakeintake is a fake Datadog intake for manual tests and the agent
// cost benchmark: it decodes series and process payloads with agent-payload's
// own types, as pkg/ship/fakeintake does for the tests. It is a binary of its
// own so that agent-payload and its protobuf runtimes stay out of whippet's.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/whippet-agent/whippet/pkg/ship/fakeintake"
)

func main() {
	err := fakeintake.Main(os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeintake:", err)
		os.Exit(2)
	}
}
