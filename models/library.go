package models

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// EnvLibrary names the environment variable holding the path of the
// onnxruntime shared library. The Makefile exports it to every recipe.
const EnvLibrary = "RISKFORGE_ORT_LIB"

// DefaultLibrary is where `make deps` installs onnxruntime, relative to
// the repository root.
const DefaultLibrary = "third_party/onnxruntime/lib/libonnxruntime.so"

// Options configure onnxruntime. The zero value is the serving default:
// the library from RISKFORGE_ORT_LIB or the `make deps` location, one
// intra-op and one inter-op thread per session, no spinning.
type Options struct {
	// LibraryPath is the onnxruntime shared library; "" looks it up (see
	// LibraryPath).
	LibraryPath string
	// IntraOpThreads is the number of threads one Run may use; 0 means 1.
	// Parallelism normally comes from concurrent requests, each running on
	// its own session, so more threads per Run only help large models.
	IntraOpThreads int
	// InterOpThreads is the number of threads running independent nodes
	// of a graph in parallel; 0 means 1.
	InterOpThreads int
	// Spinning lets onnxruntime's worker threads busy-wait for work. Off by
	// default: with the default one thread per Run there are no workers,
	// and with more, spinning burns every core it is given.
	Spinning bool
	// Sessions is the number of sessions per model serving single-row calls
	// concurrently; 0 means GOMAXPROCS. Each session holds its own copy of
	// the model. Calls beyond that wait (within their timeout) for one.
	Sessions int
	// Coalesce, when above 1, groups concurrent single-row calls of a
	// model into one Run of up to this many rows (see coalesce.go); 0 or
	// 1 runs every call alone.
	Coalesce int
	// NoTimeouts makes Load's registry ignore the declared timeouts: for
	// offline evaluation (backtests, training), whose results must not
	// depend on how loaded the machine is. Serving keeps them.
	NoTimeouts bool
	// ONNXRuntimeOnly runs every model on onnxruntime, even a tree
	// ensemble the registry would evaluate natively (see trees.go): for
	// comparisons, or to rule the native form out.
	ONNXRuntimeOnly bool
}

// ErrLibraryNotFound is wrapped by the error of LibraryPath, Init, Load
// and Check when the onnxruntime library is missing.
var ErrLibraryNotFound = errors.New("onnxruntime library not found")

// LibraryError says where the onnxruntime library was looked for.
type LibraryError struct {
	Looked []string // each place, with where it came from in parentheses
}

func (e *LibraryError) Error() string {
	return fmt.Sprintf("%v (looked at %s); set %s to its path, or run `make deps` to install it",
		ErrLibraryNotFound, strings.Join(e.Looked, ", "), EnvLibrary)
}

// Unwrap makes errors.Is(err, ErrLibraryNotFound) hold.
func (e *LibraryError) Unwrap() error { return ErrLibraryNotFound }

// LibraryPath returns the onnxruntime shared library to load: explicit
// when not empty (from configuration), else $RISKFORGE_ORT_LIB when set,
// else the first existing third_party/onnxruntime/lib/libonnxruntime.so
// found in the directory of the executable, the working directory or one
// of their parents, or the source tree this package was built from. A path
// that was configured explicitly or by the environment must exist: it is
// not silently replaced by another copy. The error is a *LibraryError
// listing every place looked at.
func LibraryPath(explicit string) (string, error) {
	if explicit != "" {
		return existing(explicit, "configured")
	}
	if env := os.Getenv(EnvLibrary); env != "" {
		return existing(env, "from "+EnvLibrary)
	}
	var looked []string
	seen := map[string]bool{}
	try := func(dir, why string) (string, bool) {
		p := filepath.Join(dir, DefaultLibrary)
		if seen[p] {
			return "", false
		}
		seen[p] = true
		if isFile(p) {
			return p, true
		}
		looked = append(looked, p+" ("+why+")")
		return "", false
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			for _, d := range parents(filepath.Dir(exe), 2) {
				if p, ok := try(d, "near the executable"); ok {
					return p, nil
				}
			}
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for _, d := range parents(wd, 8) {
			if p, ok := try(d, "working directory or a parent"); ok {
				return p, nil
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if p, ok := try(filepath.Dir(filepath.Dir(file)), "source tree"); ok {
			return p, nil
		}
	}
	return "", &LibraryError{Looked: looked}
}

func existing(p, why string) (string, error) {
	if isFile(p) {
		return p, nil
	}
	return "", &LibraryError{Looked: []string{p + " (" + why + ")"}}
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// parents returns dir and up to n of its parents.
func parents(dir string, n int) []string {
	out := []string{dir}
	for i := 0; i < n; i++ {
		up := filepath.Dir(dir)
		if up == dir {
			break
		}
		dir = up
		out = append(out, dir)
	}
	return out
}

var env struct {
	sync.Mutex
	path string // library of the initialised environment
}

// Init loads the onnxruntime library and creates the process-wide
// onnxruntime environment. It is idempotent: once it has succeeded, later
// calls return nil (an explicit LibraryPath naming another file is an
// error, since a process can load only one). A failure is not remembered,
// so a later call retries (say after `make deps`).
func Init(opts Options) error {
	env.Lock()
	defer env.Unlock()
	if env.path != "" || ort.IsInitialized() {
		if opts.LibraryPath != "" && env.path != "" && !sameFile(opts.LibraryPath, env.path) {
			return fmt.Errorf("onnxruntime is already loaded from %s; cannot load %s as well", env.path, opts.LibraryPath)
		}
		if env.path == "" {
			env.path = "(initialised elsewhere)"
		}
		return nil
	}
	path, err := LibraryPath(opts.LibraryPath)
	if err != nil {
		return err
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelFatal()); err != nil {
		return fmt.Errorf("loading onnxruntime from %s: %w (riskforge needs onnxruntime %s; `make deps` installs it)", path, err, ortVersion)
	}
	env.path = path
	return nil
}

// ortVersion is the onnxruntime release onnxruntime_go v1.27 speaks to.
const ortVersion = "1.24.x"

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return os.SameFile(sa, sb)
}

// Loaded returns the path of the loaded onnxruntime library and its
// version, or "" when Init has not succeeded.
func Loaded() (path, version string) {
	env.Lock()
	defer env.Unlock()
	if env.path == "" {
		return "", ""
	}
	return env.path, ort.GetVersion()
}
