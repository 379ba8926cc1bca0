package server

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/riskforge/riskforge/server/config"
)

// TestDecideAllocs guards the allocations of one decision through the
// real HTTP handler (routing, body read, decoding, windows, evaluation,
// metrics, the response), 4,096 users and devices in turn. It is a regression guard, not a timing test: lower the
// limits when a change cuts allocations, never raise them silently.
// 11 before the cuts of issue 17 (the trace header getter and the pin
// closure made for every request, two header value slices), 8 after.
func TestDecideAllocs(t *testing.T) {
	for _, tc := range []struct {
		policy string
		max    float64
	}{
		{"../examples/loan", 8},
		{"../examples/loan_ml", 8},
	} {
		cfg := config.Default()
		cfg.Policies = []config.Policy{{Path: tc.policy}}
		s, err := New(Options{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		allocs := handlerAllocs(t, s)
		t.Logf("%s: %.2f allocations per decision", tc.policy, allocs)
		if allocs > tc.max {
			t.Errorf("%s: %.2f allocations per decision, want <= %v", tc.policy, allocs, tc.max)
		}
	}
}

// handlerAllocs decides 4,096 loan bodies through s's real handler twice
// over (windows and pools warm), then returns the allocations of one more
// decision. The request, its body reader and the writer are reused, so only
// the handler's allocations count; any status but 200 fails the test.
func handlerAllocs(t *testing.T, s *Server) float64 {
	t.Helper()
	bodies := loanBodies(4096)
	h := s.Handler()
	req := httptest.NewRequest("POST", "/v1/decide", nil)
	w := &statusWriter{h: http.Header{}}
	rd := bytes.NewReader(nil)
	req.Body = io.NopCloser(rd)
	i := 0
	decide := func() {
		body := bodies[i%len(bodies)]
		i++
		rd.Reset(body)
		req.ContentLength = int64(len(body))
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != 0 && w.status != http.StatusOK {
			t.Fatalf("status %d", w.status)
		}
	}
	for range 2 * len(bodies) {
		decide()
	}
	return testing.AllocsPerRun(2000, decide)
}

// statusWriter is a ResponseWriter that drops the body and keeps the status.
type statusWriter struct {
	h      http.Header
	status int
}

func (w *statusWriter) Header() http.Header         { return w.h }
func (w *statusWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *statusWriter) WriteHeader(code int)        { w.status = code }
