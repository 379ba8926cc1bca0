package server

import (
	"io"
	"testing"

	"github.com/riskforge/riskforge/audit/schema"
	"github.com/riskforge/riskforge/server/config"
)

// instantRecorder is a DecisionRecorder whose records are durable at
// once: it checks the record it is given and keeps nothing.
type instantRecorder struct{ n int }

func (r *instantRecorder) AppendRef(requestID string, dict *schema.Dict, body []byte) func() error {
	if requestID == "" || dict == nil || !schema.IsCompact(body) {
		return func() error { return io.ErrUnexpectedEOF }
	}
	r.n++
	return noWait
}

func noWait() error { return nil }

// TestDecideAuditAllocs guards the allocations the audit hook adds to one
// decision through the real HTTP handler (the record's encoding, its
// dictionary, the window observations it notes, the hand-over and the
// wait), the log itself left out (audit's TestAppendAllocs guards that).
// The SM3 of the request body is the only allocation the hook may add:
// tjfoc's SM3 copies what it hashes and pads into a new slice (2
// allocations), and the issue allows no other SM3. Like TestDecideAllocs
// it is a regression guard: lower the limit when a change cuts
// allocations, never raise it silently.
func TestDecideAuditAllocs(t *testing.T) {
	off := recorderAllocs(t, nil)
	rec := &instantRecorder{}
	on := recorderAllocs(t, rec)
	if rec.n == 0 {
		t.Fatal("no decision was recorded")
	}
	t.Logf("%.2f allocations per decision without the audit hook, %.2f with it", off, on)
	const sm3Allocs = 2
	if on > off+sm3Allocs {
		t.Errorf("the audit hook adds %.2f allocations per decision, want <= %d (the SM3 of the body)", on-off, sm3Allocs)
	}
}

// recorderAllocs is handlerAllocs for a server serving examples/loan_ml
// that records its decisions with rec (nil: no audit hook).
func recorderAllocs(t *testing.T, rec DecisionRecorder) float64 {
	t.Helper()
	cfg := config.Default()
	cfg.Policies = []config.Policy{{Path: "../examples/loan_ml"}}
	s, err := New(Options{Config: cfg, Audit: Audit{Recorder: rec}})
	if err != nil {
		t.Fatal(err)
	}
	return handlerAllocs(t, s)
}
