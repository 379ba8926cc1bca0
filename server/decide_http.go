package server

import (
	"net/http"
	"time"

	"github.com/riskforge/riskforge/api"
)

// POST /v1/decide.

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
	ps, herr := s.pickPolicy(sn, r, func() []string { return []string{api.EventOf(body)} })
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
	w.Header()[hdrPin] = res.e.v.serve.hdrVersion
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
