package compiler

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// IsArtifact reports whether a policy file is a compiled artifact rather
// than source: by its .rbc extension or by the artifact magic.
func IsArtifact(path string, data []byte) bool {
	return filepath.Ext(path) == ".rbc" || bytes.HasPrefix(data, []byte(vm.ArtifactMagic))
}

// Load turns the contents of a policy file into a program, the way every
// tool that runs policies reads them: an artifact is decoded and verified
// (the IR is then nil); source is checked and compiled, list files read
// relative to path. diags holds the source's diagnostics, warnings
// included; err is set exactly when there is no program.
func Load(path string, data []byte) (*vm.Program, *IR, lang.ErrorList, error) {
	if IsArtifact(path, data) {
		prog, err := vm.Decode(data)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return prog, nil, nil, nil
	}
	pol, diags := CheckSource(path, data, Options{CheckFiles: true})
	if diags.HasErrors() {
		return nil, nil, diags, diags
	}
	prog, ir, err := Compile(pol, CompileOptions{})
	if err != nil {
		return nil, nil, diags, err
	}
	return prog, ir, diags, nil
}
