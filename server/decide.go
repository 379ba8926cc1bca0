package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/vm"
)

// decideIn is one decision request, whichever way it arrived.
type decideIn struct {
	ctx      context.Context
	ps       *policySet
	pin, rid string
	fallback string // request id when neither rid nor the body has one
	body     []byte
	start    time.Time
	tr       *trace
	ar       *auditRec // audit on: the decision's record (nil: off)
	// authorizePin refuses a pin the caller may not use (nil: any).
	authorizePin func(ps *policySet, pin string) *httpError
}

// decided is what the caller needs after the answer is out: shadows run
// then.
type decided struct {
	ps     *policySet
	e      *entry
	bucket int
	action vm.Action
	rid    string
}

// decideBody is the decision path POST /v1/decide and Server.Decide
// share once the policy is chosen: route and decode the body, evaluate it and
// append the response object to out. On a refusal the returned rid is
// the one known so far (maybe empty).
func (s *Server) decideBody(sn *snapshot, in *decideIn, out []byte) ([]byte, decided, *httpError) {
	res := decided{rid: in.rid}
	ps := in.ps
	if in.authorizePin != nil {
		if herr := in.authorizePin(ps, in.pin); herr != nil {
			return out, res, herr
		}
	}
	endDecode := in.tr.phase("decode")
	e, req, bucket, herr := ps.route(in.body, in.pin)
	endDecode()
	if herr != nil {
		return out, res, herr
	}
	if e.v.lookups != nil {
		endLookups := in.tr.phase("lookups")
		e.v.lookups.fill(in.ctx, req)
		endLookups()
	}
	rid := in.rid
	if rid == "" && req.ID != "" {
		if !validID(req.ID) {
			e.v.serve.putReq(req)
			return out, res, badRequest("request_id", "must be 1 to 128 printable ASCII characters")
		}
		rid = req.ID
	}
	if rid == "" {
		rid = in.fallback
	}
	if rid == "" {
		rid = newRequestID()
	}
	res.rid = rid
	out, action, err := s.evaluate(out, -1, rid, ps, e, req, in.start, in.ar, "", in.body, in.tr)
	e.v.serve.putReq(req)
	if err != nil {
		return out, res, evalError(err)
	}
	s.observe(ps, rid, in.tr.id(), time.Since(in.start))
	res.ps, res.e, res.bucket, res.action = ps, e, bucket, action
	return out, res, nil
}

// policyFor finds a policy by name; "" is the default one, or else the
// one policy that declares the events (called only then), as for HTTP.
func (sn *snapshot) policyFor(name string, events func() []string) (*policySet, *httpError) {
	if name == "" {
		if sn.def != nil {
			return sn.def, nil
		}
		return sn.byEvent(events())
	}
	ps := sn.policies[name]
	if ps == nil {
		return nil, &httpError{status: http.StatusNotFound, field: "policy", msg: fmt.Sprintf("policy %q is not loaded (loaded: %s)", echo(name), strings.Join(sn.names, ", "))}
	}
	return ps, nil
}

// DecideRequest is one decision request that did not arrive over HTTP
// (the Kafka consumer's events).
type DecideRequest struct {
	// Policy names the policy; "" is the default one, as for HTTP.
	Policy string
	// Version pins a loaded version (X-Policy-Version); "" follows the
	// rollout.
	Version string
	// RequestID is the decision's id; "" takes the body's request_id,
	// then FallbackID, then a new one.
	RequestID string
	// FallbackID is a stable id for events without one (the Kafka
	// consumer uses topic/partition/offset, so a replayed event keeps
	// its id and consumers can drop the duplicate).
	FallbackID string
	// Body is the request JSON, exactly what POST /v1/decide takes.
	Body []byte
	// Source names the transport in traces ("kafka").
	Source string
	// Header reads trace propagation headers (traceparent); may be nil.
	Header func(key string) string
	// SetHeader, when set and the decision is traced, receives the
	// decision span's propagation headers for what the caller produces.
	SetHeader func(key, value string)
	// OnRecord, when set and decisions are audited, receives the wait
	// for the decision's audit record instead of Decide waiting for it:
	// the caller must not act on the decision (produce it, commit its
	// event) until the wait returns nil, and must stop when it returns an
	// error (see ErrNotRecorded). The Kafka consumer waits once per batch,
	// so that one group commit covers many events.
	OnRecord func(wait func() error)
}

// RequestError is a request Decide refused. Status is 4xx for input that
// can never be decided (retrying is pointless) and 5xx when evaluation
// failed, as the HTTP endpoint would answer.
type RequestError struct {
	Status int
	Field  string // the request field at fault, when one is
	Msg    string
	Code   api.Code // the stable code an HTTP client would get
}

func (e *RequestError) Error() string {
	if e.Field != "" {
		return strconv.Itoa(e.Status) + " " + e.Field + ": " + e.Msg
	}
	return strconv.Itoa(e.Status) + " " + e.Msg
}

// Decide decides one request exactly as POST /v1/decide does (the same
// limits, policy choice, rollout, decoding, windows, models, metrics,
// traces and shadows) and appends the response JSON to out. A refusal is
// a *RequestError. Calls for the same key must be made in event order
// for windows to see events in order.
func (s *Server) Decide(ctx context.Context, r DecideRequest, out []byte) ([]byte, error) {
	start := time.Now()
	fail := func(e *httpError) ([]byte, error) {
		return out, &RequestError{Status: e.status, Field: e.field, Msg: e.msg, Code: e.code()}
	}
	if r.RequestID != "" && !validID(r.RequestID) {
		return fail(badRequest("request_id", "must be 1 to 128 printable ASCII characters"))
	}
	if limit := int(s.lim.MaxBodyBytes); len(r.Body) > limit {
		return fail(&httpError{status: http.StatusRequestEntityTooLarge, field: "body", msg: fmt.Sprintf("larger than the limit of %d bytes", limit)})
	}
	if herr := checkBody(r.Body, s.lim.MaxJSONDepth); herr != nil {
		return fail(herr)
	}
	sn := s.acquire()
	defer sn.release()
	tr := s.startTrace(ctx, r.Source, r.Header)
	ps, herr := sn.policyFor(r.Policy, func() []string { return []string{api.EventOf(r.Body)} })
	if herr != nil {
		tr.refused(herr)
		tr.end(r.RequestID)
		return fail(herr)
	}
	ar := s.auditRec()
	if ar != nil {
		ar.endpoint = r.Source
		defer s.putAuditRec(ar)
	}
	out, res, herr := s.decideBody(sn, &decideIn{ctx: ctx, ps: ps, authorizePin: pinnableOnly, pin: r.Version, rid: r.RequestID, fallback: r.FallbackID, body: r.Body, start: start, tr: tr, ar: ar}, out)
	if herr != nil {
		tr.refused(herr)
		tr.end(res.rid)
		return fail(herr)
	}
	if err := s.recordOther(ar, res.rid, r.OnRecord); err != nil {
		tr.refused(&httpError{status: http.StatusServiceUnavailable, msg: err.Error()})
		tr.end(res.rid)
		return out, err
	}
	if tr != nil && r.SetHeader != nil {
		tr.dt.Inject(r.SetHeader)
	}
	tr.end(res.rid)
	if len(res.ps.shadows) > 0 {
		s.shadows(res.ps, res.e, res.bucket, r.Body, res.rid, res.action)
	}
	return out, nil
}

// pinnableOnly lets a non-HTTP request pin only the versions listed in
// rollout.NAME.pinnable (there is no admin token to show).
func pinnableOnly(ps *policySet, pin string) *httpError {
	if pin == "" || ps.byVersion[pin] == nil || ps.pinnable[pin] {
		return nil
	}
	return &httpError{status: http.StatusForbidden, field: "policy-version",
		msg: "pinning version " + quote(echo(pin)) + " of policy " + ps.name + " needs the version listed in rollout." + ps.name + ".pinnable"}
}
