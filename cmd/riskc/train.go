package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/models"
	"github.com/riskforge/riskforge/report"
	"github.com/riskforge/riskforge/rules"
	"github.com/riskforge/riskforge/vm"
)

func init() {
	register("train", "tune a policy's thresholds and weights on labelled history", runTrain)
}

const trainAbout = `Tunes every threshold and weight of a policy that is not marked fixed on
labelled history, and writes the tuned policy: the input source with only
the numbers changed (comments, order and layout kept).

The labelled rows play three roles: fit rows train, selection rows choose
the epoch (the policy as written, epoch 0, is a candidate), test rows
(--test-frac or --test FILE) only report. When no epoch beats the policy as
written on the selection rows, nothing is written (unless --force) and the
exit status is 1. See docs/TRAINING.md.`

// exitNotImproved is train's exit status when training did not beat the
// policy as written (the same as an error: nothing was written).
const exitNotImproved = exitError

type trainFlags struct {
	policy, data, test, label, positive, event, format  string
	out, metricsJSON, reportHTML, holdoutOut, sel       string
	allowFlip                                           string
	validFrac, testFrac, lr, maxReview, posWeight       float64
	l2, t0, t1, minSupport, maxShift                    float64
	epochs, batch, patience, suggest                    int
	seed                                                uint64
	na                                                  naList
	lookups                                             lookupFlags
	baseline, noModels, quiet, force, strict, keepOrder bool
}

func runTrain(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("train", "--policy FILE --data FILE --label COLUMN -o TUNED.risk", trainAbout, stderr)
	var f trainFlags
	d := rules.DefaultConfig
	fs.StringVar(&f.policy, "policy", "", "policy source `FILE` (.risk)")
	fs.StringVar(&f.data, "data", "", "labelled data `FILE` (.csv, or .jsonl/.ndjson)")
	fs.StringVar(&f.test, "test", "", "labelled test rows `FILE` (same format): reported only; replaces --test-frac")
	fs.StringVar(&f.label, "label", "", "label `COLUMN` (0/1; 1 = bad)")
	fs.StringVar(&f.positive, "positive", "", "label `VALUE` meaning bad, when labels are not 0/1-like")
	fs.StringVar(&f.event, "event", "", "event `NAME` for rows without an event column")
	fs.StringVar(&f.format, "format", "", "data format: csv or jsonl (default: by extension)")
	fs.Var(&f.na, "na", "comma-separated texts that mean `MISSING` in CSV data, e.g. 'NA,\"\"' (the empty text always does)")
	fs.BoolVar(&f.strict, "strict", false, "refuse rows missing a required input instead of skipping and counting them")
	fs.Var(&f.lookups, "lookup", lookupUsage)
	fs.StringVar(&f.out, "o", "", "write the tuned policy to `FILE`")
	fs.BoolVar(&f.force, "force", false, "write the tuned policy even when it does not beat the policy as written")
	fs.StringVar(&f.metricsJSON, "metrics-json", "", "write before/after figures, parameters and epochs as JSON to `FILE`")
	fs.StringVar(&f.reportHTML, "report", "", "write a self-contained HTML report to `FILE`")
	fs.StringVar(&f.holdoutOut, "holdout-out", "", "write the test rows (of --data) to `FILE`, for riskc eval to reproduce the test figures")
	fs.Float64Var(&f.validFrac, "valid-frac", 0.2, "share of labelled rows for selection (early stopping, choice of epoch)")
	fs.Float64Var(&f.testFrac, "test-frac", 0.2, "share of labelled rows held out as test rows (ignored with --test)")
	fs.StringVar(&f.sel, "select", "logloss", "selection `FIGURE` of the hard policy: logloss, auc or recall@fpr (recall@1%, recall@5%)")
	fs.IntVar(&f.epochs, "epochs", d.Epochs, "train for at most `N` epochs")
	fs.IntVar(&f.batch, "batch", d.Batch, "`N` rows per minibatch (a short last batch is padded)")
	fs.Float64Var(&f.lr, "lr", d.LR, "Adam learning rate")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed: the split and the shuffling; same seed, same result")
	fs.Float64Var(&f.maxReview, "max-review-rate", 0, "raise the review cut-off so at most this share `R` of fit rows gets review (0: no limit)")
	fs.Float64Var(&f.posWeight, "pos-weight", 1, "class weight of bad rows in the loss (good rows weigh 1)")
	fs.Float64Var(&f.l2, "l2", d.L2, "L2 penalty on rule weights")
	fs.Float64Var(&f.t0, "t0", d.T0, "temperature of the first epoch, in units of each feature's scale")
	fs.Float64Var(&f.t1, "t1", d.T1, "temperature of the last epoch")
	fs.IntVar(&f.patience, "patience", d.Patience, "stop after this many epochs without a better selection figure (never in the first half); -1 never")
	fs.StringVar(&f.allowFlip, "allow-flip", "", "comma-separated `RULES` whose weight may change sign (\"*\": all); other weights keep their sign")
	fs.Float64Var(&f.minSupport, "min-support", 0.005, "flag rules firing on less than this share of fit rows (or all but it)")
	fs.Float64Var(&f.maxShift, "max-shift", 0, "keep thresholds within `S` robust standard deviations of their feature from the written value (0: no limit)")
	fs.IntVar(&f.suggest, "suggest", 0, "propose up to `N` new rules, written commented out at the end of the tuned policy")
	fs.BoolVar(&f.baseline, "baseline", false, "also fit a logistic regression on every column of the (CSV) data, text columns one-hot, on the fit rows")
	fs.BoolVar(&f.keepOrder, "keep-order", false, "policies with windows: keep file order and stop at the first row whose ts goes backwards (default: sort rows by ts, stably)")
	fs.BoolVar(&f.noModels, "no-models", false, "do not load the policy's models: every model reads its on_error value")
	fs.BoolVar(&f.quiet, "q", false, "no progress output")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if f.policy == "" || f.data == "" || f.label == "" || f.out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "riskc train: --policy, --data, --label and -o are required")
		fs.Usage()
		return exitUsage
	}
	if f.validFrac < 0 || f.testFrac < 0 || f.validFrac+f.testFrac >= 1 || f.maxReview < 0 || f.maxReview > 1 {
		fmt.Fprintln(stderr, "riskc train: --valid-frac and --test-frac must not be negative and sum to less than 1, --max-review-rate in [0, 1]")
		return exitUsage
	}
	if f.epochs < 1 || f.batch < 1 || !(f.lr > 0) || f.l2 < 0 || !(f.posWeight > 0) || f.minSupport < 0 || f.minSupport >= 0.5 || f.maxShift < 0 || f.suggest < 0 {
		fmt.Fprintln(stderr, "riskc train: --epochs and --batch must be at least 1, --lr and --pos-weight positive, --l2, --max-shift and --suggest not negative, --min-support in [0, 0.5)")
		return exitUsage
	}
	if f.suggest > 0 && f.validFrac == 0 {
		fmt.Fprintln(stderr, "riskc train: --suggest validates suggestions on the selection rows: --valid-frac must be positive")
		return exitUsage
	}
	if f.test != "" && f.holdoutOut != "" {
		fmt.Fprintln(stderr, "riskc train: --holdout-out writes the --test-frac rows; with --test the test file is the hold-out")
		return exitUsage
	}
	sel, err := rules.ParseSelection(f.sel)
	if err != nil {
		fmt.Fprintf(stderr, "riskc train: --select: %v\n", err)
		return exitUsage
	}
	code, err := train(f, sel, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "riskc train: %v\n", err)
		return exitError
	}
	return code
}

func train(f trainFlags, sel rules.Selection, stdout, stderr io.Writer) (int, error) {
	src, err := os.ReadFile(f.policy)
	if err != nil {
		return 0, err
	}
	if compiler.IsArtifact(f.policy, src) {
		return 0, fmt.Errorf("%s is a compiled artifact; training writes numbers back into policy source (.risk)", f.policy)
	}
	prog, ir, code := compileSource(f.policy, src, stderr)
	if code != exitOK {
		return 0, errors.New("the policy has errors")
	}
	cfg := rules.Config{Epochs: f.epochs, Batch: f.batch, LR: f.lr, Seed: f.seed, T0: f.t0, T1: f.t1,
		L2: f.l2, PosWeight: f.posWeight, Patience: f.patience, Select: sel, MaxShift: f.maxShift}
	if f.allowFlip != "" {
		cfg.AllowFlip = strings.Split(f.allowFlip, ",")
	}
	if f.l2 == 0 {
		cfg.L2 = -1 // Config reads a negative L2 as none
	}
	if !f.quiet {
		cfg.Progress = epochPrinter(stderr)
	}
	snap, err := openLookups(prog, f.lookups)
	if err != nil {
		return 0, err
	}
	opts := rules.RunOptions{
		Options:    rules.Options{Config: cfg, ValidFrac: f.validFrac, TestFrac: f.testFrac, MaxReviewRate: f.maxReview, MinSupport: f.minSupport},
		PolicyPath: f.policy, Source: src, Prog: prog, IR: ir, Data: f.data, Test: f.test, Baseline: f.baseline, Suggest: f.suggest,
		Read: dataset.Options{Event: f.event, Label: f.label, Positive: f.positive, Format: f.format, NA: f.na, Strict: f.strict, KeepOrder: f.keepOrder, Lookups: snap},
	}
	if len(prog.Models) > 0 && !f.noModels {
		// No timeouts offline: results must not depend on machine load.
		reg, err := models.Load(prog, f.policy, models.Options{NoTimeouts: true})
		if err != nil {
			return 0, fmt.Errorf("loading models: %w (use --no-models to train with their on_error values)", err)
		}
		defer reg.Close()
		// Score every row in batches once; the trainer's passes read the memo.
		opts.Models = func(reqs []*vm.Request) (vm.ModelRunner, error) { return reg.Prefetch(prog, reqs) }
	}
	res, err := rules.Run(opts)
	if !f.quiet {
		clearProgress(stderr)
	}
	if err != nil {
		return 0, err
	}
	defer res.Close()
	for _, s := range res.Skipped {
		fmt.Fprintf(stderr, "riskc train: warning: %s\n", s)
	}
	printTrain(stdout, res, sel)
	printLookups(stdout, stderr, "train", snap)
	if !res.Improved && !f.force {
		fmt.Fprintf(stdout, "\nno epoch beats the policy as written on the selection rows (%s %s → %s): nothing written (--force writes it anyway)\n",
			sel, fmtFloat(report.Float(res.SelectBefore)), fmtFloat(report.Float(res.SelectAfter)))
		return exitNotImproved, nil
	}
	if err := writeTrainOutputs(f, res, stdout, stderr); err != nil {
		return 0, err
	}
	return exitOK, nil
}

// writeTrainOutputs writes the tuned policy and the files asked for.
func writeTrainOutputs(f trainFlags, res *rules.RunResult, stdout, stderr io.Writer) error {
	// List and model paths are relative to the policy: check them from
	// where the tuned policy lands.
	if _, diags := compiler.CheckSource(f.out, res.Tuned, compiler.Options{CheckFiles: true}); diags.HasErrors() {
		fmt.Fprintf(stderr, "riskc train: warning: %s will not find its list or model files: %v\n", f.out, diags.Err())
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(f.policy); err == nil {
		mode = st.Mode().Perm()
	}
	if err := writeFile(f.out, mode, func(w io.Writer) error { _, err := w.Write(res.Tuned); return err }); err != nil {
		return err
	}
	if !res.Improved {
		fmt.Fprintf(stdout, "tuned policy written to %s although it does not beat the policy as written (--force)\n", f.out)
	} else {
		fmt.Fprintf(stdout, "tuned policy written to %s\n", f.out)
	}
	if f.holdoutOut != "" {
		if err := writeHoldout(f, res); err != nil {
			return fmt.Errorf("writing the hold-out rows: %w", err)
		}
	}
	printReproduce(stdout, f, res)
	if f.metricsJSON != "" {
		m := res.Metrics(rules.MetricsInfo{Policy: f.policy, Tuned: f.out, Data: f.data, Test: f.test, Seed: f.seed})
		if err := writeJSONFile(f.metricsJSON, m); err != nil {
			return err
		}
		if err := os.Chmod(f.metricsJSON, 0o644); err != nil {
			return err
		}
	}
	if f.reportHTML != "" {
		info := rules.PageInfo{PolicyFile: f.policy, DataFile: f.data, Seed: f.seed}
		if res.Baseline != nil {
			info.Baseline, info.BaselineColumns = &res.Baseline.Fig, len(res.Baseline.Columns)
		}
		page := res.Page(info)
		if err := writeFile(f.reportHTML, 0o644, func(w io.Writer) error { return report.WriteHTML(w, page) }); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "report written to %s\n", f.reportHTML)
	}
	return nil
}

func writeFile(path string, mode os.FileMode, write func(io.Writer) error) error {
	if err := writeFileWith(path, write); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// writeHoldout writes the test rows that come from --data, in file order
// and the data file's format (with --test the test file already is one).
func writeHoldout(f trainFlags, res *rules.RunResult) error {
	t, err := dataset.ReadTable(f.data, f.format)
	if err != nil {
		return err
	}
	return writeFile(f.holdoutOut, 0o644, func(w io.Writer) error { return t.WriteRows(w, res.HoldoutRows(res.Test, false)) })
}

// epochPrinter shows training progress: one redrawn line on a terminal,
// one short line per epoch otherwise.
func epochPrinter(stderr io.Writer) func(rules.EpochStats) {
	tty := isTerminal(stderr)
	return func(st rules.EpochStats) {
		eta := time.Duration(float64(st.Elapsed) / float64(st.Epoch) * float64(st.Epochs-st.Epoch)).Round(time.Second)
		line := fmt.Sprintf("epoch %d/%d  T %.3f  loss %.4f  selection logloss %.4f  auc %.4f  eta %s",
			st.Epoch, st.Epochs, st.Temperature, st.TrainLoss, st.ValidLogLoss, st.ValidAUC, eta)
		if tty {
			fmt.Fprintf(stderr, "\r%s\033[K", line)
		} else {
			fmt.Fprintln(stderr, line)
		}
	}
}
