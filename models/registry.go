package models

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

// Errors of a model call. The Machine treats every error (and a NaN) the
// same way: it uses the model's on_error value and marks the decision
// degraded; the metrics tell them apart.
var (
	ErrTimeout = errors.New("model call timed out")
	ErrNaN     = errors.New("model returned NaN")
	ErrClosed  = errors.New("model registry is closed")
)

// DefaultTimeout applies to a model whose program carries no timeout.
const DefaultTimeout = 50 * time.Millisecond

// MaxBatch is the largest number of rows PredictBatch gives one Run.
const MaxBatch = 512

// ModelError is a problem with one declared model: the file, or a
// mismatch between the declaration and the graph.
type ModelError struct {
	Model int    // index in Program.Models (and compiler.Policy.Models)
	Name  string // the model's name in the policy
	Path  string // the path as written in the policy
	// Field is the part of the declaration at fault: "path" (the file),
	// "inputs" or "output".
	Field string
	Err   error
}

func (e *ModelError) Error() string { return fmt.Sprintf("model %q (%s): %v", e.Name, e.Path, e.Err) }

func (e *ModelError) Unwrap() error { return e.Err }

// ModelInfo describes a loaded model, for riskd's /v1/policies.
type ModelInfo struct {
	Name    string       `json:"name"`
	Path    string       `json:"path"` // as written in the policy
	File    string       `json:"file"` // resolved against the policy file
	SHA256  string       `json:"sha256"`
	Inputs  []TensorInfo `json:"inputs"`
	Outputs []TensorInfo `json:"outputs"`
	Output  string       `json:"output"` // the declared output and index
	Index   int          `json:"index"`
	// Tensor is the graph tensor actually read when it is not Output: the
	// probability tensor feeding a ZipMap output.
	Tensor     string  `json:"tensor,omitempty"`
	Features   int     `json:"features"`
	TimeoutSec float64 `json:"timeout_sec"`
	OnError    float64 `json:"on_error"`
	Sessions   int     `json:"sessions"`
	// Coalesce is the most rows one Run takes from concurrent calls
	// (Options.Coalesce); absent when calls run alone.
	Coalesce int `json:"coalesce,omitempty"`
	// Engine is what evaluates the model: EngineNative (a tree ensemble
	// evaluated in Go, bit for bit as onnxruntime would; see trees.go) or
	// EngineONNXRuntime.
	Engine string `json:"engine"`
	// EngineReason says why a model runs on onnxruntime when the native
	// form was allowed but not taken.
	EngineReason string `json:"engine_reason,omitempty"`
}

// Registry holds the onnxruntime sessions of one program's models. It
// implements vm.ModelRunner for that program (model indexes are indexes in
// its Models) and is safe for concurrent use.
type Registry struct {
	mu         sync.RWMutex // read-held by calls, write-held by Close
	closed     bool
	shut       atomic.Bool // closed, read without the lock by native calls
	noTimeouts bool
	models     []*model
}

// model is one loaded model.
type model struct {
	info     ModelInfo
	features int
	timeout  time.Duration
	facts    shapeFacts
	sel      selector
	// dyn serves PredictBatch, and single rows when the output is a
	// sequence of maps (onnxruntime allocates those, so they cannot be
	// preallocated). onnxruntime allows concurrent Runs of one session.
	dyn      *ort.DynamicAdvancedSession
	outShape ort.Shape // of the output for one row, when a tensor
	slots    []*slot
	free     chan *slot
	co       *coalescer // Options.Coalesce: single-row calls go through it
	// native, when set, evaluates every call instead of onnxruntime
	// (Options.ONNXRuntimeOnly unset and the graph a supported tree
	// ensemble that matched onnxruntime on the load's probe rows).
	native *treeEnsemble
	met    metrics
}

// Load loads every model prog declares, resolving their paths against
// policyPath, and checks each declaration against its graph. The error
// joins one *ModelError per bad model (or is the library error).
func Load(prog *vm.Program, policyPath string, opts Options) (*Registry, error) {
	if err := Init(opts); err != nil {
		return nil, err
	}
	r := &Registry{noTimeouts: opts.NoTimeouts}
	var errs []error
	for i := range prog.Models {
		m, err := open(prog, i, policyPath, opts, true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.models = append(r.models, m)
	}
	if len(errs) > 0 {
		r.Close()
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// Check loads each model of prog once, checks its declaration against
// the graph (and that it runs on a row of zeros), and releases it: the
// model part of `riskc check`. Each error is a *ModelError, or the
// library error (errors.Is(err, ErrLibraryNotFound) when it is missing).
func Check(prog *vm.Program, policyPath string, opts Options) []error {
	if len(prog.Models) == 0 {
		return nil
	}
	if err := Init(opts); err != nil {
		return []error{err}
	}
	var errs []error
	for i := range prog.Models {
		m, err := open(prog, i, policyPath, opts, false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.close()
	}
	return errs
}

func sessionOptions(opts Options) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	spin := "0"
	if opts.Spinning {
		spin = "1"
	}
	err = errors.Join(
		so.SetIntraOpNumThreads(max(opts.IntraOpThreads, 1)),
		so.SetInterOpNumThreads(max(opts.InterOpThreads, 1)),
		so.AddSessionConfigEntry("session.intra_op.allow_spinning", spin),
		so.AddSessionConfigEntry("session.inter_op.allow_spinning", spin),
	)
	if err != nil {
		so.Destroy()
		return nil, err
	}
	return so, nil
}

// open loads model i of prog; with slots it also creates the sessions for
// single-row calls.
func open(prog *vm.Program, i int, policyPath string, opts Options, slots bool) (_ *model, err error) {
	decl := &prog.Models[i]
	fail := func(err error) error {
		me := &ModelError{Model: i, Name: decl.Name, Path: decl.Path, Err: err}
		var fe *fieldError
		if errors.As(err, &fe) {
			me.Field = fe.field
		}
		return me
	}
	file := compiler.ResolvePath(policyPath, decl.Path)
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fail(ferr(fieldPath, "cannot read the model file: %w", err))
	}
	sum := sha256.Sum256(data)
	if decl.Digest != ([32]byte{}) && decl.Digest != sum {
		return nil, fail(ferr(fieldPath, "%s changed since the policy was compiled (SHA-256 %s, compiled with %s)",
			file, hex.EncodeToString(sum[:8]), hex.EncodeToString(decl.Digest[:8])))
	}
	rawIns, rawOuts, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fail(ferr(fieldPath, "%s is not a model onnxruntime can load: %v", file, err))
	}
	m := &model{features: len(decl.InputSlots), timeout: DefaultTimeout}
	if decl.TimeoutSec > 0 {
		m.timeout = time.Duration(decl.TimeoutSec * float64(time.Second))
	}
	m.info = ModelInfo{Name: decl.Name, Path: decl.Path, File: file, SHA256: hex.EncodeToString(sum[:]),
		Output: decl.Output, Index: int(decl.Index), Features: m.features, TimeoutSec: m.timeout.Seconds(), OnError: decl.OnError}
	for _, io := range rawIns {
		m.info.Inputs = append(m.info.Inputs, tensorInfo(io))
	}
	for _, io := range rawOuts {
		m.info.Outputs = append(m.info.Outputs, tensorInfo(io))
	}
	if m.facts, err = checkGraph(m.info.Inputs, m.info.Outputs, rawIns, rawOuts, m.features, decl.Output, int(decl.Index)); err != nil {
		return nil, fail(err)
	}
	so, err := sessionOptions(opts)
	if err != nil {
		return nil, fail(err)
	}
	defer so.Destroy()
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	in, out := []string{m.facts.inName}, []string{m.facts.outName}
	if m.dyn, err = ort.NewDynamicAdvancedSessionWithONNXData(data, in, out, so); err != nil {
		return nil, fail(fmt.Errorf("creating a session: %w", err))
	}
	// Probe with one row of zeros, and two when the batch dimension is
	// dynamic, so that the batch path is known to give one value per row.
	probeRows := []int{1}
	if !m.facts.fixedBatch {
		probeRows = append(probeRows, 2)
	}
	for _, rows := range probeRows {
		v, err := m.runDyn(make([]float32, rows*m.features), rows, nil)
		if err != nil {
			return nil, fail(fmt.Errorf("the model fails on a row of zeros: %w", err))
		}
		sel, err := probe(v, m.facts, rows, int(decl.Index))
		if rows == 1 && v.GetONNXType() == ort.ONNXTypeTensor {
			m.outShape = v.GetShape()
		}
		v.Destroy()
		if err != nil {
			return nil, fail(err)
		}
		m.sel = sel
	}
	if (m.sel.kind == outIntMap || m.sel.kind == outStringMap) && unzipMaps {
		if fast, ok := m.unzip(data, int(decl.Index), so); ok {
			data = fast
		}
	}
	m.met = newMetrics(decl.Name)
	if !slots {
		return m, nil // Check: the graph is checked; nothing will run
	}
	if opts.ONNXRuntimeOnly {
		m.info.Engine, m.info.EngineReason = EngineONNXRuntime, "onnxruntime only (configured)"
	} else {
		m.useNative(data, int(decl.Index))
	}
	if m.native != nil {
		return m, nil
	}
	sessions := opts.Sessions
	if sessions <= 0 {
		sessions = runtime.GOMAXPROCS(0)
	}
	if opts.Coalesce > 1 && (m.sel.kind == outFloat || m.sel.kind == outDouble) && !m.facts.fixedBatch &&
		len(m.outShape) > 0 && m.outShape[0] == 1 {
		// Single-row calls go through the coalescer: Sessions sets of
		// one session per batch size.
		if m.co, err = newCoalescer(m, data, so, sessions, opts.Coalesce); err != nil {
			return nil, fail(fmt.Errorf("creating the sessions for coalesced calls: %w", err))
		}
		m.info.Sessions, m.info.Coalesce = sessions*opts.Coalesce, opts.Coalesce
		return m, nil
	}
	n := sessions
	m.free = make(chan *slot, n)
	for range n {
		s, err := newSlot(m, data, so)
		if err != nil {
			return nil, fail(fmt.Errorf("creating a session: %w", err))
		}
		m.slots = append(m.slots, s)
		m.free <- s
	}
	m.info.Sessions = n
	return m, nil
}

// runDyn runs the shared session on rows rows of features (row-major) and
// returns the output onnxruntime allocated; the caller destroys it.
func (m *model) runDyn(features []float32, rows int, ro *ort.RunOptions) (ort.Value, error) {
	return runSession(m.dyn, features, rows, m.features, ro)
}

func runSession(sess *ort.DynamicAdvancedSession, features []float32, rows, width int, ro *ort.RunOptions) (ort.Value, error) {
	in, err := ort.NewTensor(ort.NewShape(int64(rows), int64(width)), features)
	if err != nil {
		return nil, err
	}
	defer in.Destroy()
	outs := []ort.Value{nil}
	if err := sess.RunWithOptions([]ort.Value{in}, outs, ro); err != nil {
		return nil, err
	}
	return outs[0], nil
}

// unzipMaps turns on reading ZipMap outputs from the ZipMap's input
// tensor (see zipmap.go); tests turn it off to exercise the map path.
var unzipMaps = true

// unzip switches a model whose declared output comes out of a ZipMap to
// the ZipMap's input tensor, when both give the same values on test rows.
// It returns the model bytes the sessions must be created from.
func (m *model) unzip(data []byte, index int, so *ort.SessionOptions) ([]byte, bool) {
	z, ok := findZipMap(data, m.facts.outName)
	if !ok || z.input == m.facts.inName {
		// A graph input fetched as an output is not copied into a
		// preallocated tensor: keep the map path.
		return nil, false
	}
	col, ok := z.column(index)
	if !ok {
		return nil, false
	}
	fast, ok := withOutput(data, z.input)
	if !ok {
		return nil, false
	}
	dyn, err := ort.NewDynamicAdvancedSessionWithONNXData(fast, []string{m.facts.inName}, []string{z.input}, so)
	if err != nil {
		return nil, false
	}
	sel := selector{kind: outFloat, width: max(len(z.ints), len(z.strings)), col: col}
	same := true
	var shape ort.Shape
	for _, fill := range []float32{0, 1, 1000} {
		rows := 2
		if m.facts.fixedBatch {
			rows = 1
		}
		feats := make([]float32, rows*m.features)
		for i := range feats {
			feats[i] = fill * float32(1+i%3)
		}
		var got [2][]float64
		for k, path := range []struct {
			sess *ort.DynamicAdvancedSession
			sel  *selector
		}{{m.dyn, &m.sel}, {dyn, &sel}} {
			got[k] = make([]float64, rows)
			v, err := runSession(path.sess, feats, rows, m.features, nil)
			if err != nil {
				same = false
				continue
			}
			if k == 1 && v.GetONNXType() == ort.ONNXTypeTensor {
				shape = v.GetShape()
			}
			if err := path.sel.read(v, got[k]); err != nil {
				same = false
			}
			v.Destroy()
		}
		same = same && slices.Equal(got[0], got[1])
	}
	if !same || len(shape) != 2 {
		dyn.Destroy()
		return nil, false
	}
	shape[0] = 1
	m.dyn.Destroy()
	m.dyn, m.sel, m.outShape, m.facts.outName, m.facts.kind = dyn, sel, shape, z.input, outFloat
	m.info.Tensor = z.input
	return fast, true
}

func (m *model) close() {
	for _, s := range m.slots {
		s.destroy()
	}
	m.slots = nil
	if m.co != nil {
		m.co.destroy()
		m.co = nil
	}
	if m.dyn != nil {
		m.dyn.Destroy()
		m.dyn = nil
	}
}

// Close waits for running calls to finish and releases every session;
// later calls fail with ErrClosed.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.shut.Store(true)
	for _, m := range r.models {
		m.close()
	}
	return nil
}

// Info describes the loaded models, in declaration order.
func (r *Registry) Info() []ModelInfo {
	out := make([]ModelInfo, len(r.models))
	for i, m := range r.models {
		out[i] = m.info
		out[i].Inputs = append([]TensorInfo(nil), m.info.Inputs...)
		out[i].Outputs = append([]TensorInfo(nil), m.info.Outputs...)
	}
	return out
}

// Predict runs model i on one row of features (in declared order) within
// the model's timeout. It implements vm.ModelRunner. A failed run, a
// timeout and a NaN output are errors: the Machine then uses on_error and
// marks the decision degraded. Every call is counted in
// riskforge_model_calls_total and timed in riskforge_model_latency_seconds.
func (r *Registry) Predict(i int, features []float32) (float64, error) {
	if i < 0 || i >= len(r.models) {
		return math.NaN(), fmt.Errorf("no model %d (the registry has %d)", i, len(r.models))
	}
	m := r.models[i]
	start := time.Now()
	v, err := r.predict(m, features, start)
	m.met.latency.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		m.met.ok.Inc()
	case err == ErrTimeout:
		m.met.timedOut.Inc()
	default:
		m.met.failed.Inc()
	}
	return v, err
}

func (r *Registry) predict(m *model, features []float32, start time.Time) (float64, error) {
	if m.native != nil {
		return r.predictNative(m, features)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return math.NaN(), ErrClosed
	}
	if len(features) != m.features {
		return math.NaN(), fmt.Errorf("model %q takes %d features, got %d", m.info.Name, m.features, len(features))
	}
	var deadline time.Time // zero: no timeout
	if !r.noTimeouts {
		deadline = start.Add(m.timeout)
	}
	if m.co != nil {
		v, err := m.co.predict(features, deadline)
		if err == nil && math.IsNaN(v) {
			err = ErrNaN
		}
		return v, err
	}
	var s *slot
	select {
	case s = <-m.free:
	default:
		if deadline.IsZero() {
			s = <-m.free
			break
		}
		// Every session is busy: wait for one, within the timeout.
		t := time.NewTimer(m.timeout)
		select {
		case s = <-m.free:
			t.Stop()
		case <-t.C:
			return math.NaN(), ErrTimeout
		}
	}
	v, err := s.run(features, deadline)
	m.free <- s
	if err == nil && math.IsNaN(v) {
		err = ErrNaN
	}
	return v, err
}

// predictNative evaluates m's native form. It takes no lock (two cores
// taking the read lock on every call contend for its cache line): the form
// is immutable and Close frees nothing it uses. No timeout: a walk of the
// trees is bounded by their size and takes well under a microsecond for
// typical models.
func (r *Registry) predictNative(m *model, features []float32) (float64, error) {
	if r.shut.Load() {
		return math.NaN(), ErrClosed
	}
	if len(features) != m.features {
		return math.NaN(), fmt.Errorf("model %q takes %d features, got %d", m.info.Name, m.features, len(features))
	}
	if v := float64(m.native.predict(features)); !math.IsNaN(v) {
		return v, nil
	}
	return math.NaN(), ErrNaN
}

// PredictBatch runs model i on many rows (each in declared order) and
// writes one value per row to out (len(out) must be len(rows)), up to
// MaxBatch rows per Run (Runs in parallel on up to GOMAXPROCS cores when
// there are several), without a timeout: the batch path for
// backtests and training. When a batch fails, its rows are retried one
// by one; a row that still fails gets NaN in out (use on_error for it, as
// the Machine would) and the error says how many rows failed. Batch calls
// are not counted in the call metrics.
func (r *Registry) PredictBatch(i int, rows [][]float32, out []float64) error {
	if i < 0 || i >= len(r.models) {
		return fmt.Errorf("no model %d (the registry has %d)", i, len(r.models))
	}
	if len(out) != len(rows) {
		return fmt.Errorf("PredictBatch: %d rows but %d outputs", len(rows), len(out))
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return ErrClosed
	}
	m := r.models[i]
	for j, row := range rows {
		if len(row) != m.features {
			return fmt.Errorf("model %q takes %d features, row %d has %d", m.info.Name, m.features, j, len(row))
		}
	}
	chunk := m.batchRows()
	chunks := (len(rows) + chunk - 1) / chunk
	workers := min(runtime.GOMAXPROCS(0), chunks)
	var (
		next   atomic.Int64
		mu     sync.Mutex
		failed int
		first  error
		wg     sync.WaitGroup
	)
	fail := func(j int, err error) {
		out[j] = math.NaN()
		mu.Lock()
		failed++
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	work := func() {
		defer wg.Done()
		buf := make([]float32, min(chunk, len(rows))*m.features)
		for {
			c := int(next.Add(1)) - 1
			if c >= chunks {
				return
			}
			lo := c * chunk
			hi := min(lo+chunk, len(rows))
			err := m.batch(rows[lo:hi], out[lo:hi], buf)
			if err == nil {
				continue
			}
			if hi-lo == 1 {
				fail(lo, err)
				continue
			}
			for j := lo; j < hi; j++ { // find the failing rows
				if err := m.batch(rows[j:j+1], out[j:j+1], buf); err != nil {
					fail(j, err)
				}
			}
		}
	}
	// The shared session allows concurrent Runs: spread the chunks over
	// the cores.
	wg.Add(workers)
	for range workers - 1 {
		go work()
	}
	work()
	wg.Wait()
	if failed > 0 {
		return fmt.Errorf("model %q failed on %d of %d rows (their values are NaN); first error: %w", m.info.Name, failed, len(rows), first)
	}
	return nil
}

// batchRows is the most rows one Run of the shared session takes.
func (m *model) batchRows() int {
	if m.facts.fixedBatch {
		return 1
	}
	return MaxBatch
}

// batch runs one Run over rows (or the native form over each).
func (m *model) batch(rows [][]float32, out []float64, buf []float32) error {
	if m.native != nil {
		for j, row := range rows {
			out[j] = float64(m.native.predict(row))
		}
		return nil
	}
	return m.runBatch(rows, out, buf)
}

// runBatch runs one onnxruntime Run over rows.
func (m *model) runBatch(rows [][]float32, out []float64, buf []float32) error {
	buf = buf[:len(rows)*m.features]
	for j, row := range rows {
		copy(buf[j*m.features:], row)
	}
	v, err := m.runDyn(buf, len(rows), nil)
	if err != nil {
		return err
	}
	defer v.Destroy()
	return m.sel.read(v, out)
}

var _ vm.ModelRunner = (*Registry)(nil)
