package server

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskforge/riskforge/internal/gm"
	"github.com/riskforge/riskforge/vm"
)

// The audit hooks: the server encodes each decision as a JSON record and
// hands it to a DecisionRecorder before answering; it signs responses and
// checks request signatures. The record schema is in docs/AUDIT.md.

// DecisionRecorder makes decision records durable. Append returns a
// function that blocks until the record is durable; an error from it
// means the decision must not be answered. Append must not keep body
// after it returns (the server reuses the buffer). The audit package's
// Log implements it.
type DecisionRecorder interface {
	Append(requestID string, body []byte) (wait func() error)
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
	features   bool
	mask       map[string]bool
	sign       *gm.PrivateKey
	signID     string
	pubPEM     []byte
	clients    map[string]*gm.PublicKey
	pool       sync.Pool
	sigRefused *prometheus.CounterVec // reason
}

func (s *Server) setupAudit(a Audit) error {
	st := &s.audit
	st.rec, st.features, st.sign = a.Recorder, a.Features, a.SigningKey
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
	win   recordingWindows
	waits []func() error
}

// auditRec returns a record buffer, nil when decisions are not recorded.
func (s *Server) auditRec() *auditRec {
	if s.audit.rec == nil {
		return nil
	}
	ar := s.audit.pool.Get().(*auditRec)
	ar.buf, ar.waits = ar.buf[:0], ar.waits[:0]
	return ar
}

func (s *Server) putAuditRec(ar *auditRec) {
	if ar == nil {
		return
	}
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

// decision encodes the record of one decision into ar.buf (which then
// holds exactly one record).
func (s *Server) recordDecision(ar *auditRec, ep, index int, batchID, rid string, e *entry, body []byte, d *vm.Decision, lat time.Duration) {
	v := e.v
	b := s.recordHead(ar.buf[:0], ep, index, batchID, rid, http.StatusOK, body)
	b = append(b, `,"policy":`...)
	b = appendString(b, v.Policy)
	b = append(b, `,"version":`...)
	b = appendString(b, v.Version)
	b = append(b, `,"policy_digest":`...)
	b = appendString(b, v.Digest)
	b = append(b, `,"arm":"`...)
	b = append(b, e.role.String()...)
	b = append(b, `","decision":"`...)
	b = append(b, d.Action.String()...)
	b = append(b, `","score":`...)
	b = appendFloat(b, d.Score)
	b = append(b, `,"degraded":`...)
	b = strconv.AppendBool(b, d.Degraded)
	b = append(b, `,"latency_us":`...)
	b = strconv.AppendInt(b, lat.Microseconds(), 10)
	b = append(b, `,"rules":[`...)
	for i := range d.Fired {
		f := &d.Fired[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, f.Name)
		b = append(b, `,"reason":`...)
		b = appendString(b, f.Reason)
		b = append(b, `,"weight":`...)
		b = appendFloat(b, f.Weight)
		if f.Forced {
			b = append(b, `,"action":"`...)
			b = append(b, f.Action.String()...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, `],"models":[`...)
	for i := range d.Models {
		mo := &d.Models[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, mo.Name)
		if i < len(v.Prog.Models) {
			md := &v.Prog.Models[i]
			b = append(b, `,"path":`...)
			b = appendString(b, md.Path)
			if md.Digest != ([32]byte{}) {
				b = append(b, `,"sha256":"`...)
				b = hex.AppendEncode(b, md.Digest[:])
				b = append(b, '"')
			}
		}
		b = append(b, `,"ran":`...)
		b = strconv.AppendBool(b, mo.Ran)
		b = append(b, `,"value":`...)
		b = appendFloat(b, mo.Value)
		b = append(b, `,"degraded":`...)
		b = strconv.AppendBool(b, mo.Degraded)
		b = append(b, '}')
	}
	b = append(b, `],"windows":[`...)
	for i, wr := range ar.win.reads {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"window":`...)
		b = strconv.AppendInt(b, int64(wr.w), 10)
		if wr.w >= 0 && wr.w < len(v.Prog.Windows) {
			b = append(b, `,"name":`...)
			b = appendString(b, v.Prog.Windows[wr.w].Name)
		}
		b = append(b, `,"key":`...)
		b = appendString(b, wr.key.Str)
		b = append(b, `,"key_num":`...)
		b = appendFloat(b, wr.key.Num)
		b = append(b, `,"t":`...)
		b = appendFloat(b, wr.t)
		b = append(b, `,"v":`...)
		b = appendFloat(b, wr.v)
		if wr.s != "" {
			b = append(b, `,"s":`...)
			b = appendString(b, wr.s)
		}
		if !wr.add {
			b = append(b, `,"counted":false`...)
		}
		b = append(b, `,"value":`...)
		b = appendFloat(b, wr.result)
		b = append(b, '}')
	}
	b = append(b, ']')
	if ar.win.gen != 0 {
		b = append(b, `,"window_gen":`...)
		b = strconv.AppendUint(b, ar.win.gen, 10)
	}
	b = s.appendFeatures(b, body)
	ar.buf = append(b, '}')
}

// recordHead starts a record: who asked what, and the request's digest.
func (s *Server) recordHead(b []byte, ep, index int, batchID, rid string, status int, body []byte) []byte {
	b = append(b, `{"request_id":`...)
	b = appendString(b, rid)
	b = append(b, `,"endpoint":"`...)
	b = append(b, endpointNames[ep]...)
	b = append(b, '"')
	if batchID != "" {
		b = append(b, `,"batch_id":`...)
		b = appendString(b, batchID)
		b = append(b, `,"index":`...)
		b = strconv.AppendInt(b, int64(index), 10)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	sum := gm.SM3(body)
	b = append(b, `,"input_sm3":"`...)
	b = hex.AppendEncode(b, sum[:])
	return append(b, '"')
}

// appendFeatures adds the request's features (masked) when configured.
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
	b = append(b, `,"features":{`...)
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
	ar.waits = append(ar.waits, s.audit.rec.Append(rid, ar.buf))
	ar.buf = ar.buf[:0]
	ar.win.release()
}

// waitAll blocks until the request's records are durable; a failure is a
// 503 and the decision is not answered.
func (s *Server) waitAll(ar *auditRec) *httpError {
	if ar == nil {
		return nil
	}
	for _, w := range ar.waits {
		if err := w(); err != nil {
			s.log.Error("decision not recorded; refusing to answer it", "err", err.Error())
			return &httpError{status: http.StatusServiceUnavailable, msg: "the decision could not be recorded in the audit log, so it is not answered; the server log has the details"}
		}
	}
	return nil
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
		b := s.recordHead(ar.buf[:0], ep, -1, "", rid, http.StatusUnauthorized, body)
		b = append(b, `,"error":`...)
		b = appendString(b, HeaderRequestSignature+": "+msg)
		ar.buf = append(b, '}')
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
