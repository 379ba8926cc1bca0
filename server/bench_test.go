package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/riskforge/riskforge/server/config"
)

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// loanBodies returns n loan_apply bodies, each of its own user and device.
func loanBodies(n int) [][]byte {
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = loanBody(i)
	}
	return bodies
}

func loanBody(i int) []byte {
	return []byte(fmt.Sprintf(`{"event":"loan_apply","request_id":"r%d","features":{"user_id":"u%05d","device_id":"d%05d","ip_country":"DE","residence_country":"DE","email":"a%d@web.de","age":30,"amount":5000,"term_months":24,"income":2500,"existing_debt":100,"overdue_30d":0,"bureau_score":700,"account_opened":"2020-01-01T00:00:00Z","ts":"2026-03-01T10:00:00Z"}}`, i, i%50000, i%50000, i))
}

func BenchmarkDecideHandler(b *testing.B) {
	benchDecideHandler(b, Options{})
}

// benchDecideHandler drives the loan example through the real HTTP
// handler of a server made with opts, 4,096 users and devices in turn.
func benchDecideHandler(b *testing.B, opts Options) {
	h, bodies := loanHandler(b, opts)
	req := httptest.NewRequest("POST", "/v1/decide", nil)
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body := bodies[i%len(bodies)]
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// loanHandler is the HTTP handler of a server made with opts serving
// examples/loan, and 4,096 loan bodies for it (users and devices in turn).
func loanHandler(b *testing.B, opts Options) (http.Handler, [][]byte) {
	cfg := config.Default()
	cfg.Policies = []config.Policy{{Path: "../examples/loan"}}
	opts.Config = cfg
	s, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	return s.Handler(), loanBodies(4096)
}
