package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
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

The policy is lowered to a differentiable graph (comparisons become
sigmoids of a temperature annealed towards 0), trained with Adam on binary
cross-entropy with early stopping on the validation rows, hardened back to
readable numbers (integers stay integers), and evaluated with the VM on
the training and validation rows. See docs/TRAINING.md.`

type trainFlags struct {
	policy, data, label, positive, event, format    string
	out, metricsJSON, reportHTML, holdoutOut        string
	validFrac, lr, maxReview, posWeight, l2, t0, t1 float64
	epochs, batch, patience                         int
	seed                                            uint64
	baseline, noModels, quiet                       bool
}

func runTrain(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("train", "--policy FILE --data FILE --label COLUMN -o TUNED.risk", trainAbout, stderr)
	var f trainFlags
	d := rules.DefaultConfig
	fs.StringVar(&f.policy, "policy", "", "policy source `FILE` (.risk)")
	fs.StringVar(&f.data, "data", "", "labelled data `FILE` (.csv, or .jsonl/.ndjson)")
	fs.StringVar(&f.label, "label", "", "label `COLUMN` (0/1; 1 = bad)")
	fs.StringVar(&f.positive, "positive", "", "label `VALUE` meaning bad, when labels are not 0/1-like")
	fs.StringVar(&f.event, "event", "", "event `NAME` for rows without an event column")
	fs.StringVar(&f.format, "format", "", "data format: csv or jsonl (default: by extension)")
	fs.StringVar(&f.out, "o", "", "write the tuned policy to `FILE`")
	fs.StringVar(&f.metricsJSON, "metrics-json", "", "write before/after figures, parameters and epochs as JSON to `FILE`")
	fs.StringVar(&f.reportHTML, "report", "", "write a self-contained HTML report to `FILE`")
	fs.StringVar(&f.holdoutOut, "holdout-out", "", "write the validation rows to `FILE`, for riskc eval to reproduce the valid figures")
	fs.Float64Var(&f.validFrac, "valid-frac", 0.2, "share of labelled rows held out for validation")
	fs.IntVar(&f.epochs, "epochs", d.Epochs, "train for at most `N` epochs")
	fs.IntVar(&f.batch, "batch", d.Batch, "`N` rows per minibatch (a short last batch is padded)")
	fs.Float64Var(&f.lr, "lr", d.LR, "Adam learning rate")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed: the split and the shuffling; same seed, same result")
	fs.Float64Var(&f.maxReview, "max-review-rate", 0, "raise the review cut-off so at most this share `R` of training rows gets review (0: no limit)")
	fs.Float64Var(&f.posWeight, "pos-weight", 1, "class weight of bad rows in the loss (good rows weigh 1)")
	fs.Float64Var(&f.l2, "l2", d.L2, "L2 penalty on rule weights")
	fs.Float64Var(&f.t0, "t0", d.T0, "temperature of the first epoch, in units of each feature's scale")
	fs.Float64Var(&f.t1, "t1", d.T1, "temperature of the last epoch")
	fs.IntVar(&f.patience, "patience", d.Patience, "stop after this many epochs without a better validation log loss (never in the first half); -1 never")
	fs.BoolVar(&f.baseline, "baseline", false, "also fit a logistic regression on every numeric column of the data (CSV) on the same split")
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
	if f.validFrac < 0 || f.validFrac >= 1 || f.maxReview < 0 || f.maxReview > 1 {
		fmt.Fprintln(stderr, "riskc train: --valid-frac must be in [0, 1) and --max-review-rate in [0, 1]")
		return exitUsage
	}
	if f.epochs < 1 || f.batch < 1 || !(f.lr > 0) || f.l2 < 0 || !(f.posWeight > 0) {
		fmt.Fprintln(stderr, "riskc train: --epochs and --batch must be at least 1, --lr and --pos-weight positive, --l2 not negative")
		return exitUsage
	}
	if err := train(f, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "riskc train: %v\n", err)
		return exitError
	}
	return exitOK
}

func train(f trainFlags, stdout, stderr io.Writer) error {
	src, err := os.ReadFile(f.policy)
	if err != nil {
		return err
	}
	if compiler.IsArtifact(f.policy, src) {
		return fmt.Errorf("%s is a compiled artifact; training writes numbers back into policy source (.risk)", f.policy)
	}
	prog, ir, code := compileSource(f.policy, src, stderr)
	if code != exitOK {
		return errors.New("the policy has errors")
	}
	dopts := dataset.Options{Event: f.event, Label: f.label, Positive: f.positive, Format: f.format}
	reqs, labels, err := rules.ReadRequests(prog, f.data, dopts)
	if err != nil {
		return err
	}
	var runner vm.ModelRunner
	if len(prog.Models) > 0 && !f.noModels {
		// No timeouts offline: results must not depend on machine load.
		reg, err := models.Load(prog, f.policy, models.Options{NoTimeouts: true})
		if err != nil {
			return fmt.Errorf("loading models: %w (use --no-models to train with their on_error values)", err)
		}
		defer reg.Close()
		// Score every row in batches once; the trainer's many passes then
		// read the memo.
		pre, err := reg.Prefetch(prog, reqs)
		if err != nil {
			return fmt.Errorf("scoring models: %w", err)
		}
		runner = pre
	}
	cfg := rules.Config{Epochs: f.epochs, Batch: f.batch, LR: f.lr, Seed: f.seed, T0: f.t0, T1: f.t1,
		L2: f.l2, PosWeight: f.posWeight, Patience: f.patience}
	if f.l2 == 0 {
		cfg.L2 = -1 // Config reads a negative L2 as none
	}
	if !f.quiet {
		cfg.Progress = epochPrinter(stderr)
	}
	start := time.Now()
	o, err := rules.Tune(prog, ir, reqs, labels, rules.Options{Config: cfg, ValidFrac: f.validFrac, MaxReviewRate: f.maxReview, Models: runner})
	if !f.quiet {
		clearProgress(stderr)
	}
	if err != nil {
		return err
	}
	defer o.Result.Graph.Close()
	elapsed := time.Since(start)

	tuned, changes, err := rules.Rewrite(src, prog.Params, o.Texts)
	if err != nil {
		return err
	}
	// Verify next to the input, where its list and model files are.
	if tuned, err = rules.Verify(f.policy, src, tuned, o.Values, compiler.Options{}); err != nil {
		return err
	}
	// List and model paths are relative to the policy: check them from
	// where the tuned policy lands.
	if _, diags := compiler.CheckSource(f.out, tuned, compiler.Options{CheckFiles: true}); diags.HasErrors() {
		fmt.Fprintf(stderr, "riskc train: warning: %s will not find its list or model files: %v\n", f.out, diags.Err())
	}
	if err := writeFileWith(f.out, func(w io.Writer) error { _, err := w.Write(tuned); return err }); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(f.policy); err == nil {
		mode = st.Mode().Perm()
	}
	if err := os.Chmod(f.out, mode); err != nil {
		return err
	}

	var base *baselineFit
	if f.baseline {
		if base, err = fitBaseline(f, reqs, labels, o); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}
	printChanges(stdout, o, changes)
	printFigures(stdout, o, base)
	if o.Review != nil {
		printReview(stdout, o.Review)
	}
	epochs := len(o.Result.History)
	perEpoch := o.Result.History[epochs-1].Seconds / float64(epochs)
	fmt.Fprintf(stdout, "\n%d epochs (best %d, temperature %.3g%s), %.3fs per epoch, %.0f rows/s; %.1fs in all\n",
		epochs, o.Result.BestEpoch, o.Result.BestTemp, map[bool]string{true: ", stopped early", false: ""}[o.Result.StoppedEarly],
		perEpoch, float64(len(o.Train))/perEpoch, elapsed.Seconds())
	fmt.Fprintf(stdout, "tuned policy written to %s\n", f.out)
	if f.holdoutOut != "" {
		if err := writeHoldout(f, o.Valid); err != nil {
			return fmt.Errorf("writing the hold-out rows: %w", err)
		}
		if err := os.Chmod(f.holdoutOut, 0o644); err != nil {
			return err
		}
	}
	printReproduce(stdout, f, prog, o)
	if f.metricsJSON != "" {
		if err := writeJSONFile(f.metricsJSON, trainMetrics(f, prog, o, changes, base, elapsed)); err != nil {
			return err
		}
		if err := os.Chmod(f.metricsJSON, 0o644); err != nil {
			return err
		}
	}
	if f.reportHTML != "" {
		info := rules.PageInfo{PolicyFile: f.policy, DataFile: f.data, Seed: f.seed}
		if base != nil {
			info.Baseline, info.BaselineColumns = &base.fig, len(base.columns)
		}
		page := o.Page(prog, changes, info)
		if err := writeFileWith(f.reportHTML, func(w io.Writer) error { return report.WriteHTML(w, page) }); err != nil {
			return err
		}
		if err := os.Chmod(f.reportHTML, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "report written to %s\n", f.reportHTML)
	}
	return nil
}

// epochPrinter shows training progress: one redrawn line on a terminal,
// one short line per epoch otherwise.
func epochPrinter(stderr io.Writer) func(rules.EpochStats) {
	tty := isTerminal(stderr)
	return func(st rules.EpochStats) {
		eta := time.Duration(float64(st.Elapsed) / float64(st.Epoch) * float64(st.Epochs-st.Epoch)).Round(time.Second)
		line := fmt.Sprintf("epoch %d/%d  T %.3f  loss %.4f  valid logloss %.4f  valid auc %.4f  eta %s",
			st.Epoch, st.Epochs, st.Temperature, st.TrainLoss, st.ValidLogLoss, st.ValidAUC, eta)
		if tty {
			fmt.Fprintf(stderr, "\r%s\033[K", line)
		} else {
			fmt.Fprintln(stderr, line)
		}
	}
}

func printChanges(w io.Writer, o *rules.Outcome, changes []rules.Change) {
	width := 0
	for _, c := range changes {
		width = max(width, len(c.Name))
	}
	fmt.Fprintln(w, "parameters:")
	for _, c := range changes {
		note := ""
		switch frozen, why := o.Problem.Frozen(c.Param); {
		case frozen:
			note = "  (kept: " + why + ")"
		case c.Kind == vm.Cutoff && !c.Moved():
			note = "  (cut-off: not trained)"
		case !c.Moved():
			note = "  (unchanged)"
		}
		fmt.Fprintf(w, "  %-*s  %s → %s%s\n", width+1, c.Name+":", c.Old, c.New, note)
	}
}

func fmtSummaryRow(w io.Writer, name string, s report.Summary) {
	fmt.Fprintf(w, "  %-18s %7s %7s %8s %10s %10s\n", name, fmtFloat(s.AUC), fmtFloat(s.KS), fmtFloat(s.LogLoss), fmtPct(s.RecallAtFPR1), fmtPct(s.RecallAtFPR5))
}

func printFigures(w io.Writer, o *rules.Outcome, base *baselineFit) {
	fmt.Fprintf(w, "\n%-20s %7s %7s %8s %10s %10s\n", "", "auc", "ks", "logloss", "recall@1%", "recall@5%")
	for _, split := range []string{"train", "valid"} {
		pick := func(f rules.Figures) report.Summary {
			if split == "train" {
				return f.Train
			}
			return f.Valid
		}
		rows := len(o.Train)
		if split == "valid" {
			rows = len(o.Valid)
			if rows == 0 {
				continue
			}
		}
		fmt.Fprintf(w, "%s (%d rows)\n", split, rows)
		fmtSummaryRow(w, "before", pick(o.Before))
		fmtSummaryRow(w, "after (soft)", pick(o.Soft))
		fmtSummaryRow(w, "after (hard)", pick(o.Hard))
		if base != nil {
			fmtSummaryRow(w, "logistic regr.", pick(base.fig))
		}
	}
}

func printReview(w io.Writer, rc *rules.ReviewCut) {
	fmt.Fprintf(w, "\nreview rate on the training rows: %.2f%% → %.2f%%", 100*rc.RateOld, 100*rc.RateNew)
	if rc.Param >= 0 && rc.New != rc.Old {
		fmt.Fprintf(w, " (review cut-off %g → %g)", rc.Old, rc.New)
	}
	if !rc.Satisfied {
		fmt.Fprintf(w, "; the limit is not met: %s", rc.Note)
	}
	fmt.Fprintln(w)
}

func printReproduce(w io.Writer, f trainFlags, prog *vm.Program, o *rules.Outcome) {
	extra := " --label " + f.label
	if f.positive != "" {
		extra += " --positive " + f.positive
	}
	if f.event != "" {
		extra += " --event " + f.event
	}
	fmt.Fprintf(w, "\nreproduce with the VM:\n")
	fmt.Fprintf(w, "  riskc eval --policy %s --data %s%s   # auc %s: after (hard) on every labelled row\n", f.out, f.data, extra, fmtFloat(o.Hard.All.AUC))
	if f.holdoutOut != "" && len(o.Valid) > 0 {
		note := "after (hard) on valid"
		if len(prog.Windows) > 0 {
			note = "differs from valid: the policy's windows see only the hold-out rows there"
		}
		fmt.Fprintf(w, "  riskc eval --policy %s --data %s%s   # auc %s: %s\n", f.out, f.holdoutOut, extra, fmtFloat(o.Hard.Valid.AUC), note)
	}
}

// readRaw returns the data file's rows as text records (CSV: the header
// first; JSONL: one record per non-blank line), in the order the dataset
// reader yields them.
func readRaw(f trainFlags) (header []string, recs [][]string, lines []string, err error) {
	file, err := os.Open(f.data)
	if err != nil {
		return nil, nil, nil, err
	}
	defer file.Close()
	if isJSONL(f) {
		sc := bufio.NewScanner(file)
		sc.Buffer(make([]byte, 64*1024), 16<<20)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) != "" {
				lines = append(lines, sc.Text())
			}
		}
		return nil, nil, lines, sc.Err()
	}
	r := csv.NewReader(bufio.NewReader(file))
	all, err := r.ReadAll()
	if err != nil {
		return nil, nil, nil, err
	}
	if len(all) == 0 {
		return nil, nil, nil, errors.New("empty file")
	}
	return all[0], all[1:], nil, nil
}

func isJSONL(f trainFlags) bool {
	if f.format != "" {
		return f.format == "jsonl"
	}
	return strings.HasSuffix(f.data, ".jsonl") || strings.HasSuffix(f.data, ".ndjson") || strings.HasSuffix(f.data, ".json")
}

// writeHoldout writes the validation rows, in file order, in the data
// file's format.
func writeHoldout(f trainFlags, valid []int) error {
	header, recs, lines, err := readRaw(f)
	if err != nil {
		return err
	}
	return writeFileWith(f.holdoutOut, func(w io.Writer) error {
		if lines != nil {
			for _, r := range valid {
				if _, err := fmt.Fprintln(w, lines[r]); err != nil {
					return err
				}
			}
			return nil
		}
		cw := csv.NewWriter(w)
		if err := cw.Write(header); err != nil {
			return err
		}
		for _, r := range valid {
			if err := cw.Write(recs[r]); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// baselineFit is the logistic regression the tuned policy is compared with.
type baselineFit struct {
	columns []string
	fig     rules.Figures
}

// fitBaseline fits a logistic regression on every numeric column of the
// CSV file (all but the label and event) on the training rows.
func fitBaseline(f trainFlags, reqs []*vm.Request, labels []float64, o *rules.Outcome) (*baselineFit, error) {
	if isJSONL(f) {
		return nil, errors.New("--baseline reads CSV data only")
	}
	header, recs, _, err := readRaw(f)
	if err != nil {
		return nil, err
	}
	if len(recs) != len(reqs) {
		return nil, fmt.Errorf("%d records but %d requests", len(recs), len(reqs))
	}
	var cols []int
	var names []string
	for j, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if h == f.label || h == "event" {
			continue
		}
		numeric := true
		for _, rec := range recs {
			if _, err := strconv.ParseFloat(strings.TrimSpace(rec[j]), 64); err != nil {
				numeric = false
				break
			}
		}
		if numeric {
			cols, names = append(cols, j), append(names, h)
		}
	}
	if len(cols) == 0 {
		return nil, errors.New("no numeric column")
	}
	x := make([][]float64, len(recs))
	for i, rec := range recs {
		x[i] = make([]float64, len(cols))
		for k, j := range cols {
			x[i][k], _ = strconv.ParseFloat(strings.TrimSpace(rec[j]), 64)
		}
	}
	tx, ty := make([][]float64, 0, len(o.Train)), make([]float64, 0, len(o.Train))
	for _, r := range o.Train {
		tx, ty = append(tx, x[r]), append(ty, labels[r])
	}
	m, err := rules.FitLogReg(tx, ty, 1)
	if err != nil {
		return nil, err
	}
	scores := make([]float64, len(x))
	for i := range x {
		scores[i] = m.Predict(x[i])
	}
	all := append(append([]int(nil), o.Train...), o.Valid...)
	return &baselineFit{columns: names, fig: rules.Figures{
		Train: rules.Summary(scores, labels, o.Train), Valid: rules.Summary(scores, labels, o.Valid), All: rules.Summary(scores, labels, all)}}, nil
}

// trainMetricsJSON is the --metrics-json document.
type trainMetricsJSON struct {
	Policy       string                `json:"policy"`
	Tuned        string                `json:"tuned"`
	Data         string                `json:"data"`
	Seed         uint64                `json:"seed"`
	Rows         int                   `json:"rows"`
	TrainRows    int                   `json:"train_rows"`
	ValidRows    int                   `json:"valid_rows"`
	Before       rules.Figures         `json:"before"`
	AfterSoft    rules.Figures         `json:"after_soft"`
	AfterHard    rules.Figures         `json:"after_hard"`
	Baseline     *rules.Figures        `json:"baseline_logreg,omitempty"`
	Params       map[string]paramJSON  `json:"params"`
	Epochs       []rules.EpochStats    `json:"epochs"`
	BestEpoch    int                   `json:"best_epoch"`
	Temperature  float64               `json:"temperature"`
	StoppedEarly bool                  `json:"stopped_early"`
	SecPerEpoch  float64               `json:"seconds_per_epoch"`
	RowsPerSec   float64               `json:"rows_per_second"`
	Seconds      float64               `json:"seconds"`
	Review       *rules.ReviewCut      `json:"review,omitempty"`
	Decisions    map[string]actionJSON `json:"decisions"`
}

type paramJSON struct {
	Kind    string  `json:"kind"`
	Old     float64 `json:"old"`
	New     float64 `json:"new"`
	OldText string  `json:"old_text"`
	NewText string  `json:"new_text"`
	Trained bool    `json:"trained"`
	Frozen  string  `json:"frozen,omitempty"`
}

type actionJSON struct {
	Before map[string]int `json:"before"`
	After  map[string]int `json:"after"`
}

func trainMetrics(f trainFlags, prog *vm.Program, o *rules.Outcome, changes []rules.Change, base *baselineFit, elapsed time.Duration) trainMetricsJSON {
	h := o.Result.History
	m := trainMetricsJSON{Policy: f.policy, Tuned: f.out, Data: f.data, Seed: f.seed, Rows: o.Data.Rows,
		TrainRows: len(o.Train), ValidRows: len(o.Valid), Before: o.Before, AfterSoft: o.Soft, AfterHard: o.Hard,
		Params: map[string]paramJSON{}, Epochs: h, BestEpoch: o.Result.BestEpoch, Temperature: o.Result.BestTemp,
		StoppedEarly: o.Result.StoppedEarly, Seconds: elapsed.Seconds(), Review: o.Review}
	m.SecPerEpoch = h[len(h)-1].Seconds / float64(len(h))
	m.RowsPerSec = float64(len(o.Train)) / m.SecPerEpoch
	if base != nil {
		m.Baseline = &base.fig
	}
	for _, c := range changes {
		_, why := o.Problem.Frozen(c.Param)
		m.Params[c.Name] = paramJSON{Kind: c.Kind.String(), Old: c.OldValue, New: c.NewValue, OldText: c.Old, NewText: c.New,
			Trained: o.Problem.Trainable(c.Param), Frozen: why}
	}
	m.Decisions = map[string]actionJSON{}
	for split, rows := range map[string][]int{"train": o.Train, "valid": o.Valid} {
		m.Decisions[split] = actionJSON{Before: countActions(o.BeforeDec, rows), After: countActions(o.HardDec, rows)}
	}
	return m
}

func countActions(d *rules.Decisions, rows []int) map[string]int {
	c := map[string]int{"approve": 0, "review": 0, "reject": 0}
	for _, r := range rows {
		c[d.Actions[r].String()]++
	}
	return c
}
