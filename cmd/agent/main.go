// Command whippet is a lean host, container and process collector for Docker/ECS
// hosts that ships to Datadog. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "whippet:", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "whippet:", err)
		os.Exit(1)
	}
}
