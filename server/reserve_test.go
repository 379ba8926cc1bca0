package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/riskforge/riskforge/audit"
)

// reservingRecorder is a memRecorder that takes reservations
// (RecordReserver) and checks how the server uses them: open must be
// back at zero when a request is done, and no request may wait for its
// records while it still holds a reservation (the log would wait for the
// request that waits for it). AppendRef panics for the request id
// panicFor (when not empty).
type reservingRecorder struct {
	memRecorder
	open, reserves, heldWaits atomic.Int64
	panicFor                  string
}

func (r *reservingRecorder) Reserve() { r.open.Add(1); r.reserves.Add(1) }
func (r *reservingRecorder) Release() { r.open.Add(-1) }

func (r *reservingRecorder) AppendRef(rid string, dict *audit.Dict, body []byte) func() error {
	if r.panicFor != "" && rid == r.panicFor {
		panic("the recorder broke")
	}
	wait := r.memRecorder.AppendRef(rid, dict, body)
	return func() error {
		if r.open.Load() != 0 {
			r.heldWaits.Add(1)
		}
		return wait()
	}
}

// TestEveryPathEndsItsReservation: whatever becomes of a request (an
// answer, a refusal before or after admission, an evaluation error, a
// panic, a recorder failure, batch items that fail), its reservation is
// ended, and ended before it waits for its records.
func TestEveryPathEndsItsReservation(t *testing.T) {
	post := func(path, body string, hdr ...string) func(*Server) int {
		return func(s *Server) int {
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, req)
			return w.Code
		}
	}
	viaDecide := func(body string) func(*Server) int {
		return func(s *Server) int {
			_, err := s.Decide(context.Background(), DecideRequest{Body: []byte(body), Source: "kafka"}, nil)
			var re *RequestError
			switch {
			case err == nil:
				return 200
			case errors.As(err, &re):
				return re.Status
			case errors.Is(err, ErrNotRecorded):
				return 503
			}
			return 500
		}
	}
	badAmount := `{"event":"pay","features":{"user_id":"u1","amount":-5}}`
	cases := []struct {
		name     string
		do       func(*Server) int
		panicFor string // the recorder panics for this request id
		fail     bool   // the recorder's waits fail
		status   int
		reserved bool // a reservation must have been taken
	}{
		{"decision", post("/v1/decide", payBody), "", false, 200, true},
		{"wrong method, refused before admission", func(s *Server) int {
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/v1/decide", nil))
			return w.Code
		}, "", false, 405, false},
		{"body not JSON", post("/v1/decide", `{"event":`), "", false, 400, true},
		{"field refused after admission", post("/v1/decide", badAmount), "", false, 400, true},
		{"unknown version pinned", post("/v1/decide", payBody, "X-Policy-Version", "nope"), "", false, 0, true},
		{"recorder panics: 500", post("/v1/decide", payBody), "r-1", false, 500, true},
		{"recorder fails: 503", post("/v1/decide", payBody), "", true, 503, true},
		{"batch with a refused item", post("/v1/decide/batch", "["+payBody+","+badAmount+"]"), "", false, 200, true},
		{"batch of refused items only", post("/v1/decide/batch", "["+badAmount+","+badAmount+"]"), "", false, 200, true},
		{"batch whose recorder panics", post("/v1/decide/batch", "["+badAmount+","+payBody+"]"), "r-1", false, 500, true},
		{"batch whose recorder fails", post("/v1/decide/batch", "["+payBody+"]"), "", true, 503, true},
		{"Decide", viaDecide(payBody), "", false, 200, true},
		{"Decide refused", viaDecide(badAmount), "", false, 400, true},
		{"Decide whose recorder fails", viaDecide(payBody), "", true, 503, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &reservingRecorder{panicFor: c.panicFor}
			if c.fail {
				rec.fail = errors.New("fsync: EIO")
			}
			s := auditServer(t, Audit{Recorder: rec})
			code := c.do(s)
			if c.status != 0 && code != c.status {
				t.Fatalf("status %d, want %d", code, c.status)
			}
			if c.status == 0 && (code < 400 || code >= 500) {
				t.Fatalf("status %d, want a 4xx", code)
			}
			if n := rec.open.Load(); n != 0 {
				t.Fatalf("%d reservations left open", n)
			}
			if got := rec.reserves.Load() > 0; got != c.reserved {
				t.Fatalf("reservation taken: %v, want %v", got, c.reserved)
			}
			if n := rec.heldWaits.Load(); n != 0 {
				t.Fatalf("%d waits for records began while the request still held its reservation", n)
			}
		})
	}
}

// TestHoldRecords: a hold is one more reservation, so records decided
// under it are not synced one by one; without a reserving recorder it
// does nothing.
func TestHoldRecords(t *testing.T) {
	rec := &reservingRecorder{}
	s := auditServer(t, Audit{Recorder: rec})
	s.HoldRecords()
	if _, err := s.Decide(context.Background(), DecideRequest{Body: []byte(payBody), Source: "kafka"}, nil); err != nil {
		t.Fatal(err)
	}
	if n := rec.open.Load(); n != 1 {
		t.Fatalf("%d reservations open under a hold after a decision, want 1", n)
	}
	s.ReleaseRecords()
	if n := rec.open.Load(); n != 0 {
		t.Fatalf("%d reservations open after the hold, want 0", n)
	}
	plain := auditServer(t, Audit{Recorder: &memRecorder{}})
	plain.HoldRecords()
	plain.ReleaseRecords()
}

// instantReserver is an instantRecorder that takes reservations.
type instantReserver struct {
	instantRecorder
	open atomic.Int64
}

func (r *instantReserver) Reserve() { r.open.Add(1) }
func (r *instantReserver) Release() { r.open.Add(-1) }

// TestReservationAllocs: reserving adds no allocation to a decision.
func TestReservationAllocs(t *testing.T) {
	plain := recorderAllocs(t, &instantRecorder{})
	res := &instantReserver{}
	reserving := recorderAllocs(t, res)
	if res.n == 0 {
		t.Fatal("no decision was recorded")
	}
	if reserving > plain {
		t.Errorf("%.2f allocations per decision with reservations, %.2f without", reserving, plain)
	}
	if n := res.open.Load(); n != 0 {
		t.Fatalf("%d reservations left open", n)
	}
}
