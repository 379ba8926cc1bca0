package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

func init() {
	register("build", "compile a policy into a binary artifact (.rbc)", runBuild)
}

func runBuild(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("build", "FILE.risk", "Checks and compiles a policy and writes the versioned binary artifact that\nriskd loads and 'riskc disasm' lists. Diagnostics are printed as by\n'riskc check'; any error means no artifact is written (exit 1).", stderr)
	out := fs.String("o", "", "write the artifact to `FILE` (default: the input with the .rbc extension)")
	if code, ok := parseArgs(fs, args, stdout, 1, anyMore); !ok {
		return code
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "riskc build: unexpected arguments after %s: %s (one file per build)\n", fs.Arg(0), strings.Join(fs.Args()[1:], " "))
		return exitUsage
	}
	path := fs.Arg(0)
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "riskc: %v\n", err)
		return exitError
	}
	if compiler.IsArtifact(path, src) {
		fmt.Fprintf(stderr, "riskc build: %s is a compiled artifact; build takes policy source (.risk)\n", path)
		return exitUsage
	}
	target := *out
	if target == "" {
		target = strings.TrimSuffix(path, filepath.Ext(path)) + ".rbc"
	}
	prog, _, code := compileSource(path, src, stderr)
	if code != exitOK {
		return code
	}
	if err := checkModelPaths(prog, path, target); err != nil {
		fmt.Fprintf(stderr, "riskc build: %v\n", err)
		return exitError
	}
	data, err := prog.MarshalBinary()
	if err != nil {
		fmt.Fprintf(stderr, "riskc: %s: %v\n", path, err)
		return exitError
	}
	if err := writeArtifact(target, data); err != nil {
		fmt.Fprintf(stderr, "riskc: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stderr, "built %s: policy %s %s, %d rules, %d params, %d bytes\n",
		target, prog.Name, prog.Version, len(prog.Rules), len(prog.Params), len(data))
	return exitOK
}

// checkModelPaths refuses an artifact in another folder than its source
// when the policy names model files by relative path: they are resolved
// against the artifact's folder when it is loaded, so the artifact would
// not find them (or find other files).
func checkModelPaths(prog *vm.Program, source, target string) error {
	srcDir, err1 := filepath.Abs(filepath.Dir(source))
	dstDir, err2 := filepath.Abs(filepath.Dir(target))
	if err1 != nil || err2 != nil || srcDir == dstDir {
		return nil
	}
	for _, m := range prog.Models {
		if !filepath.IsAbs(m.Path) {
			return fmt.Errorf("%s: model %s is read from %q, relative to the policy's folder; an artifact in %s would look for it there and not find it. Write the artifact into %s (the default without -o), or declare the model by absolute path", source, m.Name, m.Path, dstDir, filepath.Dir(source))
		}
	}
	return nil
}

// writeArtifact writes data to a temporary file next to path and renames
// it over path, so readers (a riskd reloading the artifact) never see a
// partly written file.
func writeArtifact(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
