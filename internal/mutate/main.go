// Command mutate runs mutation testing (Gremlins) over the packages that
// decide and holds each to the thresholds kept in targets.txt. It owns the
// scope of every package (which files are mutated), the reading of
// gremlins' JSON reports, the allow-list of equivalent mutants
// (allow.txt) and the pass/fail verdict; `make mutate` runs it.
//
// Usage, from the module root:
//
//	go run ./internal/mutate [-pkg windows,compiler] [-files vm/verify.go] [-workers 2] [-from DIR] [-dry-run]
//
// -from re-scores reports a previous run left in DIR without running
// gremlins again (after editing allow.txt, say); with -recheck it reruns
// only their survivors against the tests as they are now; -dry-run measures only
// mutator coverage, in one test run per package; -files narrows a run to
// some files of the targets' scopes, for quick feedback while writing
// tests (such a partial run prints its figures but does not gate).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// maxTimeoutShare bounds the share of covered mutants that may time out:
// gremlins counts a timeout as neither killed nor lived, and on a loaded
// machine slow tests time out without any mutant being caught, so a run
// with many timeouts measures the machine, not the tests.
const maxTimeoutShare = 0.10

func main() {
	var (
		dir      = flag.String("dir", "internal/mutate", "directory holding targets.txt and allow.txt")
		pkgs     = flag.String("pkg", "", "comma-separated packages to run (default: every target)")
		gremlins = flag.String("gremlins", "bin/tools/gremlins", "the gremlins binary")
		workers  = flag.Int("workers", 2, "gremlins workers (parallel test runs)")
		coeff    = flag.Int("timeout-coefficient", 30, "a mutant's tests time out after this many times the unmutated run")
		out      = flag.String("out", "out/mutate", "where gremlins' JSON reports and logs go")
		from     = flag.String("from", "", "re-score the JSON reports in this directory instead of running gremlins")
		verbose  = flag.Bool("v", false, "also list the mutants in case clauses and constants, which gremlins cannot run")
		dryRun   = flag.Bool("dry-run", false, "only find the mutants and which ones tests cover (one test run per package); no efficacy")
		files    = flag.String("files", "", "comma-separated files (from the module root) to narrow the run to; the figures then do not gate")
		again    = flag.Bool("recheck", false, "with -from: rerun only the survivors in those reports (tests added, code in scope unchanged) and write updated reports to -out")
		againMax = flag.Duration("recheck-timeout", 5*time.Minute, "with -recheck: a survivor's test run that takes longer counts as timed out")
	)
	flag.Parse()
	if *again && *from == "" {
		fmt.Fprintln(os.Stderr, "mutate: -recheck needs -from DIR (the reports to recheck)")
		os.Exit(2)
	}
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "mutate: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	targets, err := readTargets(filepath.Join(*dir, "targets.txt"))
	check(err)
	allow, err := readAllow(filepath.Join(*dir, "allow.txt"))
	check(err)
	targets, err = selectTargets(targets, *pkgs)
	check(err)
	partial := *files != ""
	if partial {
		targets, err = narrowTargets(targets, strings.Split(*files, ","))
		check(err)
	}
	goflags, err := exec.Command("go", "env", "GOFLAGS").Output()
	check(err)
	check(os.MkdirAll(*out, 0o755))
	failed, dry := false, false
	for _, t := range targets {
		jsonPath := filepath.Join(*from, outName(t.pkg, ".json"))
		if *again {
			out := filepath.Join(*out, outName(t.pkg, ".json"))
			if filepath.Clean(out) == filepath.Clean(jsonPath) {
				check(fmt.Errorf("-recheck: -out must differ from -from, so the full run's report is kept"))
			}
			start, load := time.Now(), loadAvg()
			check(recheck(t, allow, jsonPath, out, strings.TrimSpace(string(goflags)), *againMax))
			fmt.Printf("%-10s recheck took %s (load average %s at the start, %s at the end)\n", t.pkg, time.Since(start).Round(time.Second), load, loadAvg())
			jsonPath = out
		} else if *from == "" {
			jsonPath = filepath.Join(*out, outName(t.pkg, ".json"))
			check(unleash(*gremlins, t, *workers, *coeff, *dryRun, *out, jsonPath, strings.TrimSpace(string(goflags))))
		}
		mutants, err := readReport(jsonPath, ".", t)
		check(err)
		s := tally(t, mutants, allow)
		dry = dry || s.dry()
		s.print(os.Stdout)
		if *verbose {
			for _, m := range s.unmeasured {
				fmt.Printf("    not run (case clause or constant): %s\n", m)
			}
		}
		if partial {
			fmt.Printf("    partial run (%s): not gating\n", strings.Join(t.files, " "))
		} else if !s.pass() {
			failed = true
		}
		if covered := s.killed + s.lived + s.timedOut; float64(s.timedOut) > maxTimeoutShare*float64(covered) {
			fmt.Printf("    %d of %d covered mutants timed out: the figures are not trustworthy; rerun on a quieter machine or with a larger -timeout-coefficient\n", s.timedOut, covered)
			failed = true
		}
	}
	if !dry && !partial { // a dry or partial run has not met every survivor
		staleAllow(allow, targets)
	}
	if failed {
		fmt.Println("mutate: FAIL (write a test that kills each survivor, or list it in allow.txt if it cannot change behaviour)")
		os.Exit(1)
	}
	fmt.Println("mutate: ok")
}

// selectTargets keeps the targets named in the comma-separated list.
func selectTargets(all []target, list string) ([]target, error) {
	if list == "" {
		return all, nil
	}
	var out []target
	for _, name := range strings.Split(list, ",") {
		found := false
		for _, t := range all {
			if t.pkg == strings.TrimSuffix(strings.TrimPrefix(name, "./"), "/") {
				out, found = append(out, t), true
			}
		}
		if !found {
			return nil, fmt.Errorf("no target %q in targets.txt", name)
		}
	}
	return out, nil
}

// narrowTargets keeps the targets that own one of files, each narrowed to
// those files.
func narrowTargets(all []target, files []string) ([]target, error) {
	var out []target
	for _, t := range all {
		for _, f := range files {
			if path.Dir(path.Clean(f)) == t.pkg {
				n, err := t.narrow(files)
				if err != nil {
					return nil, err
				}
				out = append(out, n)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-files %s: no file of a selected target", strings.Join(files, ","))
	}
	return out, nil
}

// unleash runs gremlins over one target, its log next to its report.
// goflags is the GOFLAGS in effect (go env), which the target's flags
// extend: setting GOFLAGS in the environment replaces the go env file's.
func unleash(bin string, t target, workers, coeff int, dryRun bool, out, jsonPath, goflags string) error {
	ex, err := t.excludes(".")
	if err != nil {
		return err
	}
	args := []string{"unleash", "--workers", strconv.Itoa(workers), "--timeout-coefficient", strconv.Itoa(coeff), "-o", jsonPath}
	for _, e := range ex {
		args = append(args, "-E", e)
	}
	if dryRun {
		args = append(args, "--dry-run")
	}
	args = append(args, "./"+t.pkg)
	logPath := filepath.Join(out, outName(t.pkg, ".log"))
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	start, load := time.Now(), loadAvg()
	env := "GOFLAGS=" + t.goflags(goflags)
	fmt.Printf("%-10s running %s %s (log: %s)\n", t.pkg, env, strings.Join(append([]string{bin}, args...), " "), logPath)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: gremlins: %w (see %s)", t.pkg, err, logPath)
	}
	fmt.Printf("%-10s took %s (load average %s at the start, %s at the end)\n", t.pkg, time.Since(start).Round(time.Second), load, loadAvg())
	return nil
}

// staleAllow warns about entries for the packages just scored that no
// survivor used: the code moved or a test now kills the mutant.
func staleAllow(allow []*allowed, targets []target) {
	for _, a := range allow {
		for _, t := range targets {
			if !a.used && strings.HasPrefix(a.file, t.pkg+"/") && !strings.Contains(strings.TrimPrefix(a.file, t.pkg+"/"), "/") {
				fmt.Printf("allow.txt:%d: no survivor matches %s %s %q any more; remove the entry\n", a.line, a.file, a.mutator, a.fragment)
			}
		}
	}
}

// loadAvg is the 1-, 5- and 15-minute load average, for the record:
// figures measured on a busy machine time out more mutants.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(2)
	}
}

// outName is the file name of package pkg's report with extension ext: a
// nested package (server/connwatch) gets server_connwatch, so every
// report sits in the one output directory.
func outName(pkg, ext string) string { return strings.ReplaceAll(pkg, "/", "_") + ext }
