package compiler

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// IsArtifact reports whether a policy file is a compiled artifact rather
// than source: by its .rbc extension or by the artifact magic.
func IsArtifact(path string, data []byte) bool {
	return filepath.Ext(path) == ".rbc" || bytes.HasPrefix(data, []byte(vm.ArtifactMagic))
}

// Limits bound what LoadWith accepts, so that an oversized or hostile
// policy fails at once with an error naming the limit instead of taking
// minutes and gigabytes. Zero means no limit.
type Limits struct {
	MaxRules       int   // rules in one policy
	MaxListEntries int   // entries in one list (file-backed or inline)
	MaxListBytes   int64 // size of one list file
}

// LoadOptions configure LoadWith.
type LoadOptions struct {
	Limits
	// ReadFile reads list files (paths resolved against the policy's
	// directory); nil means os.ReadFile. A caller may refuse a file here.
	ReadFile func(path string) ([]byte, error)
}

// Load turns the contents of a policy file into a program, the way every
// tool that runs policies reads them: an artifact is decoded and verified
// (the IR is then nil); source is checked and compiled, list files read
// relative to path. diags holds the source's diagnostics, warnings
// included; err is set exactly when there is no program.
func Load(path string, data []byte) (*vm.Program, *IR, lang.ErrorList, error) {
	return LoadWith(path, data, LoadOptions{})
}

// LoadWith is Load with limits and a list file reader.
func LoadWith(path string, data []byte, opts LoadOptions) (*vm.Program, *IR, lang.ErrorList, error) {
	read := opts.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	if opts.MaxListBytes > 0 {
		inner := read
		read = func(p string) ([]byte, error) {
			if st, err := os.Stat(p); err == nil && st.Size() > opts.MaxListBytes {
				return nil, fmt.Errorf("%s: %d bytes: over the limit of %d (max_list_bytes)", p, st.Size(), opts.MaxListBytes)
			}
			return inner(p)
		}
	}
	if IsArtifact(path, data) {
		prog, err := vm.Decode(data)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := opts.checkProgram(prog); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return prog, nil, nil, nil
	}
	f, err := lang.Parse(path, data)
	if err != nil {
		var list lang.ErrorList
		if !errors.As(err, &list) {
			list.Add(lang.Pos{File: &path}, "%v", err)
		}
		return nil, nil, list, list
	}
	// Counted before checking: checking is linear, but a limit that only
	// applies after the work is no protection.
	if diags := opts.checkRuleCount(f); diags.HasErrors() {
		return nil, nil, diags, diags
	}
	pol, diags := Check(f, Options{CheckFiles: true})
	if diags.HasErrors() {
		return nil, nil, diags, diags
	}
	prog, ir, err := Compile(pol, CompileOptions{ReadFile: read})
	if err != nil {
		return nil, nil, diags, err
	}
	if err := opts.checkProgram(prog); err != nil {
		return nil, nil, diags, fmt.Errorf("%s: %w", path, err)
	}
	return prog, ir, diags, nil
}

// checkRuleCount reports the first rule over MaxRules.
func (l Limits) checkRuleCount(f *lang.File) lang.ErrorList {
	var diags lang.ErrorList
	if l.MaxRules <= 0 {
		return nil
	}
	n := 0
	for _, d := range f.Decls {
		if r, ok := d.(*lang.RuleDecl); ok {
			if n++; n > l.MaxRules {
				diags.Add(r.Pos, "more than %d rules: over the limit (max_rules)", l.MaxRules)
				return diags
			}
		}
	}
	return nil
}

// checkProgram applies the limits to a compiled or decoded program.
func (l Limits) checkProgram(p *vm.Program) error {
	if l.MaxRules > 0 && len(p.Rules) > l.MaxRules {
		return fmt.Errorf("%d rules: over the limit of %d (max_rules)", len(p.Rules), l.MaxRules)
	}
	if l.MaxListEntries > 0 {
		for _, vl := range p.Lists {
			if n := len(vl.Strings) + len(vl.Nums); n > l.MaxListEntries {
				return fmt.Errorf("list %s has %d entries: over the limit of %d (max_list_entries)", vl.Name, n, l.MaxListEntries)
			}
		}
	}
	return nil
}
