package playground

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
)

// sourceRequest is the body of check and format.
type sourceRequest struct {
	Source string `json:"source"`
	// Path is the served policy the text was loaded from ("" for none):
	// its list files are the ones the text may use.
	Path string `json:"path"`
}

// Place is a position in the editor: 1-based line, 0-based column in
// UTF-16 code units (what JavaScript strings count).
type Place struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

// Diagnostic is one checker message with the span it underlines.
type Diagnostic struct {
	From     Place  `json:"from"`
	To       Place  `json:"to"`
	Severity string `json:"severity"` // error or warning
	Message  string `json:"message"`
}

// compiled is a policy checked and, when it has no errors, compiled.
type compiled struct {
	diags []Diagnostic
	prog  *vm.Program
	err   string // a compile error that is not a diagnostic (a list file)
}

// compile checks and compiles src the way riskc does, reading list files
// only from the served policies. The page checks the text whenever typing
// pauses and then runs that same text, so results are kept for the last
// few texts (programs are immutable; every run takes its own machine).
func (h *Handler) compile(req sourceRequest) compiled {
	path, served := h.servedPath(req.Path)
	// The served program is in the key: a reload may have changed the
	// list files the text reads.
	key := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%p\x00%s", path, served, req.Source)))
	if c, ok := h.cache.get(key); ok {
		return c
	}
	c := h.compileNow(path, req)
	h.cache.put(key, c)
	return c
}

func (h *Handler) compileNow(path string, req sourceRequest) compiled {
	pol, diags := compiler.CheckSource(path, []byte(req.Source), compiler.Options{})
	out := compiled{diags: diagnostics(req.Source, diags)}
	if diags.HasErrors() {
		return out
	}
	prog, _, err := compiler.Compile(pol, compiler.CompileOptions{ReadFile: h.readList})
	if err != nil {
		out.err = err.Error()
		return out
	}
	out.prog = prog
	return out
}

// servedPath returns p and its program when riskd serves a policy from
// it, else a name in no directory (so no list file resolves).
func (h *Handler) servedPath(p string) (string, *vm.Program) {
	for _, sp := range h.opts.Policies() {
		if p != "" && sp.Path == p {
			return p, sp.prog
		}
	}
	return "playground.risk", nil
}

// readList returns a list file of a served policy, rebuilt from the
// entries riskd loaded; any other path is refused.
func (h *Handler) readList(path string) ([]byte, error) {
	for _, sp := range h.opts.Policies() {
		for rel, entries := range sp.Lists {
			if compiler.ResolvePath(sp.Path, rel) == path {
				return []byte(strings.Join(entries, "\n")), nil
			}
		}
	}
	return nil, fmt.Errorf("the playground reads only the list files of policies riskd serves (load such a policy to use its lists), not %s", path)
}

// diagnostics converts checker messages to editor spans: from the
// message's position to the end of the word there.
func diagnostics(src string, l lang.ErrorList) []Diagnostic {
	out := []Diagnostic{}
	starts := lineStarts(src)
	for _, e := range l {
		start := offsetOf(src, starts, e.Pos)
		end := start
		for end < len(src) && isWord(src[end]) {
			end++
		}
		if end == start && end < len(src) && src[end] != '\n' {
			_, n := utf8.DecodeRuneInString(src[end:])
			end += n
		}
		sev := "error"
		if e.Severity == lang.SevWarning {
			sev = "warning"
		}
		msg := e.Msg
		if e.Hint != "" {
			msg += " (" + e.Hint + ")"
		}
		out = append(out, Diagnostic{From: place(src, starts, start), To: place(src, starts, end), Severity: sev, Message: msg})
	}
	return out
}

func isWord(c byte) bool {
	return c == '_' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func lineStarts(src string) []int {
	starts := []int{0}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// offsetOf returns the byte offset of p: its Offset when that lies on its
// line, else its line and rune column.
func offsetOf(src string, starts []int, p lang.Pos) int {
	l := int(p.Line) - 1
	if l < 0 {
		return 0
	}
	if l >= len(starts) {
		return len(src)
	}
	end := len(src)
	if l+1 < len(starts) {
		end = starts[l+1] - 1
	}
	if off := int(p.Offset); off >= starts[l] && off <= end {
		return off
	}
	off := starts[l]
	for c := int(p.Col) - 1; c > 0 && off < end; c-- {
		_, n := utf8.DecodeRuneInString(src[off:end])
		off += n
	}
	return off
}

func place(src string, starts []int, off int) Place {
	l := sort.Search(len(starts), func(i int) bool { return starts[i] > off }) - 1
	col := 0
	for _, r := range src[starts[l]:off] {
		col += max(1, utf16.RuneLen(r))
	}
	return Place{Line: l + 1, Col: col}
}

// Input describes a request feature for the request panel.
type Input struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Optional bool   `json:"optional"`
	Default  any    `json:"default,omitempty"`
}

// Param is a tunable number and its value.
type Param struct {
	Name  string  `json:"name"`
	Kind  string  `json:"kind"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
	Line  int32   `json:"line"`
}

// checkResponse is the answer of check (and of format and run when the
// policy has errors).
type checkResponse struct {
	Diagnostics []Diagnostic   `json:"diagnostics"`
	Error       string         `json:"error,omitempty"`
	Events      []string       `json:"events,omitempty"`
	Inputs      []Input        `json:"inputs,omitempty"`
	Params      []Param        `json:"params,omitempty"`
	Sample      map[string]any `json:"sample,omitempty"` // a request prefilled from the inputs
}

func (h *Handler) check(w http.ResponseWriter, r *http.Request, body []byte) {
	var req sourceRequest
	if err := decodeBody(body, &req); err != nil {
		h.refuse(w, r, http.StatusBadRequest, "body", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, describe(h.compile(req)))
}

// describe reports a compiled policy: diagnostics, and for a program its
// events, inputs, parameters and a sample request.
func describe(c compiled) checkResponse {
	resp := checkResponse{Diagnostics: c.diags, Error: c.err}
	p := c.prog
	if p == nil {
		return resp
	}
	resp.Events = p.Events
	for _, in := range p.Inputs {
		ri := Input{Name: in.Name, Type: in.Type.String(), Optional: in.Optional}
		if in.Default != nil {
			ri.Default = value(in.Type, *in.Default)
		}
		resp.Inputs = append(resp.Inputs, ri)
	}
	resp.Params = params(p)
	resp.Sample = sample(p)
	return resp
}

func params(p *vm.Program) []Param {
	out := []Param{}
	for _, pr := range p.Params {
		out = append(out, Param{Name: pr.Name, Kind: pr.Kind.String(), Value: pr.Value, Unit: pr.Unit, Line: pr.Line})
	}
	return out
}

func value(t vm.Type, v vm.Value) any {
	switch t {
	case vm.TString:
		return v.Str
	case vm.TBool:
		return v.Num != 0
	case vm.TTime:
		return time.Unix(int64(v.Num), 0).UTC().Format(time.RFC3339)
	}
	return v.Num
}

// sample builds a request that decodes: every required input with a value
// inside its bounds, defaults as declared, optional inputs left out.
func sample(p *vm.Program) map[string]any {
	features := map[string]any{}
	now := time.Now().UTC().Truncate(time.Hour)
	for _, in := range p.Inputs {
		switch {
		case in.Default != nil:
			features[in.Name] = value(in.Type, *in.Default)
		case in.Optional:
		case in.Type == vm.TString:
			features[in.Name] = in.Name + "-1"
		case in.Type == vm.TBool:
			features[in.Name] = false
		case in.Type == vm.TTime:
			features[in.Name] = now.Format(time.RFC3339)
		default:
			features[in.Name] = inBounds(in)
		}
	}
	req := map[string]any{"request_id": "playground-1", "features": features}
	if len(p.Events) > 0 {
		req["event"] = p.Events[0]
	}
	return req
}

// inBounds returns a number inside an input's bounds, 0 when allowed.
func inBounds(in vm.Input) float64 {
	v := 0.0
	if v < in.Min || v == in.Min && in.MinOpen {
		v = in.Min
		if in.MinOpen {
			v++
		}
	}
	if v > in.Max || v == in.Max && in.MaxOpen {
		v = in.Max
		if in.MaxOpen {
			v--
		}
	}
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0
	}
	return v
}

func (h *Handler) format(w http.ResponseWriter, r *http.Request, body []byte) {
	var req sourceRequest
	if err := decodeBody(body, &req); err != nil {
		h.refuse(w, r, http.StatusBadRequest, "body", err.Error())
		return
	}
	f, err := lang.Parse("playground.risk", []byte(req.Source))
	if err != nil {
		l, _ := err.(lang.ErrorList)
		writeJSON(w, http.StatusUnprocessableEntity, checkResponse{Diagnostics: diagnostics(req.Source, l), Error: "the policy has syntax errors; fix them before formatting"})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Source string `json:"source"`
	}{string(lang.Format(f))})
}

// runRequest is the body of run.
type runRequest struct {
	sourceRequest
	Request json.RawMessage   `json:"request"`
	History []json.RawMessage `json:"history"`
}

// Fired is a rule that fired, with its source line.
type Fired struct {
	Name   string  `json:"name"`
	Reason string  `json:"reason"`
	Weight float64 `json:"weight"`
	Forced bool    `json:"forced"`
	Action string  `json:"action,omitempty"`
	Line   int32   `json:"line"`
}

// Step is one executed instruction of the trace.
type Step struct {
	PC      int     `json:"pc"`
	Op      string  `json:"op"`
	Operand string  `json:"operand,omitempty"`
	Line    int32   `json:"line"`
	Top     float64 `json:"top"`
	Depth   int     `json:"depth"`
}

// Named is a model or window value.
type Named struct {
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Degraded bool    `json:"degraded,omitempty"`
	Ran      bool    `json:"ran"`
}

// runResponse is a decision explained.
type runResponse struct {
	Action   string  `json:"action"`
	Score    float64 `json:"score"`
	Logit    float64 `json:"logit"`
	Degraded bool    `json:"degraded"`
	Fired    []Fired `json:"fired"`
	Models   []Named `json:"models"`
	Windows  []Named `json:"windows"`
	Params   []Param `json:"params"`
	Trace    []Step  `json:"trace"`
	Lines    []int32 `json:"lines"` // source lines executed, in order of first execution
	History  int     `json:"history_events"`
	Micros   int64   `json:"eval_micros"`
}

func (h *Handler) run(w http.ResponseWriter, r *http.Request, body []byte) {
	var req runRequest
	if err := decodeBody(body, &req); err != nil {
		h.refuse(w, r, http.StatusBadRequest, "body", err.Error())
		return
	}
	if len(req.History) > h.opts.MaxHistory {
		h.refuse(w, r, http.StatusBadRequest, "history", fmt.Sprintf("%d events; at most %d", len(req.History), h.opts.MaxHistory))
		return
	}
	c := h.compile(req.sourceRequest)
	if c.prog == nil {
		resp := describe(c)
		if resp.Error == "" {
			resp.Error = "the policy has errors; fix them before running it"
		}
		writeJSON(w, http.StatusUnprocessableEntity, resp)
		return
	}
	resp, field, err := evaluate(c.prog, req.History, req.Request)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, field, api.ErrorText(err))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// evaluate replays history through a fresh machine with its own windows,
// then evaluates the request with tracing on.
func evaluate(p *vm.Program, history []json.RawMessage, request json.RawMessage) (*runResponse, string, error) {
	m := p.NewMachine()
	if len(p.Windows) > 0 {
		m.Windows = windows.NewMemory(p, 0)
	}
	req := p.NewRequest()
	for i, ev := range history {
		req.Reset()
		if err := api.DecodeJSON(p, ev, req); err != nil {
			return nil, fieldOf("history["+strconv.Itoa(i)+"]", err), err
		}
		if _, err := m.Eval(req); err != nil {
			return nil, "history[" + strconv.Itoa(i) + "]", err
		}
	}
	if len(request) == 0 {
		return nil, "request", fmt.Errorf("missing: give a request like the ones /v1/decide takes")
	}
	req.Reset()
	if err := api.DecodeJSON(p, request, req); err != nil {
		return nil, fieldOf("request", err), err
	}
	m.Trace = true
	start := time.Now()
	d, err := m.Eval(req)
	if err != nil {
		return nil, "request", err
	}
	resp := &runResponse{Action: d.Action.String(), Score: d.Score, Logit: d.Logit, Degraded: d.Degraded,
		Fired: []Fired{}, Models: []Named{}, Windows: []Named{}, Params: params(p), History: len(history),
		Micros: time.Since(start).Microseconds()}
	for _, f := range d.Fired {
		rf := Fired{Name: f.Name, Reason: f.Reason, Weight: f.Weight, Forced: f.Forced, Line: p.Rules[f.Rule].Line}
		if f.Forced {
			rf.Action = f.Action.String()
		}
		resp.Fired = append(resp.Fired, rf)
	}
	for _, mo := range d.Models {
		resp.Models = append(resp.Models, Named{Name: mo.Name, Value: mo.Value, Degraded: mo.Degraded, Ran: mo.Ran})
	}
	for _, wd := range p.Windows {
		resp.Windows = append(resp.Windows, Named{Name: wd.Name, Value: m.NumSlot(wd.Slot), Ran: true})
	}
	seen := map[int32]bool{}
	for _, st := range d.Trace {
		resp.Trace = append(resp.Trace, Step{PC: st.PC, Op: st.Instr.Op.String(), Operand: p.Operand(st.Instr), Line: st.Line, Top: st.Top, Depth: st.Depth})
		if st.Line > 0 && !seen[st.Line] {
			seen[st.Line] = true
			resp.Lines = append(resp.Lines, st.Line)
		}
	}
	return resp, "", nil
}

// fieldOf prefixes a decoding error's field with where the request was.
func fieldOf(where string, err error) string {
	if fe, ok := err.(*vm.FieldError); ok && fe.Field != "" {
		return where + "." + api.FieldPath(fe)
	}
	return where
}

func (h *Handler) policies(w http.ResponseWriter, r *http.Request, _ []byte) {
	list := []Policy{}
	for _, p := range h.opts.Policies() {
		if p.Source != "" {
			list = append(list, p)
		}
	}
	writeJSON(w, http.StatusOK, list)
}

// policy answers the source of one served policy version: a copy to
// edit; nothing the page does with it reaches what riskd serves.
func (h *Handler) policy(w http.ResponseWriter, r *http.Request, _ []byte) {
	name, version := r.URL.Query().Get("name"), r.URL.Query().Get("version")
	for _, p := range h.opts.Policies() {
		if p.Name == name && (version == "" || p.Version == version) && p.Source != "" {
			writeJSON(w, http.StatusOK, struct {
				Policy
				Source string `json:"source"`
			}{p, p.Source})
			return
		}
	}
	h.refuse(w, r, http.StatusNotFound, "name", fmt.Sprintf("riskd serves no policy %q version %q with source", name, version))
}
