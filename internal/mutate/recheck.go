package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/scanner"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// mutations is Gremlins v0.6.0's token replacement per mutator, for the
// mutators it enables by default (internal/engine/mappings.go there).
// INVERT_NEGATIVES and ARITHMETIC_BASE both turn a unary minus into a
// plus.
var mutations = map[string]map[token.Token]token.Token{
	"ARITHMETIC_BASE":       {token.ADD: token.SUB, token.MUL: token.QUO, token.QUO: token.MUL, token.REM: token.MUL, token.SUB: token.ADD},
	"CONDITIONALS_BOUNDARY": {token.GEQ: token.GTR, token.GTR: token.GEQ, token.LEQ: token.LSS, token.LSS: token.LEQ},
	"CONDITIONALS_NEGATION": {token.EQL: token.NEQ, token.GEQ: token.LSS, token.GTR: token.LEQ, token.LEQ: token.GTR, token.LSS: token.GEQ, token.NEQ: token.EQL},
	"INCREMENT_DECREMENT":   {token.DEC: token.INC, token.INC: token.DEC},
	"INVERT_NEGATIVES":      {token.SUB: token.ADD},
}

// mutate returns src with the mutator applied to the token at line:col
// (1-based, col in bytes, as Gremlins reports it). It fails when no
// token the mutator changes starts there: the source moved since the
// report was written, so the report no longer describes it.
func mutate(src []byte, line, col int, mutator string) ([]byte, error) {
	repl, ok := mutations[mutator]
	if !ok {
		return nil, fmt.Errorf("mutator %s is not one recheck can apply", mutator)
	}
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(src))
	var s scanner.Scanner
	s.Init(file, src, nil, 0)
	for {
		pos, tok, _ := s.Scan()
		if tok == token.EOF {
			return nil, fmt.Errorf("no token at %d:%d", line, col)
		}
		p := fset.Position(pos)
		if p.Line != line || p.Column != col {
			continue
		}
		to, ok := repl[tok]
		if !ok {
			return nil, fmt.Errorf("%d:%d is %q, which %s does not change: the source moved since the report", line, col, tok, mutator)
		}
		off := file.Offset(pos)
		out := append([]byte(nil), src[:off]...)
		out = append(out, to.String()...)
		return append(out, src[off+len(tok.String()):]...), nil
	}
}

// recheck runs the package's tests once per survivor of an earlier
// report (LIVED or NOT COVERED, allow-listed ones left alone) with that
// one mutation applied through `go test -overlay`, the tree untouched,
// and writes the report with each killed survivor marked KILLED. After
// tests are added and no code in scope changed, every mutant killed
// before is still killed, so only the survivors need running: a few
// minutes instead of a full run. A NOT COVERED survivor the tests still
// pass stays NOT COVERED (whether they now reach it is not known).
func recheck(t target, allow []*allowed, fromJSON, outJSON, goflags string, limit time.Duration) error {
	data, err := os.ReadFile(fromJSON)
	if err != nil {
		return err
	}
	var rep map[string]any
	if err := json.Unmarshal(data, &rep); err != nil {
		return fmt.Errorf("%s: %w", fromJSON, err)
	}
	files, _ := rep["files"].([]any)
	tmp, err := os.MkdirTemp("", "mutate-recheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	root, err := filepath.Abs(".")
	if err != nil {
		return err
	}
	killed, tried := 0, 0
	for _, f := range files {
		fm, _ := f.(map[string]any)
		name, _ := fm["file_name"].(string)
		rel := filepath.Join(t.pkg, filepath.FromSlash(name))
		src, err := os.ReadFile(rel)
		if err != nil {
			return err
		}
		lines := strings.Split(string(src), "\n")
		consts := constLines(rel)
		muts, _ := fm["mutations"].([]any)
		for _, x := range muts {
			mm, _ := x.(map[string]any)
			status, _ := mm["status"].(string)
			typ, _ := mm["type"].(string)
			line, col := int(num(mm["line"])), int(num(mm["column"]))
			m := mutant{file: filepath.ToSlash(rel), mutator: typ, status: status, line: line, col: col}
			if line >= 1 && line <= len(lines) {
				m.src = lines[line-1]
			}
			if (status != "LIVED" && status != "NOT COVERED") || (status == "NOT COVERED" && (inCaseClause(m.src) || consts[line])) || find(allow, m) != nil {
				continue
			}
			mutated, err := mutate(src, line, col, typ)
			if err != nil {
				return fmt.Errorf("%s:%d:%d: %w; run gremlins again", rel, line, col, err)
			}
			tried++
			res, err := runMutant(root, rel, mutated, tmp, t, goflags, limit)
			if err != nil {
				return fmt.Errorf("%s:%d:%d %s: %w", rel, line, col, typ, err)
			}
			fmt.Printf("    %s:%d:%d %s %s -> %s\n", rel, line, col, status, typ, res)
			switch res {
			case "KILLED", "TIMED OUT":
				mm["status"] = res
				killed++
			case "NOT VIABLE":
				mm["status"] = res
			}
		}
	}
	fmt.Printf("%-10s rechecked %d survivors: %d now detected\n", t.pkg, tried, killed)
	out, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(outJSON, out, 0o644)
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// namesMutant reports whether go's output points at the mutated file.
// go prints a path outside the module relative to the working directory
// and may shorten it (".ate-recheck-123/mutant.go" for
// /tmp/mutate-recheck-123/mutant.go), so the test is on the file's name
// within its temporary directory, whose random suffix no other file has.
func namesMutant(out, mpath string) bool {
	dir := filepath.Base(filepath.Dir(mpath))
	suffix := dir[strings.LastIndexByte(dir, '-')+1:]
	return strings.Contains(out, suffix+"/"+filepath.Base(mpath)+":")
}

// runMutant runs t's tests with file rel replaced by mutated.
func runMutant(root, rel string, mutated []byte, tmp string, t target, goflags string, limit time.Duration) (string, error) {
	mpath := filepath.Join(tmp, "mutant.go")
	if err := os.WriteFile(mpath, mutated, 0o644); err != nil {
		return "", err
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(root, rel): mpath}})
	opath := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(opath, overlay, 0o644); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-failfast", "-overlay", opath, "./"+t.pkg)
	cmd.Env = append(os.Environ(), "GOFLAGS="+t.goflags(goflags))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return "TIMED OUT", nil
	case err == nil:
		return "LIVED", nil
	case errors.As(err, &exit) && strings.Contains(out.String(), "[build failed]") && namesMutant(out.String(), mpath):
		// Gremlins lists mutants in code no test reached without building
		// them; once tests reach one that does not compile (a + between
		// strings made -), a full run reports it NOT VIABLE. Only an error
		// in the mutated file itself: a test that does not build is an
		// error below, not a reason to drop every survivor.
		return "NOT VIABLE", nil
	case errors.As(err, &exit) && strings.Contains(out.String(), "[build failed]"):
		return "", fmt.Errorf("the package does not build:\n%s", out.String())
	case errors.As(err, &exit):
		return "KILLED", nil
	}
	return "", err
}
