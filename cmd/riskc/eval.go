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

func runEval(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("eval", "--policy FILE --data FILE", "Evaluates every row of a data file (CSV with a header row, or JSON Lines of\nrequests) with a policy (.risk source or .rbc artifact) and prints decision\ncounts and rule hit rates; with --label also AUC, KS, log loss, recall at\n1% and 5% false-positive rate, and per-action and per-rule bad rates.", stderr)
	policy := fs.String("policy", "", "policy `FILE` (.risk or .rbc)")
	data := fs.String("data", "", "data `FILE` (.csv, or .jsonl/.ndjson)")
	label := fs.String("label", "", "label `COLUMN` (0/1; 1 = bad)")
	positive := fs.String("positive", "", "label `VALUE` meaning bad, when labels are not 0/1-like")
	event := fs.String("event", "", "event `NAME` for rows without an event column")
	format := fs.String("format", "", "data format: csv or jsonl (default: by extension)")
	out := fs.String("out", "", "write one decision per row as JSON Lines to `FILE`")
	metricsJSON := fs.String("metrics-json", "", "write the figures as JSON to `FILE`")
	reportHTML := fs.String("report", "", "write a self-contained HTML report to `FILE`")
	workers := fs.Int("workers", 0, "parallel workers (default: one per CPU)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to `FILE`")
	keepOrder := fs.Bool("keep-order", false, "policies with windows: replay rows in file order and stop at the first row whose ts goes backwards (default: sort rows by ts, stably)")
	trace := fs.Int("trace", 0, "instead of the backtest, explain the row on data file `LINE`: decision, fired rules and the VM's step trace")
	var na naList
	fs.Var(&na, "na", "comma-separated texts that mean `MISSING` in CSV data, e.g. 'NA,\"\"' (the empty text always does)")
	strict := fs.Bool("strict", false, "refuse rows missing a required input instead of skipping and counting them")
	var lookups lookupFlags
	fs.Var(&lookups, "lookup", lookupUsage)
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *policy == "" || *data == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "riskc eval: --policy and --data are required")
		fs.Usage()
		return exitUsage
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "riskc eval: %v\n", err)
			return exitError
		}
		defer stop()
	}
	prog, _, code := loadProgram(*policy, stderr)
	if code != exitOK {
		return code
	}
	snap, err := openLookups(prog, lookups)
	if err != nil {
		fmt.Fprintf(stderr, "riskc eval: %v\n", err)
		return exitError
	}
	r, err := dataset.Open(*data, prog, dataset.Options{Event: *event, Label: *label, Positive: *positive, Format: *format, NA: na, Strict: *strict, Lookups: snap})
	if err != nil {
		fmt.Fprintf(stderr, "riskc eval: %v\n", err)
		return exitError
	}
	defer r.Close()
	opts := backtest.Options{Workers: *workers, Progress: progressPrinter(stderr)}
	if len(prog.Models) > 0 {
		reg, err := models.Load(prog, *policy, models.Options{NoTimeouts: true})
		if err != nil {
			fmt.Fprintf(stderr, "riskc eval: loading models: %v\n", err)
			return exitError
		}
		defer reg.Close()
		opts.Models = reg
		// The batch path: each batch's model rows are scored in a few
		// PredictBatch runs; a call the batch pass did not foresee falls
		// back to a single-row call, so results are the same either way.
		opts.Prefetch = func(reqs []*vm.Request) (vm.ModelRunner, error) { return reg.Prefetch(prog, reqs) }
	}
	if *trace > 0 {
		if err := traceRow(stdout, prog, r, opts.Models, *trace); err != nil {
			fmt.Fprintf(stderr, "riskc eval: %v\n", err)
			return exitError
		}
		return exitOK
	}
	var outFile *os.File
	var outBuf *bufio.Writer
	if *out != "" {
		if outFile, err = os.Create(*out); err != nil {
			fmt.Fprintf(stderr, "riskc eval: %v\n", err)
			return exitError
		}
		defer outFile.Close()
		outBuf = bufio.NewWriterSize(outFile, 1<<20)
		opts.Out = outBuf
	}
	var src backtest.Source = r
	if len(prog.Windows) > 0 {
		ord, err := dataset.Order(r, prog, dataset.OrderOptions{KeepOrder: *keepOrder})
		if err != nil {
			fmt.Fprintf(stderr, "riskc eval: %v\n", err)
			return exitError
		}
		reportOrder(stderr, "eval", ord)
		src = ord
	}
	bt, stats, err := backtest.Run(prog, src, opts)
	clearProgress(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "riskc eval: %v\n", err)
		return exitError
	}
	if outBuf != nil {
		if err := outBuf.Flush(); err != nil {
			fmt.Fprintf(stderr, "riskc eval: %v\n", err)
			return exitError
		}
	}
	if msg := r.SkipSummary(); msg != "" {
		fmt.Fprintf(stderr, "riskc eval: warning: %s\n", msg)
	}
	res := bt.Result()
	printSummary(stdout, res, stats)
	printLookups(stdout, stderr, "eval", snap)
	if *metricsJSON != "" {
		if err := writeJSONFile(*metricsJSON, res); err != nil {
			fmt.Fprintf(stderr, "riskc eval: %v\n", err)
			return exitError
		}
	}
	if *reportHTML != "" {
		scores, labels := bt.Scores()
		title := fmt.Sprintf("Backtest of %s %s on %s", prog.Name, prog.Version, filepath.Base(*data))
		if err := writeFileWith(*reportHTML, func(w io.Writer) error {
			return report.WriteHTML(w, report.BacktestPage(title, res, scores, labels))
		}); err != nil {
			fmt.Fprintf(stderr, "riskc eval: %v\n", err)
			return exitError
		}
		fmt.Fprintf(stderr, "report written to %s\n", *reportHTML)
	}
	return exitOK
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
