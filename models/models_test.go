package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
)

// The tests need the onnxruntime library: they fail (never skip) without
// it, saying where it was looked for and that `make deps` installs it.
func TestMain(m *testing.M) {
	if err := Init(Options{}); err != nil {
		fmt.Fprintf(os.Stderr, "models tests need onnxruntime: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// policyPath is where test policies pretend to live: model paths in them
// are relative to testdata/.
const policyPath = "testdata/test.risk"

// testPolicy returns a policy with float inputs a..f and x and the given
// model declarations; every model is used by one rule.
func testPolicy(models ...string) string {
	var b strings.Builder
	b.WriteString("policy t version \"1\"\n\ninput {\n")
	for _, in := range []string{"amount", "term_months", "income", "existing_debt", "overdue_30d", "age", "x", "y", "z"} {
		fmt.Fprintf(&b, "  %s float\n", in)
	}
	b.WriteString("}\n\n")
	for i, m := range models {
		b.WriteString(m + "\n\n")
		name := strings.Fields(m)[1]
		fmt.Fprintf(&b, "rule r%d\n  when %s > 0.5\n  emit score 1 reason \"r%d\"\n\n", i, name, i)
	}
	b.WriteString("decide {\n  bias 0\n  reject when score >= 0.9\n  otherwise approve\n}\n")
	return b.String()
}

// modelDecl declares a model; extra is its timeout line, by default a
// long one so that a loaded test machine does not make calls time out.
func modelDecl(name, path, inputs, output string, index int, extra string) string {
	if extra == "" {
		extra = "timeout 10s"
	}
	return fmt.Sprintf("model %s = onnx %q {\n  inputs [%s]\n  output %q [%d]\n  %s\n  on_error 0.25\n}", name, path, inputs, output, index, extra)
}

const loanInputs = "amount, term_months, income, existing_debt, overdue_30d, age"

func compile(t testing.TB, src string) *vm.Program {
	t.Helper()
	pol, diags := compiler.CheckSource(policyPath, []byte(src), compiler.Options{CheckFiles: true})
	if diags.HasErrors() {
		t.Fatalf("policy does not check:\n%v\n%s", diags, src)
	}
	prog, _, err := compiler.Compile(pol, compiler.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

func load(t testing.TB, prog *vm.Program, opts Options) *Registry {
	t.Helper()
	r, err := Load(prog, policyPath, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

type reference struct {
	Features          []string    `json:"features"`
	Rows              [][]float64 `json:"rows"`
	LogregLogit       []float64   `json:"logreg_logit"`
	LogregProbability []float64   `json:"logreg_probability"`
	GBTLogit          []float64   `json:"gbt_logit"`
	GBTProbability    []float64   `json:"gbt_probability"`
}

func loadReference(t testing.TB) (reference, [][]float32) {
	t.Helper()
	data, err := os.ReadFile("testdata/loan_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	rows := make([][]float32, len(ref.Rows))
	for i, r := range ref.Rows {
		for _, v := range r {
			rows[i] = append(rows[i], float32(v))
		}
	}
	return ref, rows
}

// The example models against probabilities scikit-learn computed itself
// (float64, no onnxruntime): single rows, batches, and the ZipMap output.
func TestExampleModelsMatchSklearn(t *testing.T) {
	ref, rows := loadReference(t)
	prog := compile(t, testPolicy(
		modelDecl("lr_p", "../../examples/models/loan_logreg.onnx", loanInputs, "probabilities", 1, ""),
		modelDecl("lr_logit", "../../examples/models/loan_logreg.onnx", loanInputs, "logit", 0, ""),
		modelDecl("lr_p0", "../../examples/models/loan_logreg.onnx", loanInputs, "probabilities", 0, ""),
		modelDecl("gbt_p", "../../examples/models/loan_gbt.onnx", loanInputs, "probabilities", 1, ""),
		modelDecl("gbt_map", "../../examples/models/loan_gbt_zipmap.onnx", loanInputs, "output_probability", 1, ""),
	))
	r := load(t, prog, Options{})
	want := [][]float64{ref.LogregProbability, ref.LogregLogit, nil, ref.GBTProbability, ref.GBTProbability}
	want[2] = make([]float64, len(ref.LogregProbability))
	for i, p := range ref.LogregProbability {
		want[2][i] = 1 - p
	}
	const tol = 2e-5 // float32 arithmetic in onnxruntime vs float64 in sklearn
	for mi, w := range want {
		name := prog.Models[mi].Name
		for i, row := range rows {
			got, err := r.Predict(mi, row)
			if err != nil {
				t.Fatalf("%s row %d: %v", name, i, err)
			}
			if math.Abs(got-w[i]) > tol*max(1, math.Abs(w[i])) {
				t.Errorf("%s row %d %v: got %.7f, sklearn %.7f", name, i, row, got, w[i])
			}
		}
		out := make([]float64, len(rows))
		if err := r.PredictBatch(mi, rows, out); err != nil {
			t.Fatalf("%s batch: %v", name, err)
		}
		for i := range rows {
			single, _ := r.Predict(mi, rows[i])
			if math.Abs(out[i]-single) > 1e-6 {
				t.Errorf("%s row %d: batch %.7f, single row %.7f", name, i, out[i], single)
			}
		}
	}
	// The reference spans both classes' regions.
	lo, hi := 1.0, 0.0
	for _, p := range ref.GBTProbability {
		lo, hi = min(lo, p), max(hi, p)
	}
	if lo > 0.1 || hi < 0.5 {
		t.Errorf("reference probabilities span only [%.3f, %.3f]", lo, hi)
	}
}

func TestInfoRecordsSHA256(t *testing.T) {
	prog := compile(t, testPolicy(modelDecl("gbt", "../../examples/models/loan_gbt.onnx", loanInputs, "probabilities", 1, "timeout 20ms")))
	r := load(t, prog, Options{Sessions: 3, ONNXRuntimeOnly: true})
	data, err := os.ReadFile("../examples/models/loan_gbt.onnx")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	info := r.Info()
	if len(info) != 1 {
		t.Fatalf("Info: %d models", len(info))
	}
	got := info[0]
	if got.SHA256 != hex.EncodeToString(sum[:]) || got.SHA256 != hex.EncodeToString(prog.Models[0].Digest[:]) {
		t.Errorf("SHA256 %s, file %x, program %x", got.SHA256, sum, prog.Models[0].Digest)
	}
	if got.Name != "gbt" || got.Path != "../../examples/models/loan_gbt.onnx" || got.File != filepath.Join("testdata", got.Path) ||
		got.Output != "probabilities" || got.Index != 1 || got.Features != 6 || got.TimeoutSec != 0.02 || got.OnError != 0.25 || got.Sessions != 3 {
		t.Errorf("Info: %+v", got)
	}
	if len(got.Inputs) != 1 || got.Inputs[0].String() != "features: tensor(float)[?,6]" {
		t.Errorf("inputs %v", got.Inputs)
	}
	if len(got.Outputs) != 2 || got.Outputs[0].String() != "label: tensor(int64)[?]" || got.Outputs[1].String() != "probabilities: tensor(float)[?,2]" {
		t.Errorf("outputs %v", got.Outputs)
	}
}

// Every way a declaration can disagree with its file, through Check and
// Load, with the part of the declaration at fault.
func TestMismatchErrors(t *testing.T) {
	cases := []struct {
		name, decl, field, want string
	}{
		{"missing output", modelDecl("fraud", "../../examples/models/loan_logreg.onnx", loanInputs, "probabilty", 1, ""),
			"output", `model "fraud" (../../examples/models/loan_logreg.onnx): output "probabilty" not in the graph (outputs: logit, probabilities)`},
		{"index out of range", modelDecl("m", "../../examples/models/loan_logreg.onnx", loanInputs, "probabilities", 2, ""),
			"output", `output "probabilities" has 2 value(s) per row (shape [?,2]); index 2 is out of range`},
		{"index out of range, rank 1", modelDecl("m", "sum.onnx", "x, y", "sum_vec", 1, ""),
			"output", `output "sum_vec" has 1 value(s) per row (shape [?]); index 1 is out of range`},
		{"too few inputs", modelDecl("m", "../../examples/models/loan_gbt.onnx", "amount, term_months, income, existing_debt, overdue_30d", "probabilities", 1, ""),
			"inputs", `input "features" takes 6 features (shape [?,6]) but the declaration lists 5 inputs`},
		{"int output", modelDecl("m", "../../examples/models/loan_gbt.onnx", loanInputs, "label", 0, ""),
			"output", `output "label" is tensor(int64); riskforge reads tensor(float) or tensor(double) outputs`},
		{"class not in map", modelDecl("m", "../../examples/models/loan_gbt_zipmap.onnx", loanInputs, "output_probability", 2, ""),
			"output", `output "output_probability" has no class 2 (classes: 0, 1)`},
		{"string class out of range", modelDecl("m", "strings.onnx", "x, y", "probs", 2, ""),
			"output", `output "probs" has 2 classes (bad, good, in key order); index 2 is out of range`},
		{"double input", modelDecl("m", "double_input.onnx", "x, y, z", "y", 0, ""),
			"inputs", `input "x" is tensor(double); riskforge feeds tensor(float)`},
		{"two inputs", modelDecl("m", "two_inputs.onnx", "x", "y", 0, ""),
			"inputs", `the graph has 2 inputs (a, b); riskforge feeds one float tensor [N,1]`},
		{"rank 3 input", modelDecl("m", "rank3_input.onnx", "x, y", "y", 0, ""),
			"inputs", `input "x" has shape [?,2,3]; riskforge feeds [N,2]`},
		{"fixed batch of 8", modelDecl("m", "batch8.onnx", "x, y, z", "y", 0, ""),
			"inputs", `input "x" has a fixed batch size of 8 (shape [8,3])`},
		{"not a model", modelDecl("m", "not_onnx.onnx", "x", "y", 0, ""),
			"path", `not_onnx.onnx is not a model onnxruntime can load`},
		{"fails on zeros", modelDecl("m", "reshape7.onnx", "x, y, z", "y", 0, ""),
			"", `the model fails on a row of zeros: `},
		{"runs on zeros", modelDecl("m", "gather.onnx", "x", "y", 0, ""), // fails for x >= 4 only
			"", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prog := compile(t, testPolicy(c.decl))
			errs := Check(prog, policyPath, Options{})
			if c.want == "" {
				if len(errs) != 0 {
					t.Fatalf("Check: %v", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("Check: %d errors %v, want 1", len(errs), errs)
			}
			var me *ModelError
			if !errors.As(errs[0], &me) || me.Model != 0 || me.Field != c.field {
				t.Fatalf("Check: %#v, want a *ModelError for model 0, field %q", errs[0], c.field)
			}
			if !strings.Contains(errs[0].Error(), c.want) || !strings.HasPrefix(errs[0].Error(), `model "`) {
				t.Errorf("Check:\n got %s\nwant %s", errs[0], c.want)
			}
			r, err := Load(prog, policyPath, Options{})
			if r != nil || err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Load: %v, %v", r, err)
			}
		})
	}
}

func TestMissingFileAndChangedFile(t *testing.T) {
	prog := compile(t, testPolicy(modelDecl("m", "sum.onnx", "x, y", "sum", 0, "")))
	prog.Models[0].Path = "nowhere.onnx"
	errs := Check(prog, policyPath, Options{})
	var me *ModelError
	if len(errs) != 1 || !errors.As(errs[0], &me) || me.Field != "path" || !errors.Is(errs[0], os.ErrNotExist) ||
		!strings.Contains(errs[0].Error(), `model "m" (nowhere.onnx): cannot read the model file`) {
		t.Errorf("missing file: %v", errs)
	}
	prog = compile(t, testPolicy(modelDecl("m", "sum.onnx", "x, y", "sum", 0, "")))
	prog.Models[0].Digest[0] ^= 1
	errs = Check(prog, policyPath, Options{})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "changed since the policy was compiled") {
		t.Errorf("changed file: %v", errs)
	}
	// Several bad models: one error each, in declaration order.
	prog = compile(t, testPolicy(
		modelDecl("a", "sum.onnx", "x, y", "nope", 0, ""),
		modelDecl("b", "sum.onnx", "x, y", "sum", 0, ""),
		modelDecl("c", "two_inputs.onnx", "x", "y", 0, ""),
	))
	errs = Check(prog, policyPath, Options{})
	if len(errs) != 2 || !strings.HasPrefix(errs[0].Error(), `model "a"`) || !strings.HasPrefix(errs[1].Error(), `model "c"`) {
		t.Errorf("several: %v", errs)
	}
	if _, err := Load(prog, policyPath, Options{}); err == nil || !strings.Contains(err.Error(), `model "a"`) || !strings.Contains(err.Error(), `model "c"`) {
		t.Errorf("Load: %v", err)
	}
}

func TestLibraryPath(t *testing.T) {
	t.Setenv(EnvLibrary, "")
	p, err := LibraryPath("")
	if err != nil {
		t.Fatalf("default location: %v", err)
	}
	if !strings.HasSuffix(p, DefaultLibrary) {
		t.Errorf("default location %s", p)
	}
	if got, err := LibraryPath(p); err != nil || got != p {
		t.Errorf("explicit: %s, %v", got, err)
	}
	t.Setenv(EnvLibrary, p)
	if got, err := LibraryPath(""); err != nil || got != p {
		t.Errorf("env: %s, %v", got, err)
	}
	missing := filepath.Join(t.TempDir(), "libonnxruntime.so")
	t.Setenv(EnvLibrary, missing)
	_, err = LibraryPath("")
	var le *LibraryError
	if !errors.Is(err, ErrLibraryNotFound) || !errors.As(err, &le) ||
		!strings.Contains(err.Error(), missing+" (from RISKFORGE_ORT_LIB)") || !strings.Contains(err.Error(), "run `make deps` to install it") {
		t.Errorf("env pointing nowhere: %v", err)
	}
	_, err = LibraryPath(missing)
	if !errors.Is(err, ErrLibraryNotFound) || !strings.Contains(err.Error(), missing+" (configured)") {
		t.Errorf("explicit path missing: %v", err)
	}
	// Init again: a no-op, but not with another library.
	if err := Init(Options{}); err != nil {
		t.Errorf("second Init: %v", err)
	}
	if err := Init(Options{LibraryPath: missing}); err == nil {
		t.Errorf("Init with another library: no error")
	}
	if path, version := Loaded(); path == "" || !strings.HasPrefix(version, "1.24") {
		t.Errorf("Loaded: %q %q", path, version)
	}
}

// counter reads riskforge_model_calls_total{model, result}.
func counter(t *testing.T, model, result string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "riskforge_model_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["model"] == model && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestTimeout(t *testing.T) {
	prog := compile(t, testPolicy(modelDecl("slow_t", "slow.onnx", "x", "y", 0, "timeout 20ms")))
	r := load(t, prog, Options{Sessions: 1})
	if v, err := r.Predict(0, []float32{0}); err != nil || v != 0 {
		t.Fatalf("fast call: %v, %v", v, err)
	}
	// Uninterrupted, x = 1000 takes about two seconds.
	before := counter(t, "slow_t", ResultTimeout)
	start := time.Now()
	v, err := r.Predict(0, []float32{1000})
	took := time.Since(start)
	if !errors.Is(err, ErrTimeout) || !math.IsNaN(v) {
		t.Fatalf("slow call: %v, %v", v, err)
	}
	t.Logf("a 20ms timeout returned after %v", took)
	if took > 250*time.Millisecond {
		t.Errorf("the terminated run returned after %v", took)
	}
	if got := counter(t, "slow_t", ResultTimeout) - before; got != 1 {
		t.Errorf("timeout counter +%v", got)
	}
	// The session is usable again: the terminate flag was cleared.
	if v, err := r.Predict(0, []float32{2}); err != nil || v != 2 {
		t.Fatalf("call after the timeout: %v, %v", v, err)
	}
	// Without timeouts (offline evaluation) the same call completes.
	prog2 := compile(t, testPolicy(modelDecl("slow_nt", "slow.onnx", "x", "y", 0, "timeout 1ms")))
	r2 := load(t, prog2, Options{Sessions: 1, NoTimeouts: true})
	start = time.Now()
	if v, err := r2.Predict(0, []float32{250}); err != nil || v != 250 {
		t.Errorf("no timeouts: %v, %v", v, err)
	}
	if took := time.Since(start); took < 2*time.Millisecond {
		t.Errorf("the slow call took only %v: the test proves nothing", took)
	}
	// Waiting for a busy session counts against the timeout too.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.Predict(0, []float32{1000})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("concurrent slow call %d: %v", i, err)
		}
	}
}

// The Machine uses on_error and marks the decision degraded when a model
// fails, returns NaN, or times out; the metrics count each.
func TestFallback(t *testing.T) {
	src := testPolicy(
		modelDecl("lookup_f", "gather.onnx", "x", "y", 0, "timeout 1s"),
		modelDecl("nan_f", "nan.onnx", "y", "y", 0, ""),
		modelDecl("slow_f", "slow.onnx", "z", "y", 0, "timeout 50ms"),
	)
	prog := compile(t, src)
	r := load(t, prog, Options{})
	m := prog.NewMachine()
	m.Models = r
	eval := func(x, y, z float64) *vm.Decision {
		t.Helper()
		req := prog.NewRequest()
		for i, in := range prog.Inputs {
			req.Present[i] = true
			switch in.Name {
			case "x":
				req.Num[in.Slot] = x
			case "y":
				req.Num[in.Slot] = y
			case "z":
				req.Num[in.Slot] = z
			}
		}
		d, err := m.Eval(req)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	okBefore, errBefore, toBefore := counter(t, "lookup_f", ResultOK), counter(t, "lookup_f", ResultError), counter(t, "slow_f", ResultTimeout)
	nanBefore := counter(t, "nan_f", ResultError)

	d := eval(2, 1, 0)
	if d.Models[0].Value != 30 || d.Models[0].Degraded || d.Models[2].Degraded || d.Models[2].Value != 0 {
		t.Errorf("healthy models: %+v", d.Models)
	}
	if !d.Models[1].Degraded || d.Models[1].Value != 0.25 || !d.Degraded {
		t.Errorf("NaN model: %+v, degraded %v", d.Models[1], d.Degraded)
	}
	d = eval(7, 1, 1000) // gather index 7 is out of range; slow_f times out
	if !d.Models[0].Degraded || d.Models[0].Value != 0.25 || !d.Degraded {
		t.Errorf("failing model: %+v", d.Models[0])
	}
	if !d.Models[2].Degraded || d.Models[2].Value != 0.25 {
		t.Errorf("timed-out model: %+v", d.Models[2])
	}
	if got := counter(t, "lookup_f", ResultOK) - okBefore; got != 1 {
		t.Errorf("ok +%v", got)
	}
	if got := counter(t, "lookup_f", ResultError) - errBefore; got != 1 {
		t.Errorf("error +%v", got)
	}
	if got := counter(t, "nan_f", ResultError) - nanBefore; got != 2 {
		t.Errorf("NaN error +%v", got)
	}
	if got := counter(t, "slow_f", ResultTimeout) - toBefore; got != 1 {
		t.Errorf("timeout +%v", got)
	}
	// The error itself, for the record.
	if _, err := r.Predict(0, []float32{7}); err == nil || !strings.Contains(err.Error(), `model "lookup_f"`) {
		t.Errorf("Predict error: %v", err)
	}
	if _, err := r.Predict(1, []float32{1}); !errors.Is(err, ErrNaN) {
		t.Errorf("NaN: %v", err)
	}
	if _, err := r.Predict(0, []float32{1, 2}); err == nil {
		t.Errorf("wrong feature count: no error")
	}
	if _, err := r.Predict(3, []float32{1}); err == nil {
		t.Errorf("no model 3: no error")
	}
	// After Close, calls fail (and the Machine falls back).
	r.Close()
	if _, err := r.Predict(0, []float32{1}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if d := eval(2, 1, 0); !d.Models[0].Degraded {
		t.Errorf("after Close: %+v", d.Models[0])
	}
}

func TestPredictBatch(t *testing.T) {
	prog := compile(t, testPolicy(
		modelDecl("lookup", "gather.onnx", "x", "y", 0, ""),
		modelDecl("fixed_b", "fixed_batch.onnx", "x, y, z", "sum", 0, ""),
		modelDecl("sum", "sum.onnx", "x, y, z", "sum_vec", 0, ""),
		modelDecl("strings", "strings.onnx", "x, y", "probs", 1, ""),
	))
	r := load(t, prog, Options{})
	rows := make([][]float32, 1200) // more than MaxBatch: three Runs
	for i := range rows {
		rows[i] = []float32{float32(i % 4), float32(i), 1}
	}
	out := make([]float64, len(rows))
	for _, mi := range []int{1, 2} {
		if err := r.PredictBatch(mi, rows, out); err != nil {
			t.Fatal(err)
		}
		for i, row := range rows {
			if want := float64(row[0] + row[1] + row[2]); out[i] != want {
				t.Fatalf("%s row %d: %v, want %v", prog.Models[mi].Name, i, out[i], want)
			}
			if i < 5 {
				if v, err := r.Predict(mi, row); err != nil || v != out[i] {
					t.Errorf("%s single row %d: %v, %v", prog.Models[mi].Name, i, v, err)
				}
			}
		}
	}
	// String class labels: the index counts classes in key order (bad,
	// good), so [1] reads "good", the first input column.
	pair := [][]float32{{0.75, 0.25}, {0.5, 0.5}}
	out2 := make([]float64, 2)
	if err := r.PredictBatch(3, pair, out2); err != nil || out2[0] != 0.75 || out2[1] != 0.5 {
		t.Errorf("string map batch: %v, %v", out2, err)
	}
	if v, err := r.Predict(3, pair[0]); err != nil || v != 0.75 {
		t.Errorf("string map single: %v, %v", v, err)
	}
	// A failing row gets NaN; the rest of its batch is still scored.
	lookup := make([][]float32, 100)
	for i := range lookup {
		lookup[i] = []float32{float32(i % 4)}
	}
	lookup[37] = []float32{9}
	out = make([]float64, len(lookup))
	err := r.PredictBatch(0, lookup, out)
	if err == nil || !strings.Contains(err.Error(), "failed on 1 of 100 rows") {
		t.Errorf("failing row: %v", err)
	}
	for i, v := range out {
		want := float64(10 * (i%4 + 1))
		if i == 37 {
			want = math.NaN()
		}
		if v != want && !(math.IsNaN(v) && math.IsNaN(want)) {
			t.Errorf("row %d: %v, want %v", i, v, want)
		}
	}
	if err := r.PredictBatch(0, lookup, out[:3]); err == nil {
		t.Error("short out: no error")
	}
	if err := r.PredictBatch(1, [][]float32{{1}}, out[:1]); err == nil {
		t.Error("short row: no error")
	}
}

// Concurrent single-row calls on shared sessions (run with -race).
func TestConcurrentPredict(t *testing.T) {
	ref, rows := loadReference(t)
	prog := compile(t, testPolicy(
		modelDecl("gbt", "../../examples/models/loan_gbt.onnx", loanInputs, "probabilities", 1, "timeout 1s"),
		modelDecl("gbt_map", "../../examples/models/loan_gbt_zipmap.onnx", loanInputs, "output_probability", 1, "timeout 1s"),
	))
	r := load(t, prog, Options{Sessions: 2})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 200; k++ {
				i := (g*31 + k) % len(rows)
				mi := k % 2
				v, err := r.Predict(mi, rows[i])
				if err != nil || math.Abs(v-ref.GBTProbability[i]) > 2e-5 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("model %d row %d: %v %v", mi, i, v, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d failures, first: %s", len(failures), failures[0])
	}
}

// The example policy with models checks, loads and decides.
func TestLoanMLPolicy(t *testing.T) {
	const path = "../examples/loan_ml/loan_ml.risk"
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pol, diags := compiler.CheckSource(path, src, compiler.Options{CheckFiles: true})
	if len(diags) > 0 {
		t.Fatalf("%v", diags)
	}
	prog, _, err := compiler.Compile(pol, compiler.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if errs := Check(prog, path, Options{}); len(errs) > 0 {
		t.Fatal(errs)
	}
	r, err := Load(prog, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.Info()) < 2 {
		t.Errorf("loan_ml declares %d models", len(r.Info()))
	}
}

// Prefetch scores the history in batches and gives the decisions
// single-row calls give, without calling the models again.
func TestPrefetch(t *testing.T) {
	prog, reqs := loanRequests(t, 3000)
	// No timeouts: a live call that times out on a loaded machine would read
	// its on_error value and differ from the batch for a reason the test is
	// not about.
	r, err := Load(prog, loanMLPolicy, Options{NoTimeouts: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := r.Prefetch(prog, reqs)
	if err != nil {
		t.Fatal(err)
	}
	// Both models read request inputs only: no pass over the policy.
	if p.Rounds != 0 || p.Rows[0] == 0 || p.Rows[0] != p.Rows[1] {
		t.Errorf("rounds %d, rows %v", p.Rounds, p.Rows)
	}
	samePredictions(t, prog, reqs, r, p, "default_risk", "default_risk_lr")
}

// Models fed by lets, and a model called only when another one's value
// allows it, need passes over the policy.
func TestPrefetchPasses(t *testing.T) {
	gated := modelDecl("gated_p", "sum.onnx", "xy, x", "sum", 0, "")
	src := strings.Replace(testPolicy(
		modelDecl("direct_p", "gather.onnx", "x", "y", 0, ""),
		modelDecl("let_p", "sum.onnx", "xy, z", "sum", 0, ""),
	), "decide {", "let xy = x + y\n\n"+gated+"\n\nrule gate\n  when let_p > 5 and gated_p > 6\n  emit score 1 reason \"g\"\n\ndecide {", 1)
	prog := compile(t, src)
	r := load(t, prog, Options{NoTimeouts: true}) // as in TestPrefetch
	var reqs []*vm.Request
	for i := 0; i < 500; i++ {
		req := prog.NewRequest()
		for k, in := range prog.Inputs {
			req.Present[k] = true
			switch in.Name {
			case "x":
				req.Num[in.Slot] = float64(i % 4)
			case "y":
				req.Num[in.Slot] = float64(i % 7)
			case "z":
				req.Num[in.Slot] = float64(i % 3)
			}
		}
		reqs = append(reqs, req)
	}
	p, err := r.Prefetch(prog, reqs)
	if err != nil {
		t.Fatal(err)
	}
	// Pass 1 finds let_p's rows, pass 2 gated_p's, pass 3 nothing new.
	if p.Rounds != 3 || p.Rows[0] != 4 || p.Rows[1] == 0 || p.Rows[2] == 0 {
		t.Errorf("rounds %d, rows %v", p.Rounds, p.Rows)
	}
	samePredictions(t, prog, reqs, r, p, "direct_p", "let_p", "gated_p")
}

func samePredictions(t *testing.T, prog *vm.Program, reqs []*vm.Request, live, pre vm.ModelRunner, names ...string) {
	t.Helper()
	eval := func(runner vm.ModelRunner) []vm.Decision {
		m := prog.NewMachine()
		m.Models = runner
		m.Windows = windows.NewMemory(prog, 0)
		out := make([]vm.Decision, len(reqs))
		for i, req := range reqs {
			d, err := m.Eval(req)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = *d
			out[i].Models = append([]vm.ModelOutput(nil), d.Models...)
			out[i].Fired = nil
		}
		return out
	}
	calls := func() (n float64) {
		for _, name := range names {
			n += counter(t, name, ResultOK) + counter(t, name, ResultError)
		}
		return n
	}
	a := eval(live)
	before := calls()
	b := eval(pre)
	if after := calls(); after != before {
		t.Errorf("the prefetched run called the models %v times", after-before)
	}
	ran := 0
	for i := range a {
		if a[i].Action != b[i].Action || math.Abs(a[i].Score-b[i].Score) > 1e-9 || a[i].Degraded || b[i].Degraded {
			t.Fatalf("row %d: live %+v, prefetched %+v", i, a[i], b[i])
		}
		for k := range a[i].Models {
			if a[i].Models[k] != b[i].Models[k] {
				t.Fatalf("row %d model %d: live %+v, prefetched %+v", i, k, a[i].Models[k], b[i].Models[k])
			}
			if a[i].Models[k].Ran {
				ran++
			}
		}
	}
	if ran == 0 {
		t.Error("no model ran")
	}
}

// Probability maps (ZipMap outputs) give the same values whether read as
// maps or, by default, from the ZipMap's input tensor.
func TestMapOutputs(t *testing.T) {
	ref, rows := loadReference(t)
	defer func() { unzipMaps = true }()
	for _, unzip := range []bool{true, false} {
		t.Run(fmt.Sprintf("unzip=%v", unzip), func(t *testing.T) {
			unzipMaps = unzip
			prog := compile(t, testPolicy(
				modelDecl("gbt_map", "../../examples/models/loan_gbt_zipmap.onnx", loanInputs, "output_probability", 1, ""),
				modelDecl("gbt_map0", "../../examples/models/loan_gbt_zipmap.onnx", loanInputs, "output_probability", 0, ""),
				modelDecl("good", "strings.onnx", "x, y", "probs", 1, ""),
				modelDecl("bad", "strings.onnx", "x, y", "probs", 0, ""),
			))
			r := load(t, prog, Options{})
			info := r.Info()
			wantTensor := map[bool][]string{true: {"probability_tensor", "probability_tensor", "p", "p"}, false: {"", "", "", ""}}[unzip]
			for i, in := range info {
				if in.Tensor != wantTensor[i] {
					t.Errorf("%s reads tensor %q, want %q", in.Name, in.Tensor, wantTensor[i])
				}
			}
			out := make([]float64, len(rows))
			for _, mi := range []int{0, 1} {
				if err := r.PredictBatch(mi, rows, out); err != nil {
					t.Fatal(err)
				}
				for i, row := range rows {
					want := ref.GBTProbability[i]
					if mi == 1 {
						want = 1 - want
					}
					v, err := r.Predict(mi, row)
					if err != nil || math.Abs(v-want) > 2e-5 || math.Abs(out[i]-want) > 2e-5 {
						t.Errorf("%s row %d: single %v (%v), batch %v, sklearn %v", info[mi].Name, i, v, err, out[i], want)
					}
				}
			}
			// String labels good, bad: in key order bad is [0], good is [1];
			// the values are abs(x, y) = (good, bad).
			for _, row := range [][]float32{{0.75, 0.25}, {-0.5, 0.125}} {
				g, err1 := r.Predict(2, row)
				b, err2 := r.Predict(3, row)
				if err1 != nil || err2 != nil || g != math.Abs(float64(row[0])) || b != math.Abs(float64(row[1])) {
					t.Errorf("strings %v: good %v (%v), bad %v (%v)", row, g, err1, b, err2)
				}
			}
		})
	}
}

func TestZipMapGraphEdit(t *testing.T) {
	data, err := os.ReadFile("../examples/models/loan_gbt_zipmap.onnx")
	if err != nil {
		t.Fatal(err)
	}
	z, ok := findZipMap(data, "output_probability")
	if !ok || z.input != "probability_tensor" || !slices.Equal(z.ints, []int64{0, 1}) || z.strings != nil {
		t.Fatalf("findZipMap: %+v %v", z, ok)
	}
	if _, ok := findZipMap(data, "output_label"); ok {
		t.Error("output_label is not a ZipMap output")
	}
	if _, ok := findZipMap([]byte("not a model"), "x"); ok {
		t.Error("garbage has a ZipMap")
	}
	edited, ok := withOutput(data, z.input)
	if !ok {
		t.Fatal("withOutput failed")
	}
	ins, outs, err := ortInfo(edited)
	if err != nil || len(ins) != 1 || len(outs) != 3 || outs[2] != "probability_tensor: tensor(float)[?,2]" {
		t.Errorf("edited model: %v %v %v", ins, outs, err)
	}
	sz := zipMap{strings: []string{"good", "bad", "awful"}}
	for index, col := range []int{2, 1, 0} { // key order: awful, bad, good
		if c, ok := sz.column(index); !ok || c != col {
			t.Errorf("string column %d: %d %v", index, c, ok)
		}
	}
	if _, ok := sz.column(3); ok {
		t.Error("string column 3 exists")
	}
}

func ortInfo(data []byte) (ins, outs []string, err error) {
	rawIns, rawOuts, err := ort.GetInputOutputInfoWithONNXData(data)
	for _, io := range rawIns {
		ins = append(ins, tensorInfo(io).String())
	}
	for _, io := range rawOuts {
		outs = append(outs, tensorInfo(io).String())
	}
	return ins, outs, err
}
