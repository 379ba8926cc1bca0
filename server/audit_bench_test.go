package server

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/riskforge/riskforge/audit"
	"github.com/riskforge/riskforge/server/config"
)

// BenchmarkDecideHandlerAudit is BenchmarkDecideHandler with every
// decision recorded in an audit log (sync none: the CPU cost of the
// record, not the disk's sync latency).
func BenchmarkDecideHandlerAudit(b *testing.B) {
	l, err := audit.Open(audit.Options{Dir: b.TempDir(), Sync: audit.SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	cfg := config.Default()
	cfg.Policies = []config.Policy{{Path: "../examples/loan"}}
	s, err := New(Options{Config: cfg, Audit: Audit{Recorder: l}})
	if err != nil {
		b.Fatal(err)
	}
	bodies := make([][]byte, 4096)
	for i := range bodies {
		bodies[i] = loanBody(i)
	}
	h := s.Handler()
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
