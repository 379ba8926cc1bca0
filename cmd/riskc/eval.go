package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"

	"github.com/riskforge/riskforge/backtest"
	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/models"
	"github.com/riskforge/riskforge/report"
	"github.com/riskforge/riskforge/vm"
)

func init() {
	register("eval", "backtest a policy on historical requests (AUC, KS, rule hit rates)", runEval)
}

// evalFlags are riskc eval's flags.
type evalFlags struct {
	policy, data, label, positive, event, format string
	out, metricsJSON, reportHTML, cpuProfile     string
	workers, trace                               int
	keepOrder, strict                            bool
	na                                           naList
	lookups                                      lookupFlags
}

// parseEvalFlags parses riskc eval's arguments; ok is false when the
// command is done (help, or a usage error with its exit code).
func parseEvalFlags(args []string, stdout, stderr io.Writer) (f evalFlags, code int, ok bool) {
	fs := newFlagSet("eval", "--policy FILE --data FILE", "Evaluates every row of a data file (CSV with a header row, or JSON Lines of\nrequests) with a policy (.risk source or .rbc artifact) and prints decision\ncounts and rule hit rates; with --label also AUC, KS, log loss, recall at\n1% and 5% false-positive rate, and per-action and per-rule bad rates.", stderr)
	fs.StringVar(&f.policy, "policy", "", "policy `FILE` (.risk or .rbc)")
	fs.StringVar(&f.data, "data", "", "data `FILE` (.csv, or .jsonl/.ndjson)")
	fs.StringVar(&f.label, "label", "", "label `COLUMN` (0/1; 1 = bad)")
	fs.StringVar(&f.positive, "positive", "", "label `VALUE` meaning bad, when labels are not 0/1-like")
	fs.StringVar(&f.event, "event", "", "event `NAME` for rows without an event column")
	fs.StringVar(&f.format, "format", "", "data format: csv or jsonl (default: by extension)")
	fs.StringVar(&f.out, "out", "", "write one decision per row as JSON Lines to `FILE`")
	fs.StringVar(&f.metricsJSON, "metrics-json", "", "write the figures as JSON to `FILE`")
	fs.StringVar(&f.reportHTML, "report", "", "write a self-contained HTML report to `FILE`")
	fs.IntVar(&f.workers, "workers", 0, "parallel workers (default: one per CPU)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile to `FILE`")
	fs.BoolVar(&f.keepOrder, "keep-order", false, "policies with windows: replay rows in file order and stop at the first row whose ts goes backwards (default: sort rows by ts, stably)")
	fs.IntVar(&f.trace, "trace", 0, "instead of the backtest, explain the row on data file `LINE`: decision, fired rules and the VM's step trace")
	fs.Var(&f.na, "na", "comma-separated texts that mean `MISSING` in CSV data, e.g. 'NA,\"\"' (the empty text always does)")
	fs.BoolVar(&f.strict, "strict", false, "refuse rows missing a required input instead of skipping and counting them")
	fs.Var(&f.lookups, "lookup", lookupUsage)
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return f, code, false
	}
	if f.policy == "" || f.data == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "riskc eval: --policy and --data are required")
		fs.Usage()
		return f, exitUsage, false
	}
	return f, exitOK, true
}

func runEval(args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseEvalFlags(args, stdout, stderr)
	if !ok {
		return code
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "riskc eval: "+format+"\n", args...)
		return exitError
	}
	if f.cpuProfile != "" {
		stop, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			return fail("%v", err)
		}
		defer stop()
	}
	prog, _, code := loadProgram(f.policy, stderr)
	if code != exitOK {
		return code
	}
	snap, err := openLookups(prog, f.lookups)
	if err != nil {
		return fail("%v", err)
	}
	r, err := dataset.Open(f.data, prog, dataset.Options{Event: f.event, Label: f.label, Positive: f.positive, Format: f.format, NA: f.na, Strict: f.strict, Lookups: snap})
	if err != nil {
		return fail("%v", err)
	}
	defer r.Close()
	opts := backtest.Options{Workers: f.workers, Progress: progressPrinter(stderr)}
	closeModels, err := evalModels(prog, f.policy, &opts)
	if err != nil {
		return fail("loading models: %v", err)
	}
	defer closeModels()
	if f.trace > 0 {
		if err := traceRow(stdout, prog, r, opts.Models, f.trace); err != nil {
			return fail("%v", err)
		}
		return exitOK
	}
	out, err := decisionsOut(f.out, &opts)
	if err != nil {
		return fail("%v", err)
	}
	defer out.Close()
	bt, stats, err := evaluate(prog, r, f.keepOrder, opts, stderr)
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		return fail("%v", err)
	}
	if msg := r.SkipSummary(); msg != "" {
		fmt.Fprintf(stderr, "riskc eval: warning: %s\n", msg)
	}
	res := bt.Result()
	printSummary(stdout, res, stats)
	printLookups(stdout, stderr, "eval", snap)
	if err := writeEvalFiles(f, prog, bt, res, stderr); err != nil {
		return fail("%v", err)
	}
	return exitOK
}

// evalModels loads the policy's models, if it has any, into opts with the
// batch path, and returns the function that closes them.
func evalModels(prog *vm.Program, policy string, opts *backtest.Options) (func(), error) {
	if len(prog.Models) == 0 {
		return func() {}, nil
	}
	reg, err := models.Load(prog, policy, models.Options{NoTimeouts: true})
	if err != nil {
		return nil, err
	}
	opts.Models = reg
	// The batch path: each batch's model rows are scored in a few
	// PredictBatch runs; a call the batch pass did not foresee falls
	// back to a single-row call, so results are the same either way.
	opts.Prefetch = func(reqs []*vm.Request) (vm.ModelRunner, error) { return reg.Prefetch(prog, reqs) }
	return func() { reg.Close() }, nil
}

// decisionsFile is the --out file, buffered; a nil one does nothing.
type decisionsFile struct {
	f *os.File
	w *bufio.Writer
}

// decisionsOut creates the --out file (when path is set) and points
// opts.Out at it.
func decisionsOut(path string, opts *backtest.Options) (*decisionsFile, error) {
	if path == "" {
		return &decisionsFile{}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	d := &decisionsFile{f: f, w: bufio.NewWriterSize(f, 1<<20)}
	opts.Out = d.w
	return d, nil
}

// Flush writes what is buffered.
func (d *decisionsFile) Flush() error {
	if d.w == nil {
		return nil
	}
	return d.w.Flush()
}

// Close closes the file.
func (d *decisionsFile) Close() {
	if d.f != nil {
		d.f.Close()
	}
}

// evaluate runs the backtest: rows in event-time order when the policy
// has windows (as the flags ask), with the progress line cleared after.
func evaluate(prog *vm.Program, r *dataset.Reader, keepOrder bool, opts backtest.Options, stderr io.Writer) (*report.Backtest, backtest.Stats, error) {
	var src backtest.Source = r
	if len(prog.Windows) > 0 {
		ord, err := dataset.Order(r, prog, dataset.OrderOptions{KeepOrder: keepOrder})
		if err != nil {
			return nil, backtest.Stats{}, err
		}
		reportOrder(stderr, "eval", ord)
		src = ord
	}
	bt, stats, err := backtest.Run(prog, src, opts)
	clearProgress(stderr)
	return bt, stats, err
}

// writeEvalFiles writes the --metrics-json and --report files.
func writeEvalFiles(f evalFlags, prog *vm.Program, bt *report.Backtest, res *report.BacktestResult, stderr io.Writer) error {
	if f.metricsJSON != "" {
		if err := writeJSONFile(f.metricsJSON, res); err != nil {
			return err
		}
	}
	if f.reportHTML != "" {
		scores, labels := bt.Scores()
		title := fmt.Sprintf("Backtest of %s %s on %s", prog.Name, prog.Version, filepath.Base(f.data))
		if err := writeFileWith(f.reportHTML, func(w io.Writer) error {
			return report.WriteHTML(w, report.BacktestPage(title, res, scores, labels))
		}); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "report written to %s\n", f.reportHTML)
	}
	return nil
}

func printSummary(w io.Writer, res *report.BacktestResult, stats backtest.Stats) {
	fmt.Fprintf(w, "rows       %d\n", res.Rows)
	if res.Labelled {
		fmt.Fprintf(w, "auc        %s\nks         %s\nlogloss    %s\nrecall@1%%  %s\nrecall@5%%  %s\n",
			fmtFloat(res.AUC), fmtFloat(res.KS), fmtFloat(res.LogLoss), fmtFloat(res.RecallAtFPR1), fmtFloat(res.RecallAtFPR5))
	}
	var parts []string
	for _, a := range res.ActionOrder {
		parts = append(parts, fmt.Sprintf("%s %d", a, res.Decisions[a]))
	}
	fmt.Fprintf(w, "decisions  %s\n", strings.Join(parts, ", "))
	fmt.Fprintf(w, "\n%-28s %8s %9s", "rule", "hits", "hit rate")
	if res.Labelled {
		fmt.Fprintf(w, " %9s %7s", "bad rate", "lift")
	}
	fmt.Fprintln(w)
	for _, r := range res.Rules {
		fmt.Fprintf(w, "%-28s %8d %9s", r.Name, r.Hits, fmtPct(r.HitRate))
		if res.Labelled {
			fmt.Fprintf(w, " %9s %7s", fmtPct(r.BadRate), fmtFloat(r.Lift))
		}
		fmt.Fprintln(w)
	}
	never, always := res.SilentRules()
	if len(never) > 0 {
		fmt.Fprintf(w, "\nnever fired (no row tests them): %s\n", strings.Join(never, ", "))
	}
	if len(always) > 0 {
		fmt.Fprintf(w, "\nfired on every row (no row tests them silent): %s\n", strings.Join(always, ", "))
	}
	mode := fmt.Sprintf("%d workers", stats.Workers)
	switch {
	case stats.Sequential:
		mode = "1 worker, file order (the policy has velocity windows)"
	case stats.Replayed:
		mode += "; windows fed in event-time order"
	}
	fmt.Fprintf(w, "\nevaluated %d rows in %.2fs: %.0f rows/s (%s)\n", stats.Rows, stats.Elapsed.Seconds(), stats.RowsPerSecond(), mode)
}

func fmtFloat(f report.Float) string { return f.Fixed(4) }

func fmtPct(f report.Float) string { return f.Percent(2) }

// writeJSONFile writes v as indented JSON.
func writeJSONFile(path string, v any) error {
	return writeFileWith(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

// writeFileWith writes a file through fn, atomically (temp file + rename).
func writeFileWith(path string, fn func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	if err := fn(bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { // CreateTemp makes 0600
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// progressPrinter returns a Progress callback that redraws one status line
// on a terminal (and prints nothing when stderr is not one).
func progressPrinter(stderr io.Writer) func(int) {
	if !isTerminal(stderr) {
		return nil
	}
	last := 0
	return func(rows int) {
		if rows-last >= 50000 {
			last = rows
			fmt.Fprintf(stderr, "\r%d rows evaluated…", rows)
		}
	}
}

func clearProgress(stderr io.Writer) {
	if isTerminal(stderr) {
		fmt.Fprint(stderr, "\r\033[K")
	}
}

// startCPUProfile starts profiling into path and returns the function
// that stops it.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// reportOrder says how many rows a window replay had to reorder.
func reportOrder(stderr io.Writer, cmd string, ord *dataset.Ordered) {
	if ord.OutOfOrder > 0 {
		fmt.Fprintf(stderr, "riskc %s: %s\n", cmd, dataset.OutOfOrderNote(ord.OutOfOrder, ord.Len()))
	}
}
