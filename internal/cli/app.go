package cli

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Command is one subcommand of an App. Run parses its own arguments (with
// NewFlagSet and Parse) and returns the exit code.
type Command struct {
	Name, Summary string
	Run           func(args []string, stdout, stderr io.Writer) int
}

// App is a command with subcommands (riskc, riskd).
type App struct {
	Name  string // riskc
	Short string // one line: what the command is
	// Long follows the command list in the help (where to read more).
	Long     string
	Commands []Command
	// Version returns the text of --version (see VersionInfo).
	Version func() string
}

// Run dispatches args to a subcommand and returns the exit code. Besides
// the subcommands it answers --version, --help, `help [COMMAND]` and
// `completion bash|zsh|fish` (the scripts call back into the binary, so
// completion knows every command and flag of the build installed).
func (a *App) Run(args []string, stdout, stderr io.Writer) int {
	code := ExitOK
	root := a.root(stdout, stderr, &code)
	completing := len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd)
	for _, c := range a.Commands {
		cmd := a.subcommand(c, stdout, stderr, &code)
		if completing && len(args) > 1 && args[1] == c.Name {
			if fs := Describe(c.Run); fs != nil {
				fs.VisitAll(func(f *flag.Flag) {
					pf := pflag.PFlagFromGoFlag(f)
					_, pf.Usage = flag.UnquoteUsage(f)
					cmd.Flags().AddFlag(pf)
				})
			}
		}
		root.AddCommand(cmd)
	}
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		if len(args) > 1 {
			fmt.Fprintf(stderr, "%s: --version takes no arguments\n", a.Name)
			return ExitUsage
		}
		if a.Version != nil {
			fmt.Fprint(stdout, a.Version())
		}
		return ExitOK
	}
	if len(args) == 0 {
		root.SetOut(stderr)
		root.Usage()
		return ExitUsage
	}
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for the commands.\n", a.Name, err, a.Name)
		return ExitUsage
	}
	return code
}

// root builds the top-level cobra command.
func (a *App) root(stdout, stderr io.Writer, code *int) *cobra.Command {
	root := &cobra.Command{
		Use:           a.Name,
		Short:         a.Short,
		Long:          a.Short,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Usage() },
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetUsageFunc(func(cmd *cobra.Command) error {
		a.usage(cmd.OutOrStdout(), cmd)
		return nil
	})
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) { a.usage(cmd.OutOrStdout(), cmd) })
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	root.CompletionOptions.HiddenDefaultCmd = false
	return root
}

// subcommand wraps c for cobra: c parses its own flags, so --help, bad
// flags and flags after file names behave the same whether riskc is run
// or c.Run is called directly (in tests).
func (a *App) subcommand(c Command, stdout, stderr io.Writer, code *int) *cobra.Command {
	cmd := &cobra.Command{
		Use:                c.Name,
		Short:              c.Summary,
		DisableFlagParsing: true,
		SilenceErrors:      true,
		SilenceUsage:       true,
		RunE: func(_ *cobra.Command, args []string) error {
			*code = c.Run(args, stdout, stderr)
			return nil
		},
	}
	cmd.SetHelpFunc(func(*cobra.Command, []string) { c.Run([]string{"--help"}, stdout, stderr) })
	return cmd
}

// usage prints the command list.
func (a *App) usage(w io.Writer, cmd *cobra.Command) {
	if cmd.HasParent() { // help of a cobra-made command (completion)
		fmt.Fprint(w, cmd.UsageString())
		return
	}
	fmt.Fprintf(w, "%s — %s\n\nUsage:\n  %s COMMAND [flags] [arguments]\n\nCommands:\n", a.Name, a.Short, a.Name)
	var names []string
	byName := map[string]string{}
	for _, c := range cmd.Commands() {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		names = append(names, c.Name())
		byName[c.Name()] = c.Short
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, byName[n])
	}
	fmt.Fprintf(w, "\nFlags:\n  --version  print the version, commit, Go and onnxruntime versions\n  --help     this help\n")
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for the flags of a command; flags may come before\nor after file names. Shell completion: source <(%s completion bash) (or zsh, fish).\n", a.Name, a.Name)
	if a.Long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(a.Long))
	}
	fmt.Fprintln(w, "\nExit status: 0 ok, 1 errors in the input, 2 usage error.")
}

// Commit and CommitTime stand in for the build info's VCS stamp when
// that is missing (go build in a git worktree, or -buildvcs=false); the
// Makefile sets them with -ldflags -X.
var Commit, CommitTime string

// VersionInfo describes the running binary from its build info: the module
// version (a tag, a pseudo-version, or "(devel)" for a plain go build),
// the VCS commit and time (with "+dirty" for uncommitted changes), the Go
// version and platform, and extra lines (onnxruntime).
func VersionInfo(name string, extra ...string) string {
	version, commit, when, dirty := "(unknown)", Commit, CommitTime, false
	if commit == "" {
		commit = "unknown"
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty {
		commit += "+dirty"
	}
	if when != "" {
		commit += " (" + when + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\ncommit      %s\ngo          %s %s/%s\n", name, version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, e := range extra {
		fmt.Fprintln(&b, e)
	}
	return b.String()
}
