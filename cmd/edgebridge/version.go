package main

import (
	"fmt"
	"io"
	"runtime"
)

// Set at link time by the Makefile (-X main.version=... -X main.commit=...).
var (
	version = "dev"
	commit  = "unknown"
)

func init() {
	register("version", "print version, commit and platform", func(args []string, stdout, stderr io.Writer) int {
		if len(args) > 0 {
			fmt.Fprintln(stderr, "usage: edgebridge version")
			return 2
		}
		fmt.Fprintf(stdout, "edgebridge %s commit %s %s/%s %s\n", version, commit, runtime.GOOS, runtime.GOARCH, runtime.Version())
		return 0
	})
}
