package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/riskforge/riskforge/lang"
)

func init() {
	register("fmt", "format policy files in the canonical layout", runFmt)
}

const fmtAbout = `Formats policy files in the canonical layout (two-space indentation,
aligned input and model blocks, one blank line between declarations, every
comment kept). Without flags the formatted source is printed to stdout.
A directory argument means every .risk file below it. --check (for CI)
lists the files whose formatting differs and exits 1 when there is one.

A file with syntax errors is left alone: its diagnostics are printed to
stderr as FILE:LINE:COL: error: message. Exit status: 0 ok (also when -l or
-d find differences), 1 when any file has errors or cannot be read or
written, or --check finds a difference, 2 on usage errors.`

// fmtOptions are the flags of riskc fmt.
type fmtOptions struct {
	write, list, diff, check bool
}

func runFmt(args []string, stdout, stderr io.Writer) int {
	flags := newFlagSet("fmt", "FILE|DIR...", fmtAbout, stderr)
	var o fmtOptions
	flags.BoolVar(&o.write, "w", false, "write the result back to each file whose formatting differs (atomic replace, file mode kept) instead of printing it")
	flags.BoolVar(&o.list, "l", false, "list the files whose formatting differs instead of printing them")
	flags.BoolVar(&o.diff, "d", false, "print a unified diff of the changes instead of the formatted source")
	flags.BoolVar(&o.check, "check", false, "list the files whose formatting differs and exit 1 when there is one; write nothing (for CI)")
	if code, ok := parseFlags(flags, args, stdout); !ok {
		return code
	}
	if flags.NArg() == 0 {
		fmt.Fprintln(stderr, "riskc fmt: no files given")
		flags.Usage()
		return exitUsage
	}
	if o.check && o.write {
		fmt.Fprintln(stderr, "riskc fmt: --check writes nothing; drop -w or --check")
		return exitUsage
	}
	code := exitOK
	for _, path := range expandPolicyArgs("riskc fmt", flags.Args(), stderr, &code) {
		if !fmtFile(path, o, stdout, stderr) {
			code = exitError
		}
	}
	return code
}

// expandPolicyArgs replaces each directory argument by the .risk files
// below it; a directory that cannot be walked sets *code to exitError, as
// does a directory without a policy (a mistyped path must not pass CI).
func expandPolicyArgs(cmd string, args []string, stderr io.Writer, code *int) []string {
	var files []string
	for _, arg := range args {
		if info, err := os.Stat(arg); err != nil || !info.IsDir() {
			files = append(files, arg) // a missing file is reported when read
			continue
		}
		n := len(files)
		err := filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".risk") {
				files = append(files, path)
			}
			return err
		})
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			*code = exitError
		case len(files) == n:
			fmt.Fprintf(stderr, "%s: %s: no .risk files in this directory or below\n", cmd, arg)
			*code = exitError
		}
	}
	return files
}

// fmtFile formats one file as the options say; it reports problems to
// stderr and returns false when the file has errors or I/O failed.
func fmtFile(path string, o fmtOptions, stdout, stderr io.Writer) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "riskc fmt: %s: internal error: %v (file left unchanged)\n", path, r)
			ok = false
		}
	}()
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "riskc fmt: %v\n", err)
		return false
	}
	out, err := formatSource(path, src)
	if err != nil {
		printFmtError(stderr, path, err)
		return false
	}
	return emitFormatted(path, src, out, o, stdout, stderr)
}

// emitFormatted lists, diffs, writes or prints the formatted source.
func emitFormatted(path string, src, out []byte, o fmtOptions, stdout, stderr io.Writer) bool {
	changed := !bytes.Equal(src, out)
	if (o.list || o.check) && changed {
		fmt.Fprintln(stdout, path)
	}
	if o.diff && changed {
		writeUnifiedDiff(stdout, path, src, out)
	}
	if o.write && changed {
		if err := writeFileAtomic(path, out); err != nil {
			fmt.Fprintf(stderr, "riskc fmt: %v\n", err)
			return false
		}
	}
	if o.check && changed {
		return false
	}
	if !o.list && !o.diff && !o.write && !o.check {
		if _, err := stdout.Write(out); err != nil {
			fmt.Fprintf(stderr, "riskc fmt: %v\n", err)
			return false
		}
	}
	return true
}

// errFmtChanged means the formatted text would not parse back to the same
// policy; it guards the files against a printer bug.
var errFmtChanged = errors.New("internal error: formatting would change the policy; file left unchanged (please report this)")

// formatSource parses src and returns its canonical layout, checked to
// parse back to the same syntax tree with the same comments.
func formatSource(path string, src []byte) ([]byte, error) {
	f, err := lang.Parse(path, src)
	if err != nil {
		return nil, err
	}
	out := lang.Format(f)
	g, err := lang.Parse(path, out)
	if err != nil || lang.Dump(g) != lang.Dump(f) {
		return nil, errFmtChanged
	}
	return out, nil
}

// printFmtError prints a syntax error list one diagnostic per line.
func printFmtError(w io.Writer, path string, err error) {
	var list lang.ErrorList
	if !errors.As(err, &list) {
		fmt.Fprintf(w, "riskc fmt: %s: %v\n", path, err)
		return
	}
	for _, e := range list {
		fmt.Fprintln(w, e.Error())
	}
}

// writeFileAtomic replaces the file at path (following symlinks) with
// data: it writes a temporary file in the same directory with the old
// file's permissions and renames it over the original.
func writeFileAtomic(path string, data []byte) (err error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".riskfmt-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Chmod(info.Mode().Perm()); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
