package server

import (
	"fmt"
	"net/http"
	"time"
)

// Admission: which requests get a concurrency slot, and what is
// refused before a body is read.

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
