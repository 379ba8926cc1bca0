// Command riskc is the Riskforge policy compiler: it checks and formats
// policies, and (as the later stages land) builds, evaluates and trains them.
//
// Exit codes: 0 success, 1 the input has errors, 2 usage errors.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/riskforge/riskforge/internal/cli"
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
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "riskc: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return cmd.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "riskc — the Riskforge policy compiler\n\nUsage:\n  riskc COMMAND [flags] [arguments]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'riskc COMMAND --help' for the flags of a command.\nExit status: 0 ok, 1 errors in the input, 2 usage error.")
}

// newFlagSet returns the FlagSet of subcommand name (see cli.NewFlagSet).
func newFlagSet(name, argsUsage, about string, stderr io.Writer) *flag.FlagSet {
	return cli.NewFlagSet("riskc "+name, argsUsage, about, stderr)
}

// parseFlags parses args (see cli.Parse).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, ok bool) {
	return cli.Parse(fs, args, stdout)
}
