// Package cli holds the command-line conventions riskc and riskd share:
// flag sets whose --help names the command and every flag, parse errors
// reported instead of exiting, and the exit codes (0 ok, 1 errors in the
// input, 2 usage).
package cli

import (
	"flag"
	"fmt"
	"io"
)

// Exit codes of every Riskforge command.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// NewFlagSet returns a FlagSet for command (e.g. "riskc build") whose
// usage shows the command, its arguments, what it does and its flags.
func NewFlagSet(command, argsUsage, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		line := command + " [flags]"
		if argsUsage != "" {
			line += " " + argsUsage
		}
		fmt.Fprintf(fs.Output(), "Usage: %s\n\n%s\n", line, about)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// Parse parses args. It returns ok=false, with the exit code to use, when
// --help was asked for (usage on stdout, ExitOK) or parsing failed
// (ExitUsage).
func Parse(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, ok bool) {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return ExitOK, false
		}
	}
	if err := fs.Parse(args); err != nil {
		return ExitUsage, false
	}
	return ExitOK, true
}
