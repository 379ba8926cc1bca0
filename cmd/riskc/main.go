// Command riskc is the Riskforge policy compiler: it checks, formats,
// builds, disassembles, tests, evaluates (backtests) and trains
// policies, and serves the language server for editors. Each subcommand
// is a file here that parses flags and prints; the logic is in the
// libraries (docs/ARCHITECTURE.md).
//
// Exit codes: 0 success, 1 the input has errors, 2 usage errors.
package main

import (
	"flag"
	"io"
	"os"
	"sort"

	"github.com/riskforge/riskforge/internal/cli"
	"github.com/riskforge/riskforge/models"
)

// command is one riskc subcommand.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

// register adds a subcommand; each command file calls it from init.
func register(name, summary string, run func(args []string, stdout, stderr io.Writer) int) {
	commands[name] = command{summary: summary, run: run}
}

// Exit codes shared by every subcommand.
const (
	exitOK    = cli.ExitOK
	exitError = cli.ExitError
	exitUsage = cli.ExitUsage
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func runMain(args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:    "riskc",
		Short:   "the Riskforge policy compiler",
		Long:    "docs/LANGUAGE.md describes the policy language, docs/TESTING.md policy tests.",
		Version: version,
	}
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		app.Commands = append(app.Commands, cli.Command{Name: n, Summary: commands[n].summary, Run: commands[n].run})
	}
	return app.Run(args, stdout, stderr)
}

// version is the text of riskc --version: the build and the onnxruntime
// library riskc would load for models.
func version() string {
	return cli.VersionInfo("riskc", models.VersionLine())
}

// newFlagSet returns the FlagSet of subcommand name (see cli.NewFlagSet).
func newFlagSet(name, argsUsage, about string, stderr io.Writer) *flag.FlagSet {
	return cli.NewFlagSet("riskc "+name, argsUsage, about, stderr)
}

// parseFlags parses args (see cli.Parse).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, ok bool) {
	return cli.Parse(fs, args, stdout)
}
