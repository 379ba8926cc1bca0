// Package cli holds the command-line conventions riskc and riskd share:
// the command tree (cobra: dispatch, `--version`, `help`, shell completion
// for bash, zsh and fish), flag parsing in the GNU style (pflag: flags
// before or after the file names, `--` ends the flags, `-qw` clusters,
// `--name=value` and `--name value`), usage texts that name the command
// and every flag, parse errors reported instead of exiting, and the exit
// codes (0 ok, 1 errors in the input, 2 usage).
//
// Each subcommand declares its flags on a standard library *flag.FlagSet
// from NewFlagSet in its own file and calls Parse first thing; Parse
// translates the flags for pflag, so the subcommands keep the standard
// library's API and need not know about cobra.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
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
		if usage := FlagUsages(fs); usage != "" {
			fmt.Fprintf(fs.Output(), "\nFlags (before or after the arguments; -- ends them):\n%s", usage)
		}
	}
	return fs
}

// FlagUsages lists the flags of fs as they are typed: -x for one-letter
// names, --name for the others, then the value placeholder, default and
// help text.
func FlagUsages(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if len(f.Name) == 1 {
			name = "-" + f.Name
		}
		if typ != "" {
			name += " " + typ
		}
		sep := "\n    \t" // as the standard library lays it out
		if len(name) <= 2 {
			sep = "\t"
		}
		fmt.Fprintf(&b, "  %s%s%s", name, sep, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		b.WriteByte('\n')
	})
	return b.String()
}

// describeArg, as the only argument, makes Parse hand its FlagSet to
// Describe instead of parsing (see Describe).
const describeArg = "\x00cli-describe-flags"

// describing carries the FlagSet out of a subcommand to Describe.
type describing struct{ fs *flag.FlagSet }

// Describe returns the flags run declares, without running it: run is
// called with a sentinel argument on which Parse stops it. It returns nil
// when run does not declare its flags with Parse.
func Describe(run func(args []string, stdout, stderr io.Writer) int) (fs *flag.FlagSet) {
	defer func() {
		if r := recover(); r != nil {
			d, ok := r.(describing)
			if !ok {
				panic(r)
			}
			fs = d.fs
		}
	}()
	run([]string{describeArg}, io.Discard, io.Discard)
	return nil
}

// Parse parses args: flags may come before, between or after the
// positional arguments, `--` ends the flags, and an argument that looks
// like a flag but is not one of fs's is an error (a file whose name starts
// with "-" is given after `--` or as ./-name). Go-style single-dash long
// flags (-policy x) are accepted too. It returns ok=false, with the exit
// code to use, when --help was asked for (usage on stdout, ExitOK) or
// parsing failed (the error and a hint on fs's output, ExitUsage).
func Parse(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, ok bool) {
	if len(args) == 1 && args[0] == describeArg {
		panic(describing{fs})
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return ExitOK, false
		}
	}
	canonical, err := canonicalArgs(fs, args)
	if err != nil {
		fmt.Fprintf(fs.Output(), "%s: %v\nRun '%s --help' for its flags.\n", fs.Name(), err, fs.Name())
		return ExitUsage, false
	}
	if err := fs.Parse(canonical); err != nil {
		return ExitUsage, false
	}
	return ExitOK, true
}

// canonicalArgs lets pflag read args against fs's flags and returns them
// in the order the standard library parses: every flag as -name=value in
// the order given, then "--" and the positional arguments. The values are
// only recorded here; fs.Parse sets them (once, with its own checks).
func canonicalArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var set []string
	pfs := pflag.NewFlagSet(fs.Name(), pflag.ContinueOnError)
	pfs.SetOutput(io.Discard)
	pfs.SortFlags = false
	fs.VisitAll(func(f *flag.Flag) {
		pf := &pflag.Flag{Name: f.Name, Usage: f.Usage, Value: &recorder{name: f.Name, set: &set}}
		if len(f.Name) == 1 {
			pf.Shorthand = f.Name
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			pf.NoOptDefVal = "true"
		}
		pfs.AddFlag(pf)
	})
	if err := pfs.Parse(goStyleLong(fs, args)); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			err = errors.New("unknown flag -h")
		}
		if strings.HasPrefix(err.Error(), "unknown") {
			if a := firstUnknown(pfs, args); a != "" {
				err = fmt.Errorf("unknown flag %s (a file name starting with \"-\" goes after --, or write ./%s)", a, a)
			}
		}
		return nil, err
	}
	return append(append(set, "--"), pfs.Args()...), nil
}

// firstUnknown returns the first argument before "--" that starts with
// "-" and does not name a flag of pfs.
func firstUnknown(pfs *pflag.FlagSet, args []string) string {
	for _, a := range args {
		if a == "--" {
			return ""
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		if a[1] == '-' {
			if name, _, _ := strings.Cut(a[2:], "="); pfs.Lookup(name) == nil {
				return a
			}
			continue
		}
		for _, c := range a[1:] { // a cluster of one-letter flags (-qw, -ofile)
			f := pfs.ShorthandLookup(string(c))
			if f == nil {
				return a
			}
			if f.NoOptDefVal == "" {
				break // the rest is the value
			}
		}
	}
	return ""
}

// goStyleLong rewrites -name and -name=value, where name is one of fs's
// flags longer than one letter, to --name: the standard library's
// spelling, which the docs and scripts of earlier releases use.
func goStyleLong(fs *flag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 && fs.Lookup(name) != nil {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// recorder is the pflag.Value standing in for a standard library flag
// while pflag reads the command line: it records each setting.
type recorder struct {
	name, last string
	set        *[]string
}

func (r *recorder) Set(v string) error {
	r.last = v
	*r.set = append(*r.set, "-"+r.name+"="+v)
	return nil
}

func (r *recorder) String() string { return r.last }
func (r *recorder) Type() string   { return "string" }
