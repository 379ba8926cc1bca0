// Command riskd is the Riskforge decision server: it loads policies
// (.risk sources or .rbc artifacts), answers decision requests over HTTP,
// rolls out new versions (champion, challengers, pinning, shadow mode),
// reloads them without dropping a request, and exports Prometheus
// metrics. docs/OPERATIONS.md is the operator's guide.
//
// Usage:
//
//	riskd serve --config riskd.yaml
//	riskd serve --policy DIR [--addr HOST:PORT] [--tls-cert FILE --tls-key FILE]
//	riskd health --endpoint URL [--ca-cert FILE] [--timeout 5s]
//
// Exit codes: 0 success, 1 failure (a policy that does not load, an
// unhealthy server), 2 usage errors.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/riskforge/riskforge/internal/cli"
)

const (
	exitOK    = cli.ExitOK
	exitError = cli.ExitError
	exitUsage = cli.ExitUsage
)

const usage = `riskd — the Riskforge decision server

Usage:
  riskd serve --config riskd.yaml            serve decisions as the config says
  riskd serve --policy DIR [--addr :8080]    serve the policies in DIR (or one file)
  riskd health --endpoint URL                diagnose a running riskd (exit 0 healthy, 1 not)
  riskd --help                               show this help

Run 'riskd COMMAND --help' for the flags of a command. docs/OPERATIONS.md
describes the configuration, the endpoints and the metrics.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "serve":
		return serveCmd(args[1:], stdout, stderr)
	case "health":
		return healthCmd(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "riskd: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}

// newFlagSet returns the FlagSet of subcommand name (see cli.NewFlagSet).
func newFlagSet(name, about string, stderr io.Writer) *flag.FlagSet {
	return cli.NewFlagSet("riskd "+name, "", about, stderr)
}

// parseFlags parses args (see cli.Parse); riskd's commands take no
// positional arguments.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, ok bool) {
	if code, ok := cli.Parse(fs, args, stdout); !ok {
		return code, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "riskd: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitUsage, false
	}
	return exitOK, true
}
