// Command riskd is the Riskforge decision server: it loads compiled policies,
// answers decision requests over HTTP, keeps the tamper-evident audit trail and
// exports Prometheus metrics.
//
// This build is a placeholder so the tree and the Makefile have a riskd to
// build; the server itself arrives with issue 6.
//
// Usage:
//
//	riskd serve --policy DIR [--addr HOST:PORT]
//	riskd --help
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `riskd — the Riskforge decision server

Usage:
  riskd serve --policy DIR [--addr HOST:PORT]   serve decisions for a policy
  riskd --help                                  show this help

The decision server is not built yet; see issue 6.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "serve":
		fmt.Fprintln(stderr, "riskd: the decision server is not built yet; see issue 6 (docs/ will describe it)")
		return 2
	default:
		fmt.Fprintf(stderr, "riskd: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
