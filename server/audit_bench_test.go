package server

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/riskforge/riskforge/audit"
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
	benchDecideHandler(b, Options{Audit: Audit{Recorder: l}})
}

// BenchmarkDecideParallel is the server's side of `make load`'s audit
// comparison without the network: 64 goroutines (the load's connections)
// each send loan decisions through the real handler, with the audit log
// off, and on under each sync policy in a temporary directory on the
// real disk (batch: group commits with fdatasync). Besides ns/op (wall
// time per decision of the whole group) it reports cpu-ns/op, the
// process's user+system CPU per decision: that includes the log's writer
// and its fdatasyncs, and is the figure the audit's overhead is judged
// by (docs/AUDIT.md section 10).
func BenchmarkDecideParallel(b *testing.B) {
	for _, mode := range []string{"off", "none", "batch"} {
		b.Run("audit="+mode, func(b *testing.B) {
			var opts Options
			if mode != "off" {
				l, err := audit.Open(audit.Options{Dir: b.TempDir(), Sync: audit.SyncPolicy(mode)})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				opts.Audit = Audit{Recorder: l}
			}
			benchDecideParallel(b, opts, 64)
		})
	}
}

// benchDecideParallel drives the loan example through the handler from
// conns goroutines and reports the CPU per decision.
func benchDecideParallel(b *testing.B, opts Options, conns int) {
	h, bodies := loanHandler(b, opts)
	var next, failed atomic.Int64
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	done := make(chan struct{})
	for range conns {
		go func() {
			defer func() { done <- struct{}{} }()
			req := httptest.NewRequest("POST", "/v1/decide", nil)
			w := &statusWriter{h: http.Header{}}
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				body := bodies[i%int64(len(bodies))]
				req.Body = io.NopCloser(bytes.NewReader(body))
				req.ContentLength = int64(len(body))
				clear(w.h)
				w.status = 0
				h.ServeHTTP(w, req)
				if w.status != 0 && w.status != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	for range conns {
		<-done
	}
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d decisions were not answered 200", n)
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the user+system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
