package server

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/server/config"
)

// A reload must never put a partly written policy or list file into
// service. Three checks, each catching what the others cannot
// (docs/OPERATIONS.md, "Deploying policy files safely"):
//
//  1. Complete form: a source or list file must end with a newline. A
//     file cut in the middle of a line (an editor or a deploy tool that
//     writes in chunks) is refused. A cut inside a block is a syntax
//     error anyway, and a policy cut before its first rule has no rules,
//     which the compiler refuses.
//  2. Stable: every file is read again after reload.debounce; a file
//     whose content changed meanwhile is still being written, and the
//     reload waits for the watcher's next event.
//  3. No silent loss: a version that has fewer rules, or a list with
//     fewer entries, than the serving version under the same version
//     string is refused — a file cut at a line boundary looks exactly
//     like that. Deliberate removals bump the version, or go through
//     POST /v1/admin/reload?allow_shrink=true.

// fileSums is the content digest of each file a load read.
type fileSums map[string][32]byte

func (f fileSums) add(path string, data []byte) { f[path] = sha256.Sum256(data) }

// readLimited reads a file of at most limit bytes; limitName is the
// config key named in the error.
func readLimited(path string, limit int64, limitName string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	if st, err := fh.Stat(); err == nil && st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes: over the limit of %d (limits.%s)", path, st.Size(), limit, limitName)
	}
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: over the limit of %d bytes (limits.%s)", path, limit, limitName)
	}
	return data, nil
}

// checkComplete refuses a non-empty source or list file that does not end
// with a newline: it is most likely still being written.
func checkComplete(path string, data []byte, what string) error {
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return fmt.Errorf("%s: the %s file does not end with a newline, so it may be partly written; "+
			"deploy by writing a temporary file and renaming it over this one", path, what)
	}
	return nil
}

// listReader reads a list file for l within the limits, records its
// digest and refuses it when it is incomplete.
func (l *loaded) listReader(lim config.Limits) func(string) ([]byte, error) {
	return func(path string) ([]byte, error) {
		data, err := readLimited(path, int64(lim.MaxListBytes), "max_list_bytes")
		if err != nil {
			return nil, err
		}
		if err := checkComplete(path, data, "list"); err != nil {
			return nil, err
		}
		l.sources.add(path, data)
		return data, nil
	}
}

func compilerLimits(lim config.Limits) compiler.Limits {
	return compiler.Limits{MaxRules: lim.MaxRules, MaxListEntries: lim.MaxListEntries, MaxListBytes: int64(lim.MaxListBytes)}
}

// checkStable waits for wait, then reads every file again and refuses
// the load when one of them changed meanwhile.
func checkStable(files []*loaded, wait time.Duration, stop <-chan struct{}) error {
	select {
	case <-time.After(wait):
	case <-stop:
		return errors.New("shutting down")
	}
	var changed []string
	for _, l := range files {
		for path, sum := range l.sources {
			data, err := os.ReadFile(path)
			if err != nil || sha256.Sum256(data) != sum {
				changed = append(changed, path)
			}
		}
	}
	if len(changed) > 0 {
		sort.Strings(changed)
		return fmt.Errorf("%s changed while being loaded (still being written?); "+
			"the reload waits for the next change, or POST /v1/admin/reload", strings.Join(changed, ", "))
	}
	return nil
}

// checkShrink refuses versions that lost rules or list entries against
// the serving version with the same policy name and version string.
func checkShrink(old *snapshot, files []*loaded) error {
	if old == nil {
		return nil
	}
	var errs []error
	for _, l := range files {
		ps := old.policies[l.prog.Name]
		if ps == nil {
			continue
		}
		e := ps.byVersion[l.prog.Version]
		if e == nil || e.v.identity == l.identity {
			continue
		}
		was, now := e.v.Prog, l.prog
		what := fmt.Sprintf("%s: policy %s version %q", l.path, now.Name, now.Version)
		if len(now.Rules) < len(was.Rules) {
			errs = append(errs, fmt.Errorf("%s has %d rules, the serving one %d: refused, a truncated or partly written file looks like this; "+
				"to remove rules, change the version string", what, len(now.Rules), len(was.Rules)))
		}
		for _, wl := range was.Lists {
			if wl.Name == "" {
				continue
			}
			for _, nl := range now.Lists {
				if nl.Name == wl.Name && len(nl.Strings)+len(nl.Nums) < len(wl.Strings)+len(wl.Nums) {
					errs = append(errs, fmt.Errorf("%s: list %s has %d entries, the serving one %d: refused, a truncated list file looks like this; "+
						"to remove entries, change the version string or POST /v1/admin/reload?allow_shrink=true",
						what, wl.Name, len(nl.Strings)+len(nl.Nums), len(wl.Strings)+len(wl.Nums)))
				}
			}
		}
	}
	return errors.Join(errs...)
}
