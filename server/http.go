package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/riskforge/riskforge/server/rollout"
	"github.com/riskforge/riskforge/vm"
)

// Request and response headers.
const (
	hdrRequestID = "X-Request-Id" // canonical form of X-Request-ID
	hdrPolicy    = "X-Policy"
	hdrPin       = "X-Policy-Version"
)

var (
	ctJSON = []string{"application/json"}
	ctxBG  = context.Background()
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/decide", s.handleDecide)
	mux.HandleFunc("/v1/decide/batch", s.handleBatch)
	mux.HandleFunc("/v1/policies", s.handlePolicies)
	mux.HandleFunc("/v1/admin/reload", s.handleReload)
	mux.HandleFunc("/healthz", s.handleHealthz)
	mux.HandleFunc("/readyz", s.handleReadyz)
	mux.HandleFunc(DecisionKeyPath, s.handleDecisionKey)
	mux.Handle("/metrics", promhttp.HandlerFor(
		prometheus.Gatherers{s.metrics.reg, prometheus.DefaultGatherer},
		promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError)},
	))
	for pattern, h := range s.mounts {
		mux.Handle(pattern, h)
	}
	mux.HandleFunc("/", s.handleNotFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header()["Connection"] = connClose
		}
		mux.ServeHTTP(w, r)
	})
}

var connClose = []string{"close"}

// httpError is a refused request: status, the field at fault, why.
type httpError struct {
	status int
	field  string
	msg    string
}

func badRequest(field, format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, field: field, msg: fmt.Sprintf(format, args...)}
}

// fieldError turns a vm decoding error into a 400 naming the field.
func fieldError(err error) *httpError {
	var fe *vm.FieldError
	if errors.As(err, &fe) {
		return &httpError{status: http.StatusBadRequest, field: fe.Field, msg: fe.Msg}
	}
	return &httpError{status: http.StatusBadRequest, field: "body", msg: err.Error()}
}

// work is the per-request scratch space, pooled.
type work struct {
	in, out []byte
}

func (s *Server) getWork() *work {
	wk, _ := s.bufs.Get().(*work)
	if wk == nil {
		wk = &work{in: make([]byte, 0, 2048), out: make([]byte, 0, 2048)}
	}
	return wk
}

func (s *Server) putWork(wk *work) {
	if cap(wk.in) > 1<<20 || cap(wk.out) > 1<<20 {
		return // let a batch-sized buffer go
	}
	wk.in, wk.out = wk.in[:0], wk.out[:0]
	s.bufs.Put(wk)
}

// enter admits a decision request unless max_inflight are running.
func (s *Server) enter() bool {
	if s.inflight.Add(1) > int64(s.lim.MaxInflight) {
		s.inflight.Add(-1)
		return false
	}
	return true
}

func (s *Server) leave() { s.inflight.Add(-1) }

// saturated answers 429 with Retry-After.
func (s *Server) saturated(w http.ResponseWriter, ep int, rid string) {
	s.metrics.rejected.Inc()
	if n, ok := s.rejects.hit(time.Now()); ok {
		s.log.Warn("saturated: refusing requests with 429", "refused_since_last_log", n, "max_inflight", s.lim.MaxInflight)
	}
	w.Header()["Retry-After"] = s.retryAfter
	s.writeError(w, nil, ep, &httpError{status: http.StatusTooManyRequests, msg: fmt.Sprintf("server is at its limit of %d concurrent requests; retry after %ss", s.lim.MaxInflight, s.retryAfter[0])}, rid, false)
}

// writeJSON sends a complete JSON response.
func writeJSON(w http.ResponseWriter, status int, rid string, body []byte) {
	h := w.Header()
	h["Content-Type"] = ctJSON
	if rid != "" {
		h[hdrRequestID] = []string{rid}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	w.Write(body)
}

// writeError sends {"request_id","error","field"} and logs the refusal.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, ep int, e *httpError, rid string, logIt bool) {
	if rid == "" {
		rid = newRequestID()
	}
	e.msg = clip(e.msg, maxErrorMsg)
	writeJSON(w, e.status, rid, appendError(nil, -1, rid, e.field, e.msg))
	s.metrics.countRequest(ep, e.status)
	if !logIt {
		return
	}
	level := slog.LevelWarn
	if e.status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("request_id", rid), slog.Int("status", e.status), slog.String("endpoint", endpointNames[ep])}
	if e.field != "" {
		attrs = append(attrs, slog.String("field", e.field))
	}
	attrs = append(attrs, slog.String("error", e.msg))
	if r != nil {
		attrs = append(attrs, slog.String("remote", r.RemoteAddr))
	}
	s.log.LogAttrs(ctxBG, level, "request refused", attrs...)
}

// recoverPanic turns a panic in a handler into a 500 and an error log.
func (s *Server) recoverPanic(w http.ResponseWriter, r *http.Request, ep int, rid *string) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	s.log.Error("panic while serving a request", "request_id", *rid, "endpoint", endpointNames[ep], "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	s.writeError(w, r, ep, &httpError{status: http.StatusInternalServerError, msg: "internal error; the server log has the details"}, *rid, false)
}

// requestID validates the X-Request-ID header (empty when absent).
func requestID(r *http.Request) (string, *httpError) {
	v := r.Header[hdrRequestID]
	if len(v) == 0 || v[0] == "" {
		return "", nil
	}
	if !validID(v[0]) {
		return "", badRequest("X-Request-ID", "must be 1 to 128 printable ASCII characters")
	}
	return v[0], nil
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// newRequestID returns a random UUID (version 4).
func newRequestID() string {
	hi, lo := rand.Uint64(), rand.Uint64()
	hi = hi&^(0xf<<12) | 4<<12
	lo = lo&^(3<<62) | 2<<62
	var b [36]byte
	const groups = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
	n := 0
	for i := range b {
		if groups[i] == '-' {
			b[i] = '-'
			continue
		}
		var nib uint64
		if n < 16 {
			nib = hi >> (60 - 4*n) & 0xf
		} else {
			nib = lo >> (60 - 4*(n-16)) & 0xf
		}
		b[i] = hexDigits[nib]
		n++
	}
	return string(b[:])
}

// readBody reads at most limit bytes of the body into buf.
func (s *Server) readBody(r *http.Request, buf []byte, limit int64) ([]byte, *httpError) {
	tooLarge := func() *httpError {
		return &httpError{status: http.StatusRequestEntityTooLarge, field: "body", msg: fmt.Sprintf("larger than the limit of %d bytes", limit)}
	}
	if r.ContentLength > limit {
		return buf, tooLarge()
	}
	// Preallocate for the declared length only up to 64 KiB: beyond, the
	// buffer grows as bytes arrive, so a client declaring a large body and
	// sending nothing costs nothing.
	if n := min(r.ContentLength+1, 64<<10); r.ContentLength > 0 && int64(cap(buf)) < n {
		buf = make([]byte, 0, n)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, tooLarge()
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			var ne net.Error
			if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
				return buf, &httpError{status: http.StatusRequestTimeout, field: "body", msg: fmt.Sprintf("not received within the request timeout (%s)", s.lim.RequestTimeout)}
			}
			return buf, badRequest("body", "could not be read: %v", err)
		}
	}
}

// checkBody refuses empty bodies and JSON nested deeper than maxDepth.
func checkBody(body []byte, maxDepth int) *httpError {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("body", `empty; send a JSON object such as {"event": "...", "features": {...}}`)
	}
	depth, inStr, esc := 0, false, false
	for _, c := range body {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			if depth++; depth > maxDepth {
				return badRequest("body", "JSON nests deeper than %d levels (limits.max_json_depth)", maxDepth)
			}
		case c == '}' || c == ']':
			// Never below zero: in JSON Lines a line of closing brackets
			// must not buy depth for the lines after it.
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}

// pickPolicy finds the policy a request names (?policy= or X-Policy),
// or the default one, or else the one policy that declares the events of
// the body (events is called only then).
func (s *Server) pickPolicy(sn *snapshot, r *http.Request, events func() []string) (*policySet, *httpError) {
	name := ""
	if r.URL.RawQuery != "" {
		name = r.URL.Query().Get("policy")
	}
	if name == "" {
		if v := r.Header[hdrPolicy]; len(v) > 0 {
			name = v[0]
		}
	}
	return sn.policyFor(name, events)
}

// route picks the version that decides a request and decodes the
// request for it. The bucket is the key's rollout bucket, -1 when the
// policy does not split traffic or the request has no key.
func (ps *policySet) route(body []byte, pin string) (*entry, *vm.Request, int, *httpError) {
	if pin != "" {
		e := ps.byVersion[pin]
		if e == nil {
			return nil, nil, -1, badRequest("X-Policy-Version", "version %q of policy %s is not loaded (loaded: %s)", echo(pin), ps.name, ps.versionList)
		}
		req := e.v.getReq()
		if err := e.v.dec.decode(body, req); err != nil {
			e.v.putReq(req)
			return nil, nil, -1, fieldError(err)
		}
		bucket := -1
		if ps.needBucket {
			bucket = ps.bucketRaw(body)
		}
		return e, req, bucket, nil
	}
	c := ps.champion
	req := c.v.getReq()
	err := c.v.dec.decode(body, req)
	if !ps.needBucket {
		if err != nil {
			c.v.putReq(req)
			return nil, nil, -1, fieldError(err)
		}
		return c, req, -1, nil
	}
	var bucket int
	if err == nil {
		bucket = ps.bucketOf(c, req)
	} else {
		bucket = ps.bucketRaw(body)
	}
	arm := -1
	if bucket >= 0 {
		arm = ps.split.Pick(bucket)
	}
	if arm < 0 {
		if err != nil {
			c.v.putReq(req)
			return nil, nil, bucket, fieldError(err)
		}
		return c, req, bucket, nil
	}
	c.v.putReq(req)
	e := ps.challengers[arm]
	req = e.v.getReq()
	if err := e.v.dec.decode(body, req); err != nil {
		e.v.putReq(req)
		return nil, nil, bucket, fieldError(err)
	}
	return e, req, bucket, nil
}

// bucketOf hashes the rollout key of a decoded request; -1 without key.
func (ps *policySet) bucketOf(e *entry, req *vm.Request) int {
	if e.keyIn < 0 || !req.Present[e.keyIn] {
		return -1
	}
	in := &e.v.Prog.Inputs[e.keyIn]
	if in.Type == vm.TString {
		if k := req.Str[in.Slot]; k != "" {
			return rollout.Bucket(ps.seed, k)
		}
		return -1
	}
	return rollout.Bucket(ps.seed, rollout.NumberKey(req.Num[in.Slot]))
}

// bucketRaw finds the key in a request the champion could not decode.
func (ps *policySet) bucketRaw(body []byte) int {
	var w struct {
		Features map[string]json.RawMessage `json:"features"`
	}
	if json.Unmarshal(body, &w) != nil {
		return -1
	}
	raw := w.Features[ps.key]
	var str string
	if json.Unmarshal(raw, &str) == nil && str != "" {
		return rollout.Bucket(ps.seed, str)
	}
	var num float64
	if json.Unmarshal(raw, &num) == nil {
		return rollout.Bucket(ps.seed, rollout.NumberKey(num))
	}
	return -1
}

// evaluate runs one request on e and appends its response object.
// It reports the action for shadow comparison.
// With ar (audit on) it also encodes the decision's record into ar.buf.
func (s *Server) evaluate(out []byte, index int, rid string, ps *policySet, e *entry, req *vm.Request, start time.Time, ar *auditRec, batchID string, body []byte, tr *trace) ([]byte, vm.Action, error) {
	v := e.v
	if err := s.checkEventTime(e, req); err != nil {
		return out, 0, err
	}
	m := v.machine()
	m.Models, m.Windows = v.runner, ar.windows(e.windows)
	endRules := noop
	if tr != nil {
		m.Models, m.Windows = tr.dt.Models(v.Prog, v.runner), tr.dt.Windows(v.Prog, m.Windows)
		endRules = tr.dt.Phase("rules")
	}
	d, err := m.Eval(req)
	endRules()
	if err != nil {
		v.release(m)
		return out, 0, err
	}
	lat := time.Since(start)
	out = appendDecision(out, index, rid, v, d, lat.Microseconds())
	if ar != nil {
		ep := epDecide
		if batchID != "" {
			ep = epBatch
		}
		s.recordDecision(ar, ep, index, batchID, rid, e, body, d, lat)
	}
	vmx := &e.m
	vmx.decisions[d.Action].Inc()
	for i := range d.Fired {
		if r := d.Fired[i].Rule; r >= 0 && r < len(vmx.rules) {
			vmx.rules[r].Inc()
		}
	}
	if d.Degraded {
		vmx.degraded.Inc()
		for i := range d.Models {
			if d.Models[i].Degraded {
				vmx.fallbacks[i].Inc()
			}
		}
	}
	tr.decided(e, d)
	if s.log.Enabled(ctxBG, slog.LevelDebug) {
		s.logDecision("decision", rid, tr.id(), e, d, lat)
	}
	action := d.Action
	v.release(m)
	return out, action, nil
}

func (s *Server) logDecision(msg, rid, traceID string, e *entry, d *vm.Decision, lat time.Duration) {
	rules := make([]string, len(d.Fired))
	for i, f := range d.Fired {
		rules[i] = f.Name
	}
	attrs := []slog.Attr{
		slog.String("request_id", rid), slog.String("policy", e.v.Policy), slog.String("version", e.v.Version),
		slog.String("role", e.role.String()), slog.String("decision", d.Action.String()), slog.Float64("score", d.Score),
		slog.Any("rules", rules), slog.Bool("degraded", d.Degraded), slog.Int64("latency_us", lat.Microseconds()),
	}
	if traceID != "" {
		attrs = append(attrs, slog.String("trace_id", traceID))
	}
	s.log.LogAttrs(ctxBG, slog.LevelDebug, msg, attrs...)
}

// observe records a decision's latency, with the request id as exemplar
// for slow decisions and one in 128 others; a traced decision always
// gets one and adds its trace id.
func (s *Server) observe(ps *policySet, rid, traceID string, d time.Duration) {
	sec := d.Seconds()
	if traceID != "" {
		ex := prometheus.Labels{"trace_id": traceID}
		if len(rid) <= 80 { // exemplar labels hold at most 128 runes in all
			ex["request_id"] = rid
		}
		ps.latency.ObserveWithExemplar(sec, ex)
		return
	}
	if len(rid) <= 100 && (d > 5*time.Millisecond || rand.Uint32()&127 == 0) {
		ps.latency.ObserveWithExemplar(sec, prometheus.Labels{"request_id": rid})
		return
	}
	ps.latency.Observe(sec)
}

// shadows evaluates the shadow versions on a request already answered by
// served and counts their decisions and disagreements.
func (s *Server) shadows(ps *policySet, served *entry, bucket int, body []byte, rid string, action vm.Action) {
	for _, sh := range ps.shadows {
		if sh.v == served.v || (sh.percent < 100 && (bucket < 0 || !rollout.Sampled(bucket, sh.percent))) {
			continue
		}
		v := sh.v
		req := v.getReq()
		if err := v.dec.decode(body, req); err != nil {
			v.putReq(req)
			sh.m.shadowErr.Inc()
			s.log.Debug("shadow version refused the request", "request_id", rid, "policy", ps.name, "version", v.Version, "err", err.Error())
			continue
		}
		if v.lookups != nil {
			v.lookups.fill(ctxBG, req)
		}
		m := v.machine()
		m.Models, m.Windows = v.runner, sh.windows
		start := time.Now()
		d, err := m.Eval(req)
		if err == nil {
			sh.m.shadow[d.Action].Inc()
			for i := range d.Fired {
				if r := d.Fired[i].Rule; r >= 0 && r < len(sh.m.rules) {
					sh.m.rules[r].Inc()
				}
			}
			if d.Action != action {
				sh.m.disagree.Inc()
			}
			if s.log.Enabled(ctxBG, slog.LevelDebug) {
				s.logDecision("shadow decision", rid, "", sh, d, time.Since(start))
			}
		}
		v.release(m)
		v.putReq(req)
	}
}

// precheck answers what a POST endpoint refuses before reading any body:
// a bad request ID, another method.
func (s *Server) precheck(w http.ResponseWriter, r *http.Request, ep int, rid string, herr *httpError, usage string) bool {
	if herr != nil {
		s.writeError(w, r, ep, herr, "", true)
		return false
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.writeError(w, r, ep, &httpError{status: http.StatusMethodNotAllowed, msg: usage}, rid, true)
		return false
	}
	return true
}

// admit takes a concurrency slot for a request whose body has been read
// in full: a slot is only ever held while evaluating, so clients that
// send their bodies slowly (bounded by request_timeout) cannot starve the
// others. When it returns true the caller must call s.leave.
func (s *Server) admit(w http.ResponseWriter, ep int, rid string) bool {
	if !s.enter() {
		s.saturated(w, ep, rid)
		return false
	}
	return true
}

// readChecked reads the body into the work buffer (kept for reuse) and
// checks its JSON nesting.
func (s *Server) readChecked(r *http.Request, wk *work, limit int64, depth int) ([]byte, *httpError) {
	body, herr := s.readBody(r, wk.in, limit)
	wk.in = body
	if herr == nil {
		herr = checkBody(body, depth)
	}
	return body, herr
}

func (s *Server) handleDecide(w http.ResponseWriter, r *http.Request) {
	const ep = epDecide
	start := time.Now()
	rid, herr := requestID(r)
	defer s.recoverPanic(w, r, ep, &rid)
	if !s.precheck(w, r, ep, rid, herr, "use POST with a JSON request body") {
		return
	}
	wk := s.getWork()
	defer s.putWork(wk)
	body, herr := s.readChecked(r, wk, int64(s.lim.MaxBodyBytes), s.lim.MaxJSONDepth)
	if herr == nil {
		herr, rid = s.checkRequestSignature(r, ep, rid, body)
	}
	if herr != nil {
		s.writeError(w, r, ep, herr, rid, true)
		return
	}
	if !s.admit(w, ep, rid) {
		return
	}
	defer s.leave()
	sn := s.acquire()
	defer sn.release()
	ps, herr := s.pickPolicy(sn, r, func() []string { return []string{eventOf(body)} })
	if herr != nil {
		s.writeError(w, r, ep, herr, rid, true)
		return
	}
	pin := ""
	if v := r.Header[hdrPin]; len(v) > 0 {
		pin = v[0]
	}
	tr := s.startTrace(r.Context(), "http", r.Header.Get)
	ar := s.auditRec()
	defer s.putAuditRec(ar)
	out, res, herr := s.decideBody(sn, &decideIn{ctx: r.Context(), ps: ps, pin: pin, rid: rid, body: body, start: start, tr: tr, ar: ar,
		authorizePin: func(ps *policySet, pin string) *httpError { return s.authorizePin(ps, pin, r) }}, wk.out)
	wk.out = out
	if herr != nil {
		tr.refused(herr)
		tr.end(res.rid)
		s.writeError(w, r, ep, herr, res.rid, true)
		return
	}
	if ar != nil {
		s.submit(ar, res.rid)
		if herr := s.waitAll(ar); herr != nil {
			tr.refused(herr)
			tr.end(res.rid)
			s.writeError(w, r, ep, herr, res.rid, false)
			return
		}
	}
	w.Header()[hdrPin] = res.e.v.hdrVersion
	s.signResponse(w, body, out)
	writeJSON(w, http.StatusOK, res.rid, out)
	tr.end(res.rid)
	s.metrics.countRequest(ep, http.StatusOK)
	if len(res.ps.shadows) > 0 {
		// The client has its answer; shadows run on our time.
		http.NewResponseController(w).Flush()
		s.shadows(res.ps, res.e, res.bucket, body, res.rid, res.action)
	}
}

func evalError(err error) *httpError {
	if errors.Is(err, vm.ErrUnknownEvent) {
		return badRequest("event", "%v", err)
	}
	var fe *vm.FieldError
	if errors.As(err, &fe) {
		return fieldError(err)
	}
	return &httpError{status: http.StatusInternalServerError, msg: "evaluation failed: " + err.Error()}
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	const ep = epBatch
	start := time.Now()
	rid, herr := requestID(r)
	defer s.recoverPanic(w, r, ep, &rid)
	if !s.precheck(w, r, ep, rid, herr, "use POST with a JSON array or JSON Lines body") {
		return
	}
	if rid == "" {
		rid = newRequestID()
	}
	wk := s.getWork()
	defer s.putWork(wk)
	body, herr := s.readChecked(r, wk, int64(s.lim.MaxBatchBodyBytes), s.lim.MaxJSONDepth+1)
	var items [][]byte
	if herr == nil {
		herr, rid = s.checkRequestSignature(r, ep, rid, body)
	}
	if herr == nil {
		items, herr = splitBatch(body, r.Header.Get("Content-Type"), s.lim.MaxBatchItems)
	}
	if herr != nil {
		s.writeError(w, r, ep, herr, rid, true)
		return
	}
	if !s.admit(w, ep, rid) {
		return
	}
	defer s.leave()
	sn := s.acquire()
	defer sn.release()
	ps, herr := s.pickPolicy(sn, r, func() []string {
		events := make([]string, len(items))
		for i, item := range items {
			events[i] = eventOf(item)
		}
		return events
	})
	if herr != nil {
		s.writeError(w, r, ep, herr, rid, true)
		return
	}
	pin := r.Header.Get(hdrPin)
	if herr := s.authorizePin(ps, pin, r); herr != nil {
		s.writeError(w, r, ep, herr, rid, true)
		return
	}
	deadline := start.Add(s.lim.RequestTimeout.D())
	out := wk.out
	out = append(out, `{"request_id":`...)
	out = appendString(out, rid)
	out = append(out, `,"count":`...)
	out = strconv.AppendInt(out, int64(len(items)), 10)
	out = append(out, `,"results":[`...)
	failed, incomplete := 0, false
	ar := s.auditRec()
	defer s.putAuditRec(ar)
	for i, item := range items {
		if i > 0 {
			out = append(out, ',')
		}
		itemStart := time.Now()
		irid := rid + "-" + strconv.Itoa(i)
		if itemStart.After(deadline) {
			out = appendError(out, i, irid, "", fmt.Sprintf("not evaluated: the request deadline (%s) passed", s.lim.RequestTimeout))
			failed, incomplete = failed+1, true
			continue
		}
		// Each item is a decision of its own: its own span, a child of
		// the batch request's traceparent, as if it had come alone.
		tr := s.startTrace(r.Context(), "batch", r.Header.Get)
		// Each item is checked on its own: the whole-body check above
		// cannot see where one JSON Lines item ends and the next begins.
		endDecode := tr.phase("decode")
		herr := checkBody(item, s.lim.MaxJSONDepth)
		var e *entry
		var req *vm.Request
		bucket := -1
		if herr == nil {
			e, req, bucket, herr = ps.route(item, pin)
		}
		endDecode()
		if herr == nil && req.ID != "" && !validID(req.ID) {
			e.v.putReq(req)
			herr = badRequest("request_id", "must be 1 to 128 printable ASCII characters")
		}
		if herr != nil {
			out = appendError(out, i, irid, herr.field, herr.msg)
			failed++
			tr.refused(herr)
			tr.end(irid)
			continue
		}
		if req.ID != "" {
			irid = req.ID
		}
		if e.v.lookups != nil {
			endLookups := tr.phase("lookups")
			e.v.lookups.fill(r.Context(), req)
			endLookups()
		}
		var action vm.Action
		var err error
		out, action, err = s.evaluate(out, i, irid, ps, e, req, itemStart, ar, rid, item, tr)
		e.v.putReq(req)
		if err != nil {
			he := evalError(err)
			out = appendError(out, i, irid, he.field, he.msg)
			failed++
			tr.refused(he)
			tr.end(irid)
			continue
		}
		if ar != nil {
			s.submit(ar, irid)
		}
		s.observe(ps, irid, tr.id(), time.Since(itemStart))
		tr.end(irid)
		if len(ps.shadows) > 0 {
			s.shadows(ps, e, bucket, item, irid, action)
		}
	}
	out = append(out, `],"errors":`...)
	out = strconv.AppendInt(out, int64(failed), 10)
	out = append(out, `,"incomplete":`...)
	out = strconv.AppendBool(out, incomplete)
	out = append(out, '}')
	wk.out = out
	if herr := s.waitAll(ar); herr != nil {
		s.writeError(w, r, ep, herr, rid, false)
		return
	}
	s.signResponse(w, body, out)
	writeJSON(w, http.StatusOK, rid, out)
	s.metrics.countRequest(ep, http.StatusOK)
	if failed > 0 {
		s.log.Warn("batch events refused", "request_id", rid, "count", len(items), "errors", failed, "incomplete", incomplete)
	}
}

// splitBatch cuts a batch body into its requests: a JSON array, or JSON
// Lines (one request per line; chosen by Content-Type or a body that
// starts with '{').
func splitBatch(body []byte, ctype string, max int) ([][]byte, *httpError) {
	trimmed := bytes.TrimSpace(body)
	tooMany := &httpError{status: http.StatusRequestEntityTooLarge, field: "body", msg: fmt.Sprintf("the batch holds more than %d events (limits.max_batch_items)", max)}
	jsonl := strings.Contains(ctype, "ndjson") || strings.Contains(ctype, "jsonl") || trimmed[0] == '{'
	var items [][]byte
	if jsonl {
		for len(trimmed) > 0 {
			line := trimmed
			if i := bytes.IndexByte(trimmed, '\n'); i >= 0 {
				line, trimmed = trimmed[:i], trimmed[i+1:]
			} else {
				trimmed = nil
			}
			if line = bytes.TrimSpace(line); len(line) == 0 {
				continue
			}
			if len(items) == max {
				return nil, tooMany
			}
			items = append(items, line)
		}
		return items, nil
	}
	if trimmed[0] != '[' {
		return nil, badRequest("body", "a batch is a JSON array of requests, or JSON Lines with one request per line")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("body", "invalid JSON: %v", err)
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, badRequest("body", "event %d: invalid JSON: %v", len(items), err)
		}
		if len(items) == max {
			return nil, tooMany
		}
		items = append(items, raw)
	}
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("body", "invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("body", "unexpected data after the JSON array")
	}
	if len(items) == 0 {
		return nil, badRequest("body", "the batch is empty")
	}
	return items, nil
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, "", []byte(`{"status":"alive"}`))
	s.metrics.countRequest(epHealthz, http.StatusOK)
}

// readyReport is the /readyz body.
type readyReport struct {
	Ready      bool          `json:"ready"`
	Generation uint64        `json:"generation"`
	Checks     []check       `json:"checks"`
	LastReload *ReloadStatus `json:"last_reload,omitempty"`
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ok, checks := s.readiness()
	rep := readyReport{Ready: ok, Checks: checks, LastReload: s.lastReload.Load()}
	if sn := s.snap.Load(); sn != nil {
		rep.Generation = sn.gen
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	body, _ := json.MarshalIndent(rep, "", "  ")
	writeJSON(w, status, "", append(body, '\n'))
	s.metrics.countRequest(epReadyz, status)
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, epOther, &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("no endpoint %s %s; endpoints: POST /v1/decide, POST /v1/decide/batch, GET /v1/policies, POST /v1/admin/reload, GET /healthz, GET /readyz, GET /metrics", echo(r.Method), echo(r.URL.Path))}, "", false)
}

func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	const ep = epReload
	rid, _ := requestID(r)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.writeError(w, r, ep, &httpError{status: http.StatusMethodNotAllowed, msg: "use POST"}, rid, true)
		return
	}
	if s.adminToken == "" {
		s.writeError(w, r, ep, &httpError{status: http.StatusForbidden, msg: "the admin API is disabled: give riskd an admin token with --admin-token, $RISKD_ADMIN_TOKEN, or server.admin_token / server.admin_token_file in the config"}, rid, true)
		return
	}
	if !s.isAdmin(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="riskd"`)
		s.writeError(w, r, ep, &httpError{status: http.StatusUnauthorized, field: "Authorization", msg: "a valid bearer token is required (Authorization: Bearer TOKEN)"}, rid, true)
		return
	}
	st, err := s.reload("admin", buildOptions{allowShrink: r.URL.Query().Get("allow_shrink") == "true"})
	resp := struct {
		ReloadStatus
		Policies []policyReport `json:"policies,omitempty"`
	}{ReloadStatus: st}
	status := http.StatusOK
	if err != nil {
		status = http.StatusUnprocessableEntity
	} else {
		resp.Policies = s.policyReports(s.snap.Load())
	}
	body, _ := json.MarshalIndent(resp, "", "  ")
	if rid == "" {
		rid = newRequestID()
	}
	writeJSON(w, status, rid, append(body, '\n'))
	s.metrics.countRequest(ep, status)
}
