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
//	riskd consume --config riskd.yaml
//	riskd export --config riskd.yaml [--since T] [--until T] [-o events.jsonl]
//	riskd health --endpoint URL [--ca-cert FILE] [--timeout 5s] [--gm HOST:PORT --gm-ca FILE]
//	riskd audit verify|show|tail|verify-response ...
//	riskd certs --dir DIR
//	riskd completion bash|zsh|fish
//	riskd --version
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
	"github.com/riskforge/riskforge/models"
)

const (
	exitOK    = cli.ExitOK
	exitError = cli.ExitError
	exitUsage = cli.ExitUsage
)

// commands are riskd's subcommands; each is declared in its own file.
var commands = []cli.Command{
	{Name: "serve", Summary: "serve decisions over HTTP (--config FILE, or --policy DIR)", Run: serveCmd},
	{Name: "consume", Summary: "decide Kafka events and produce the decisions to a topic (--config FILE)", Run: consumeCmd},
	{Name: "export", Summary: "write a Kafka topic range as JSON Lines for riskc eval (--config FILE or --brokers)", Run: exportCmd},
	{Name: "health", Summary: "diagnose a running riskd (exit 0 healthy, 1 not)", Run: healthCmd},
	{Name: "audit", Summary: "check and read the audit log: verify, show, tail, verify-response (docs/AUDIT.md)", Run: auditCmd},
	{Name: "certs", Summary: "generate a test SM2 CA, GM TLS certificates and keys (--dir DIR)", Run: certsCmd},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:     "riskd",
		Short:    "the Riskforge decision server",
		Long:     "docs/OPERATIONS.md describes the configuration, the endpoints and the metrics.",
		Commands: commands,
		Version:  func() string { return cli.VersionInfo("riskd", models.VersionLine()) },
	}
	return app.Run(args, stdout, stderr)
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
