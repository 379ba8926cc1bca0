package server

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskforge/riskforge/audit/schema"
	"github.com/riskforge/riskforge/internal/gm"
	"github.com/riskforge/riskforge/vm"
)

// The audit hooks: the server encodes each decision as a compact record
// (audit record format 2: what varies per decision, referring to its
// policy version's dictionary for the rest) and hands it to a
// DecisionRecorder before answering; it signs responses and checks
// request signatures. The record schema is in docs/AUDIT.md.

// DecisionRecorder makes decision records durable. AppendRef returns a
// function that blocks until the record is durable; an error from it
// means the decision must not be answered. dict is the policy version's
// dictionary (nil for a request refused before a policy was chosen);
// body is a schema.Compact encoding. AppendRef must not keep body after
// it returns (the server reuses the buffer). The audit package's Log
// implements it.
type DecisionRecorder interface {
	AppendRef(requestID string, dict *schema.Dict, body []byte) (wait func() error)
}

// A RecordReserver is a DecisionRecorder that wants to know of records
// that are about to be appended (the audit package's Log): the server
// reserves one from the moment a decision's record is started (after
// admission) until the request has appended its records or given up, so
// that the log's group commit waits only while decisions are still
// being evaluated and syncs at once when none is. Every Reserve is
// matched by one Release on every path (errors, refusals, panics).
type RecordReserver interface {
	Reserve()
	Release()
}

// Audit configures decision records and signatures. The zero value turns
// everything off.
type Audit struct {
	// Recorder receives a record of every decision (and of requests
	// refused for their signature) before the response is written.
	Recorder DecisionRecorder
	// Features adds the request's features to the record, with the
	// values of Mask replaced by "[masked]"; the SM3 of the whole request
	// body is always recorded.
	Features bool
	Mask     []string
	// SigningKey signs every decision response (X-Decision-Signature)
	// and is served at DecisionKeyPath.
	SigningKey *gm.PrivateKey
	// ClientKeys, when not empty, makes request signatures mandatory:
	// X-Request-Signature must be an SM2 signature of the request body by
	// one of these keys.
	ClientKeys []*gm.PublicKey
}

// Header names and the well-known path of the decision signing key.
const (
	HeaderDecisionSignature = "X-Decision-Signature"
	HeaderRequestSignature  = "X-Request-Signature"
	DecisionKeyPath         = "/.well-known/riskd/decision-key.pem"
)

// auditState is the server's prepared Audit.
type auditState struct {
	rec        DecisionRecorder
	res        RecordReserver // rec, when it takes reservations
	features   bool
	mask       map[string]bool
	sign       *gm.PrivateKey
	signID     string
	pubPEM     []byte
	clients    map[string]*gm.PublicKey
	pool       sync.Pool
	sigRefused *prometheus.CounterVec // reason
	// dicts caches each policy version's dictionary by dictKey. The key
	// is strings, not the *Version, so that an unloaded version is not
	// kept alive; the entries are small and versions few.
	dicts sync.Map
}

// dictKey names a policy version's constants.
type dictKey struct{ policy, version, digest string }

func (s *Server) setupAudit(a Audit) error {
	st := &s.audit
	st.rec, st.features, st.sign = a.Recorder, a.Features, a.SigningKey
	st.res, _ = a.Recorder.(RecordReserver)
	st.mask = map[string]bool{}
	for _, m := range a.Mask {
		st.mask[m] = true
	}
	if a.SigningKey != nil {
		pem, err := gm.MarshalPublicKeyPEM(&a.SigningKey.PublicKey)
		if err != nil {
			return fmt.Errorf("decision signing key: %w", err)
		}
		st.pubPEM, st.signID = pem, gm.KeyID(&a.SigningKey.PublicKey)
	}
	if len(a.ClientKeys) > 0 {
		st.clients = map[string]*gm.PublicKey{}
		for _, k := range a.ClientKeys {
			st.clients[gm.KeyID(k)] = k
		}
	}
	st.pool.New = func() any { return &auditRec{} }
	st.sigRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskforge_request_signature_failures_total",
		Help: "Requests refused with 401 because their X-Request-Signature was missing or did not verify, by reason.",
	}, []string{"reason"})
	s.metrics.reg.MustRegister(st.sigRefused)
	return nil
}

// auditRec is one request's record under construction, pooled.
type auditRec struct {
	buf   []byte
	c     schema.Compact
	dict  *schema.Dict
	win   recordingWindows
	waits []func() error
	// reserved: this request holds a reservation with the recorder
	// (RecordReserver) that settle ends.
	reserved bool
	// endpoint names the way the decision came when it is not an HTTP
	// endpoint ("kafka").
	endpoint string
}

// auditRec returns a record buffer, nil when decisions are not recorded.
// It reserves the records to come with a RecordReserver: the caller must
// hand ar to putAuditRec (deferred, so that panics do too), which ends
// the reservation unless settle already has.
func (s *Server) auditRec() *auditRec {
	if s.audit.rec == nil {
		return nil
	}
	ar := s.audit.pool.Get().(*auditRec)
	ar.buf, ar.waits, ar.dict, ar.endpoint = ar.buf[:0], ar.waits[:0], nil, ""
	if s.audit.res != nil {
		s.audit.res.Reserve()
		ar.reserved = true
	}
	return ar
}

// settle ends ar's reservation: the request appends nothing more. It is
// called before waiting for durability (the log would otherwise wait for
// this very request) and again, harmlessly, by putAuditRec.
func (s *Server) settle(ar *auditRec) {
	if ar.reserved {
		ar.reserved = false
		s.audit.res.Release()
	}
}

func (s *Server) putAuditRec(ar *auditRec) {
	if ar == nil {
		return
	}
	s.settle(ar)     // a request that failed before waiting
	ar.win.release() // a decision that was never recorded
	if cap(ar.buf) < 1<<20 {
		ar.win.inner = nil
		s.audit.pool.Put(ar)
	}
}

// windowRead is one velocity window observation made by a decision: what
// a replay needs to rebuild the window's state (see docs/AUDIT.md).
type windowRead struct {
	w      int
	key    vm.WindowKey
	t, v   float64
	s      string
	add    bool // the event counted in the window (its on events and where condition)
	result float64
}

// generational is a window store whose calls run under generations
// (windows.Memory): a snapshot's cut holds exactly the calls of the
// generations it closed (see windows/cut.go).
type generational interface {
	Hold() uint64
	ObserveAt(gen uint64, obs []vm.WindowObs, out []float64) error
	Release(gen uint64)
}

// recordingWindows passes observations to the real store and notes them.
// With a generational store it holds the call's generation until the
// record is appended (submit), so a snapshot's cut waits for the record
// of every call it holds, and the record carries the generation.
type recordingWindows struct {
	inner vm.WindowStore
	reads []windowRead
	gen   uint64 // generation of this decision's call; 0: none
	held  []heldGen
}

type heldGen struct {
	g   generational
	gen uint64
}

// release ends the generations held for the records just appended.
func (r *recordingWindows) release() {
	for _, h := range r.held {
		h.g.Release(h.gen)
	}
	r.held = r.held[:0]
}

func (r *recordingWindows) Observe(obs []vm.WindowObs, out []float64) error {
	var err error
	switch g, ok := r.inner.(generational); {
	case ok:
		r.gen = g.Hold()
		r.held = append(r.held, heldGen{g, r.gen})
		err = g.ObserveAt(r.gen, obs, out)
	case r.inner != nil:
		err = r.inner.Observe(obs, out)
	default:
		clear(out)
	}
	for w, o := range obs {
		r.reads = append(r.reads, windowRead{w, o.Key, o.T, o.V, o.S, o.Add, out[w]})
	}
	return err
}

// windows returns the store the machine should use for this decision.
func (ar *auditRec) windows(inner vm.WindowStore) vm.WindowStore {
	if ar == nil {
		return inner
	}
	ar.win.inner, ar.win.reads, ar.win.gen = inner, ar.win.reads[:0], 0
	return &ar.win
}

// policyDict returns the dictionary of v: its rules, models and windows
// in program order, which the compact records refer to by position.
func (s *Server) policyDict(v *Version) *schema.Dict {
	k := dictKey{v.Policy, v.Version, v.Digest}
	if d, ok := s.audit.dicts.Load(k); ok {
		return d.(*schema.Dict)
	}
	pd := schema.PolicyDict{Policy: v.Policy, Version: v.Version, PolicyDigest: v.Digest,
		Rules: []schema.DictRule{}, Models: []schema.DictModel{}, Windows: []string{}}
	for i := range v.Prog.Rules {
		r := &v.Prog.Rules[i]
		dr := schema.DictRule{Name: r.Name, Reason: r.Reason}
		if r.Forces {
			dr.Action = r.Action.String()
		}
		pd.Rules = append(pd.Rules, dr)
	}
	for i := range v.Prog.Models {
		md := &v.Prog.Models[i]
		dm := schema.DictModel{Name: md.Name, Path: md.Path}
		if md.Digest != ([32]byte{}) {
			dm.SHA256 = hex.EncodeToString(md.Digest[:])
		}
		pd.Models = append(pd.Models, dm)
	}
	for i := range v.Prog.Windows {
		pd.Windows = append(pd.Windows, v.Prog.Windows[i].Name)
	}
	body, err := schema.EncodePolicyDict(&pd)
	if err != nil {
		panic(err) // strings and slices only: cannot fail
	}
	d, _ := s.audit.dicts.LoadOrStore(k, schema.NewDict(body))
	return d.(*schema.Dict)
}

// recordDecision encodes the record of one decision into ar.buf (which
// then holds exactly one record) and notes its dictionary in ar.dict.
func (s *Server) recordDecision(ar *auditRec, ep, index int, batchID, rid string, e *entry, body []byte, d *vm.Decision, lat time.Duration) {
	v := e.v
	c := &ar.c
	s.recordHead(ar, ep, index, batchID, http.StatusOK, body)
	c.Arm, c.Decision = e.role.String(), d.Action.String()
	c.Score, c.Degraded, c.LatencyUS = d.Score, d.Degraded, lat.Microseconds()
	for i := range d.Fired {
		c.Rules = append(c.Rules, schema.RuleHit{Rule: d.Fired[i].Rule, Weight: d.Fired[i].Weight})
	}
	for i := range d.Models {
		mo := &d.Models[i]
		c.Models = append(c.Models, schema.ModelHit{Ran: mo.Ran, Degraded: mo.Degraded, Value: mo.Value})
	}
	for _, wr := range ar.win.reads {
		c.Windows = append(c.Windows, schema.WindowHit{Window: wr.w, Key: wr.key.Str, KeyNum: wr.key.Num, T: wr.t, V: wr.v, S: wr.s, NotCounted: !wr.add, Value: wr.result})
	}
	c.WindowGen = ar.win.gen // 0 (not written) with a store without generations
	if s.audit.features {
		c.Features = s.appendFeatures(c.Features[:0], body)
	}
	ar.dict = s.policyDict(v)
	ar.buf = schema.AppendCompact(ar.buf[:0], c)
}

// recordHead starts a record in ar.c: who asked what, and the request's
// digest.
func (s *Server) recordHead(ar *auditRec, ep, index int, batchID string, status int, body []byte) {
	c := &ar.c
	name := ar.endpoint
	if name == "" {
		name = endpointNames[ep]
	}
	*c = schema.Compact{Endpoint: name, BatchID: batchID, Index: -1, Status: status, InputSM3: gm.SM3(body),
		Rules: c.Rules[:0], Models: c.Models[:0], Windows: c.Windows[:0], Features: c.Features[:0]}
	if batchID != "" {
		c.Index = index
	}
}

// appendFeatures appends the request's features (masked) as a JSON object
// when configured.
func (s *Server) appendFeatures(b, body []byte) []byte {
	if !s.audit.features {
		return b
	}
	var req struct {
		Features map[string]json.RawMessage `json:"features"`
	}
	if json.Unmarshal(body, &req) != nil {
		return b
	}
	keys := make([]string, 0, len(req.Features))
	for k := range req.Features {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		if s.audit.mask[k] {
			b = append(b, `"[masked]"`...)
		} else {
			b = append(b, req.Features[k]...)
		}
	}
	return append(b, '}')
}

// submit hands the record in ar.buf to the recorder; waitAll waits for
// every record submitted for this request.
func (s *Server) submit(ar *auditRec, rid string) {
	ar.waits = append(ar.waits, s.audit.rec.AppendRef(rid, ar.dict, ar.buf))
	ar.buf, ar.dict = ar.buf[:0], nil
	ar.win.release() // the record is appended: a snapshot's cut may close its generation
}

// waitAll blocks until the request's records are durable; a failure is a
// 503 and the decision is not answered.
func (s *Server) waitAll(ar *auditRec) *httpError {
	if ar == nil {
		return nil
	}
	s.settle(ar)
	for _, w := range ar.waits {
		if err := w(); err != nil {
			s.log.Error("decision not recorded; refusing to answer it", "err", err.Error())
			return &httpError{status: http.StatusServiceUnavailable, msg: "the decision could not be recorded in the audit log, so it is not answered; the server log has the details"}
		}
	}
	return nil
}

// ErrNotRecorded is the error of a decision whose audit record could not
// be made durable (Decide, and the waits it hands to OnRecord): the
// decision must not be acted on, and since the audit log has failed for
// good, the caller should stop rather than retry or dead-letter the
// event.
var ErrNotRecorded = errors.New("the decision could not be recorded in the audit log")

// recordOther submits the record of a decision that did not come over
// HTTP: it hands the durability wait to onRecord, or waits itself when
// onRecord is nil. nil when audit is off.
func (s *Server) recordOther(ar *auditRec, rid string, onRecord func(wait func() error)) error {
	if ar == nil {
		return nil
	}
	s.submit(ar, rid)
	s.settle(ar)
	wait := ar.waits[0]
	ar.waits = ar.waits[:0]
	checked := func() error {
		if err := wait(); err != nil {
			s.log.Error("decision not recorded; it must not be acted on", "request_id", rid, "err", err.Error())
			return fmt.Errorf("%w: %w", ErrNotRecorded, err)
		}
		return nil
	}
	if onRecord != nil {
		onRecord(checked)
		return nil
	}
	return checked()
}

// signResponse adds X-Decision-Signature over the request and response
// bodies when a signing key is configured.
func (s *Server) signResponse(w http.ResponseWriter, request, response []byte) {
	if s.audit.sign == nil {
		return
	}
	d := gm.DecisionDigest(request, response)
	sig, err := gm.Sign(s.audit.sign, d[:])
	if err != nil {
		s.log.Error("decision signature failed", "err", err.Error())
		return
	}
	w.Header()[HeaderDecisionSignature] = []string{gm.FormatSignatureHeader(s.audit.signID, sig)}
}

// checkRequestSignature enforces request signatures when client keys are
// configured. A refusal is counted and recorded; it returns the 401 and
// the request id used.
func (s *Server) checkRequestSignature(r *http.Request, ep int, rid string, body []byte) (*httpError, string) {
	if s.audit.clients == nil {
		return nil, rid
	}
	reason, msg := "", ""
	v := r.Header[HeaderRequestSignature]
	switch {
	case len(v) == 0 || v[0] == "":
		reason, msg = "missing", "missing: sign the request body with your SM2 key (docs/AUDIT.md)"
	default:
		id, sig, err := gm.ParseSignatureHeader(v[0])
		switch {
		case err != nil:
			reason, msg = "malformed", err.Error()
		case s.audit.clients[id] == nil:
			reason, msg = "unknown_key", fmt.Sprintf("key %s is not a configured client key", id)
		case !gm.Verify(s.audit.clients[id], body, sig):
			reason, msg = "bad_signature", fmt.Sprintf("the signature by key %s does not verify over the request body", id)
		}
	}
	if reason == "" {
		return nil, rid
	}
	s.audit.sigRefused.WithLabelValues(reason).Inc()
	if rid == "" {
		rid = newRequestID()
	}
	herr := &httpError{status: http.StatusUnauthorized, field: HeaderRequestSignature, msg: msg}
	if ar := s.auditRec(); ar != nil {
		s.recordHead(ar, ep, -1, "", http.StatusUnauthorized, body)
		ar.c.Error = HeaderRequestSignature + ": " + msg
		ar.buf = schema.AppendCompact(ar.buf[:0], &ar.c)
		s.submit(ar, rid)
		if e := s.waitAll(ar); e != nil {
			herr = e
		}
		s.putAuditRec(ar)
	}
	return herr, rid
}

func (s *Server) handleDecisionKey(w http.ResponseWriter, r *http.Request) {
	if s.audit.pubPEM == nil {
		s.writeError(w, r, epOther, &httpError{status: http.StatusNotFound, msg: "decisions are not signed: set audit.signing_key in the config"}, "", false)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("X-Key-Id", s.audit.signID)
	w.Write(s.audit.pubPEM)
}

// HoldRecords tells the audit log that the caller is about to make
// decisions one after another and will wait for their records only
// afterwards (riskd consume: one Kafka partition's polled records), so
// that the log's group commit does not sync each record on its own as
// soon as the decision before the next one has appended it.
// ReleaseRecords ends the hold, and must follow every HoldRecords on
// every path, before the caller waits for the records. Both do nothing
// when the recorder takes no reservations (RecordReserver).
func (s *Server) HoldRecords() {
	if s.audit.res != nil {
		s.audit.res.Reserve()
	}
}

// ReleaseRecords ends a HoldRecords.
func (s *Server) ReleaseRecords() {
	if s.audit.res != nil {
		s.audit.res.Release()
	}
}
