package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riskforge/riskforge/api"
)

// The endpoints: which handler serves which path, and the small
// status endpoints (liveness, readiness, reload, unknown paths).

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
		if r.URL.Path == "/v1/decide" && r.URL.RawPath == "" {
			// What the mux would choose for this path, without its
			// matching and the read lock every request takes on it,
			// which both cores write.
			s.handleDecide(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

var connClose = []string{"close"}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, "", []byte(`{"status":"alive"}`))
	s.metrics.countRequest(epHealthz, http.StatusOK)
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ok, checks := s.readiness()
	rep := api.ReadyReport{Ready: ok, Checks: checks, LastReload: s.lastReload.Load()}
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
	resp := api.ReloadResponse{ReloadStatus: st}
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
