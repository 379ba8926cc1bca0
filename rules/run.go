package rules

import (
	"errors"
	"fmt"
	"time"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/vm"
)

// RunOptions describe a whole training run, as riskc train does it: read
// the data (and a test file), train, harden, write the numbers back into
// the source, and optionally fit a baseline and suggest rules.
type RunOptions struct {
	Options
	// PolicyPath names the policy in messages and locates its list and
	// model files; Source is its text, Prog and IR its compilation.
	PolicyPath string
	Source     []byte
	Prog       *vm.Program
	IR         *compiler.IR
	// Data is the labelled history; Test, when set, a file of test rows
	// (then Options.TestFrac is ignored). Both are read with Read.
	Data, Test string
	Read       dataset.Options
	// Baseline fits a logistic regression on every column of the data
	// (text columns one-hot encoded) on the fit rows.
	Baseline bool
	// Suggest proposes up to this many new rules.
	Suggest int
	// Models, when set, returns the model runner for the requests (riskc
	// loads the policy's ONNX models and scores every row once).
	Models func(reqs []*vm.Request) (vm.ModelRunner, error)
}

// RunResult is everything a training run produced.
type RunResult struct {
	*Outcome
	Tuned       []byte   // the tuned source (numbers, reasons and layout)
	Changes     []Change // per parameter
	Reasons     []ReasonNote
	Baseline    *Baseline
	Suggestions []Suggestion
	Skipped     []string // one line per file with rows skipped for missing inputs
	Records     []int    // per request: its record in its file (Data, then Test)
	TestFile    int      // requests from this index on come from the test file
	Elapsed     time.Duration
	opts        RunOptions
}

// Run performs a training run. It returns an error for problems with the
// input; a run that does not improve on the policy as written is not an
// error (RunResult.Improved says so).
func Run(opts RunOptions) (*RunResult, error) {
	if opts.Prog == nil || opts.IR == nil {
		return nil, errors.New("rules: Run needs a compiled policy with its IR")
	}
	start := time.Now()
	res := &RunResult{opts: opts}
	reqs, labels, err := res.read(opts.Data)
	if err != nil {
		return nil, err
	}
	res.TestFile = len(reqs)
	if opts.Test != "" {
		treqs, tlabels, err := res.read(opts.Test)
		if err != nil {
			return nil, err
		}
		opts.Options.Test = make([]int, 0, len(treqs))
		for i := range treqs {
			opts.Options.Test = append(opts.Options.Test, len(reqs)+i)
		}
		reqs, labels = append(reqs, treqs...), append(labels, tlabels...)
	}
	if opts.Models != nil {
		if opts.Options.Models, err = opts.Models(reqs); err != nil {
			return nil, fmt.Errorf("scoring models: %w", err)
		}
	}
	if res.Outcome, err = Tune(opts.Prog, opts.IR, reqs, labels, opts.Options); err != nil {
		return nil, err
	}
	if err := res.writeBack(); err != nil {
		res.Close()
		return nil, err
	}
	if opts.Baseline {
		if res.Baseline, err = res.fitBaseline(); err != nil {
			res.Close()
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}
	if opts.Suggest > 0 {
		if err := res.suggest(reqs); err != nil {
			res.Close()
			return nil, fmt.Errorf("suggestions: %w", err)
		}
		// The suggestions must compile once uncommented.
		if _, diags := compiler.CheckSource(opts.PolicyPath, Uncomment(res.Tuned), compiler.Options{}); diags.HasErrors() {
			res.Close()
			return nil, fmt.Errorf("suggestions: internal error: they do not check: %v", diags.Err())
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// Close releases the training graph.
func (r *RunResult) Close() {
	if r.Outcome != nil && r.Result != nil && r.Result.Graph != nil {
		r.Result.Graph.Close()
	}
}

// read reads one data file's requests, keeping each one's record index.
func (r *RunResult) read(path string) ([]*vm.Request, []float64, error) {
	reqs, labels, records, skip, err := readRecords(r.opts.Prog, path, r.opts.Read)
	if err != nil {
		return nil, nil, err
	}
	r.Records = append(r.Records, records...)
	if skip != "" {
		r.Skipped = append(r.Skipped, skip)
	}
	return reqs, labels, nil
}

// writeBack writes the tuned numbers into the source, rewrites or flags
// reason texts that quote a moved threshold, lays out changed lines as
// the formatter would, and checks the result reads back every value.
func (r *RunResult) writeBack() error {
	o := r.opts
	tuned, changes, err := Rewrite(o.Source, o.Prog.Params, r.Texts)
	if err != nil {
		return err
	}
	r.Changes = changes
	tuned, r.Reasons, err = RewriteReasons(o.PolicyPath, tuned, o.Prog.Params, changes)
	if err != nil {
		return err
	}
	r.Tuned, err = Verify(o.PolicyPath, o.Source, tuned, r.Values, compiler.Options{})
	return err
}

// HoldoutRows returns, for the rows of a role (selection or test, as
// Outcome lists them) that come from one file, their record indices in
// that file: what --holdout-out writes. fromTest picks the test file.
func (r *RunResult) HoldoutRows(rows []int, fromTest bool) []int {
	var out []int
	for _, i := range rows {
		if (i >= r.TestFile) == fromTest {
			out = append(out, r.Records[i])
		}
	}
	return out
}
