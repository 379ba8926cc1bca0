package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/server/config"
	"github.com/riskforge/riskforge/vm"
)

// loaded is one policy file compiled (or decoded) into a program.
type loaded struct {
	prog     *vm.Program
	path     string // absolute path of the .risk or .rbc file
	kind     string // "source" or "artifact"
	digest   [32]byte
	identity [32]byte // digest plus model file contents: equal identity, same behaviour
	deps     []string // files whose change should trigger a reload
	warnings []string
	sources  fileSums // content digest of the policy and list files read
}

// policyFiles expands a config entry: a file is itself, a directory is
// every .risk and .rbc file directly in it, sorted.
func policyFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("policy path %s does not exist", path)
	}
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if ext := filepath.Ext(e.Name()); ext == ".risk" || ext == ".rbc" {
			out = append(out, filepath.Join(path, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no .risk or .rbc files in this directory", path)
	}
	sort.Strings(out)
	return out, nil
}

// loadEntry loads every policy file of one config entry, applying its
// list overrides. It returns all files' problems together.
func loadEntry(entry config.Policy, lim config.Limits) ([]*loaded, error) {
	files, err := policyFiles(entry.Path)
	if err != nil {
		return nil, err
	}
	var out []*loaded
	var errs []error
	for _, f := range files {
		l, err := loadFile(f, entry.Lists, lim)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, l)
	}
	for name := range entry.Lists {
		used := false
		for _, l := range out {
			for _, vl := range l.prog.Lists {
				used = used || (vl.Name == name && vl.Path != "")
			}
		}
		if !used && len(errs) == 0 {
			errs = append(errs, fmt.Errorf("%s: lists.%s: no policy loaded from this entry declares a file list named %s", entry.Path, name, name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// loadFile reads one .risk (checked and compiled) or .rbc (decoded and
// verified) file, within the limits; a source or list file must be
// complete (see readComplete).
func loadFile(path string, listOverrides map[string]string, lim config.Limits) (*loaded, error) {
	abs, err := filepath.Abs(path)
	if err == nil {
		path = abs
	}
	l := &loaded{path: path, deps: []string{path}, sources: fileSums{}}
	data, err := readLimited(path, int64(lim.MaxPolicyBytes), "max_policy_bytes")
	if err != nil {
		return nil, err
	}
	l.kind = "source"
	if compiler.IsArtifact(path, data) {
		l.kind = "artifact"
	} else if err := checkComplete(path, data, "policy"); err != nil {
		return nil, err
	}
	l.sources.add(path, data)
	prog, _, diags, err := compiler.LoadWith(path, data, compiler.LoadOptions{
		Limits:   compilerLimits(lim),
		ReadFile: l.listReader(lim),
	})
	for _, d := range diags {
		if d.Severity == lang.SevWarning {
			l.warnings = append(l.warnings, d.Error())
		}
	}
	switch {
	case diags.HasErrors():
		return nil, diagError(diags)
	case err != nil:
		return nil, err
	}
	l.prog = prog
	if err := overrideLists(l, listOverrides, lim); err != nil {
		return nil, err
	}
	for _, vl := range l.prog.Lists {
		if vl.Path != "" && l.kind == "source" {
			l.deps = append(l.deps, listPath(l, vl))
		}
	}
	enc, err := l.prog.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l.digest = sha256.Sum256(enc)
	h := sha256.New()
	h.Write(l.digest[:])
	for _, md := range l.prog.Models {
		mp := compiler.ResolvePath(path, md.Path)
		l.deps = append(l.deps, mp)
		h.Write([]byte(mp))
		if data, err := os.ReadFile(mp); err == nil {
			sum := sha256.Sum256(data)
			h.Write(sum[:])
		}
	}
	copy(l.identity[:], h.Sum(nil))
	return l, nil
}

// listPath is where a file-backed list of l comes from.
func listPath(l *loaded, vl vm.List) string {
	if filepath.IsAbs(vl.Path) {
		return vl.Path
	}
	return compiler.ResolvePath(l.path, vl.Path)
}

// overrideLists replaces file-backed lists named in overrides with the
// content of the given files.
func overrideLists(l *loaded, overrides map[string]string, lim config.Limits) error {
	if len(overrides) == 0 {
		return nil
	}
	changed := false
	for i := range l.prog.Lists {
		vl := &l.prog.Lists[i]
		file, ok := overrides[vl.Name]
		if !ok || vl.Path == "" {
			continue
		}
		data, err := l.listReader(lim)(file)
		if err != nil {
			return fmt.Errorf("%s: list %s: %w", l.path, vl.Name, err)
		}
		vl.Path, vl.Digest, vl.Strings = file, sha256.Sum256(data), compiler.ParseListFile(data)
		if n := len(vl.Strings); n > lim.MaxListEntries {
			return fmt.Errorf("%s: list %s has %d entries: over the limit of %d (max_list_entries)", file, vl.Name, n, lim.MaxListEntries)
		}
		if l.kind == "artifact" {
			l.deps = append(l.deps, file)
		}
		changed = true
	}
	if changed {
		if err := l.prog.Prepare(); err != nil {
			return fmt.Errorf("%s: after replacing lists: %w", l.path, err)
		}
	}
	return nil
}

// diagError keeps a policy's errors (not its warnings), at most ten.
func diagError(diags lang.ErrorList) error {
	var lines []string
	n := 0
	for _, d := range diags {
		if d.Severity != lang.SevError {
			continue
		}
		if n++; n <= 10 {
			lines = append(lines, d.Error())
		}
	}
	if n > 10 {
		lines = append(lines, fmt.Sprintf("(and %d more errors)", n-10))
	}
	return errors.New(strings.Join(lines, "\n"))
}

func hexDigest(d [32]byte) string { return "sha256:" + hex.EncodeToString(d[:]) }
