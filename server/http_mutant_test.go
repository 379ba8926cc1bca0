package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/riskforge/riskforge/internal/gm"
	"github.com/riskforge/riskforge/server/config"
	"github.com/riskforge/riskforge/vm"
)

// serveReq sends one request through the server's handler and returns
// the recorder and the body decoded as a JSON object (nil when the body
// is not one).
func serveReq(t *testing.T, s *Server, method, target string, body io.Reader, hdr ...string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	var m map[string]any
	json.Unmarshal(w.Body.Bytes(), &m)
	return w, m
}

// veloServer serves the test policy with extra YAML config lines.
func veloServer(t *testing.T, extra string) *Server {
	t.Helper()
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\n"+extra)
	return s
}

// isUUID reports whether id looks like newRequestID's output.
func isUUID(id string) bool {
	return len(id) == 36 && id[8] == '-' && id[14] == '4'
}

// TestPrecheckRefusals: both decision endpoints refuse another method
// with 405 and Allow: POST, and a bad X-Request-ID with a 400 naming the
// header, answered under a new request id rather than the bad one.
func TestPrecheckRefusals(t *testing.T) {
	s := veloServer(t, "")
	for _, path := range []string{"/v1/decide", "/v1/decide/batch"} {
		w, m := serveReq(t, s, "GET", path, nil, "X-Request-ID", "mine")
		if w.Code != 405 || w.Header().Get("Allow") != "POST" || m["code"] != "method_not_allowed" || !strings.Contains(fmt.Sprint(m["error"]), "use POST") {
			t.Errorf("GET %s: %d Allow %q %v", path, w.Code, w.Header().Get("Allow"), m)
		}
		if got := w.Header().Get("X-Request-ID"); got != "mine" {
			t.Errorf("GET %s answered under request id %q, want the client's", path, got)
		}
		for _, bad := range []string{strings.Repeat("x", 129), "tab\there", "del\x7f"} {
			w, m = serveReq(t, s, "POST", path, strings.NewReader(pay("u", 1)), "X-Request-ID", bad)
			rid := w.Header().Get("X-Request-ID")
			if w.Code != 400 || m["field"] != "X-Request-ID" || !isUUID(rid) || m["request_id"] != rid {
				t.Errorf("POST %s with X-Request-ID %q: %d (id %q) %v", path, bad, w.Code, rid, m)
			}
		}
		// 128 printable characters are a valid id, echoed back.
		ok := strings.Repeat("~", 127) + " "
		w, m = serveReq(t, s, "POST", path, strings.NewReader(pay("u", 1)), "X-Request-ID", ok)
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("X-Request-ID"), ok[:127]) {
			t.Errorf("POST %s with a 128-character id: %d %q %v", path, w.Code, w.Header().Get("X-Request-ID"), m)
		}
	}
	// No id: the server makes one, for decisions as for refusals.
	for _, body := range []string{pay("u", 1), `{"event":"pay","features":{"user_id":"u","amount":-1}}`} {
		w, m := serveReq(t, s, "POST", "/v1/decide", strings.NewReader(body))
		if rid := w.Header().Get("X-Request-ID"); !isUUID(rid) || m["request_id"] != rid {
			t.Errorf("no X-Request-ID (%s): %d id %q %v", body, w.Code, rid, m)
		}
	}
}

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestBodyReadRefusals: a declared or sent body over the limit is a 413
// naming the limit; a body that cannot be read is a 400, one that times
// out a 408; a body of exactly the limit is read.
func TestBodyReadRefusals(t *testing.T) {
	s := veloServer(t, "limits:\n  max_body_bytes: 200\n")
	exact := pay("u", 1)
	exact = exact[:len(exact)-1] + strings.Repeat(" ", 200-len(exact)) + "}"
	if len(exact) != 200 {
		t.Fatalf("test body is %d bytes", len(exact))
	}
	over := exact[:len(exact)-1] + " }"
	cases := []struct {
		name   string
		body   io.Reader
		length int64 // -1: unknown (chunked)
		status int
		msg    string
	}{
		{"exactly the limit", strings.NewReader(exact), 200, 200, ""},
		{"exactly the limit, chunked", strings.NewReader(exact), -1, 200, ""},
		{"declared over", strings.NewReader(exact), 201, 413, "larger than the limit of 200 bytes"},
		{"sent over, chunked", strings.NewReader(over), -1, 413, "larger than the limit of 200 bytes"},
		{"sent over, declared less", strings.NewReader(over), 100, 413, "larger than the limit of 200 bytes"},
		{"read error", errReader{errors.New("connection reset")}, -1, 400, "could not be read: connection reset"},
		{"deadline", errReader{os.ErrDeadlineExceeded}, -1, 408, "not received within the request timeout"},
		{"net timeout", errReader{timeoutErr{}}, -1, 408, "not received within the request timeout"},
		{"empty", strings.NewReader("  \n"), 3, 400, "empty; send a JSON object"},
	}
	for _, c := range cases {
		req := httptest.NewRequest("POST", "/v1/decide", c.body)
		req.ContentLength = c.length
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		var m map[string]any
		json.Unmarshal(w.Body.Bytes(), &m)
		if w.Code != c.status || (c.msg != "" && (m["field"] != "body" || !strings.Contains(fmt.Sprint(m["error"]), c.msg))) {
			t.Errorf("%s: %d %v, want %d %q", c.name, w.Code, m, c.status, c.msg)
		}
	}
}

// TestReadBodyGrowsPastTheDeclaredLength: a body longer than its
// declared length (up to the limit) and one longer than the first
// buffer are read whole.
func TestReadBodyGrowsPastTheDeclaredLength(t *testing.T) {
	s := veloServer(t, "")
	data := bytes.Repeat([]byte("a"), 70<<10)
	for _, declared := range []int64{-1, 0, 10, 64 << 10, 70 << 10} {
		req := httptest.NewRequest("POST", "/v1/decide", bytes.NewReader(data))
		req.ContentLength = declared
		got, herr := s.readBody(req, nil, 1<<20)
		if herr != nil || !bytes.Equal(got, data) {
			t.Errorf("declared %d: read %d bytes, %v", declared, len(got), herr)
		}
	}
	// A buffer with room is used as it is.
	buf := make([]byte, 0, 100)
	req := httptest.NewRequest("POST", "/v1/decide", strings.NewReader("0123456789"))
	got, herr := s.readBody(req, buf, 50)
	if herr != nil || string(got) != "0123456789" || &got[0] != &buf[:1][0] {
		t.Errorf("read %q (%v) into another buffer", got, herr)
	}
}

// TestReadBodyAllocations: a declared length is read into one buffer
// of that size plus one byte, so the read that sees the end needs no
// second buffer.
func TestReadBodyAllocations(t *testing.T) {
	if allocs := readBodyAllocs(t, veloServer(t, ""), nil); allocs != 1 {
		t.Errorf("readBody of a 3000-byte body with its length declared: %v allocations, want 1", allocs)
	}
}

// TestPutWorkDropsLargeBuffers: buffers up to 1 MiB go back to the pool
// emptied; a larger one is let go. A pool may drop any item (the race
// detector drops some on purpose), so a kept buffer must come back in
// one of several tries and a dropped one in none.
func TestPutWorkDropsLargeBuffers(t *testing.T) {
	s := veloServer(t, "")
	for _, c := range []struct {
		in, out int
		kept    bool
	}{{1 << 20, 1 << 20, true}, {1<<20 + 1, 10, false}, {10, 1<<20 + 1, false}} {
		back := false
		for try := 0; try < 20 && !back; try++ {
			wk := &work{in: make([]byte, 5, c.in), out: make([]byte, 7, c.out)}
			s.putWork(wk)
			for g, _ := s.work.Get().(*work); g != nil; g, _ = s.work.Get().(*work) {
				if g == wk {
					back = true
					if len(wk.in) != 0 || len(wk.out) != 0 {
						t.Errorf("a pooled buffer kept its contents (%d, %d bytes)", len(wk.in), len(wk.out))
					}
				}
			}
		}
		if back != c.kept {
			t.Errorf("caps %d/%d: kept %v, want %v", c.in, c.out, back, c.kept)
		}
	}
}

// TestStatusEndpoints: liveness, readiness (503 until the server
// listens), unknown paths, and the Connection: close of a draining server.
func TestStatusEndpoints(t *testing.T) {
	s := veloServer(t, "reload:\n  watch: false\n")
	w, m := serveReq(t, s, "GET", "/healthz", nil)
	if w.Code != 200 || m["status"] != "alive" || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Connection") != "" {
		t.Errorf("healthz: %d %v %v", w.Code, m, w.Header())
	}
	w, m = serveReq(t, s, "GET", "/readyz", nil)
	if w.Code != 503 || m["ready"] != false || m["generation"] != float64(1) {
		t.Errorf("readyz before Serve: %d %v", w.Code, m)
	}
	s.serving.Store(true) // what Serve sets once it listens
	w, m = serveReq(t, s, "GET", "/readyz", nil)
	if w.Code != 200 || m["ready"] != true {
		t.Errorf("readyz while serving: %d %v", w.Code, m)
	}
	w, m = serveReq(t, s, "DELETE", "/v1/nope", nil)
	if w.Code != 404 || m["code"] != "not_found" || !strings.Contains(fmt.Sprint(m["error"]), "no endpoint DELETE /v1/nope; endpoints: POST /v1/decide") || !isUUID(w.Header().Get("X-Request-ID")) {
		t.Errorf("unknown path: %d %v", w.Code, m)
	}
	s.draining.Store(true)
	w, _ = serveReq(t, s, "GET", "/healthz", nil)
	if w.Header().Get("Connection") != "close" {
		t.Errorf("draining: Connection %q, want close", w.Header().Get("Connection"))
	}
	s.draining.Store(false)
	s.serving.Store(false)
}

// TestReloadEndpoint: POST only; 403 without an admin token configured,
// 401 (with WWW-Authenticate) with a wrong one, 200 with the policies on
// success, 422 when the new policy does not compile.
func TestReloadEndpoint(t *testing.T) {
	off := veloServer(t, "")
	w, m := serveReq(t, off, "POST", "/v1/admin/reload", nil, "Authorization", "Bearer x")
	if w.Code != 403 || !strings.Contains(fmt.Sprint(m["error"]), "the admin API is disabled") {
		t.Errorf("reload without an admin token: %d %v", w.Code, m)
	}

	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\nserver:\n  admin_token: sekrit\nreload:\n  watch: false\n")
	w, m = serveReq(t, s, "GET", "/v1/admin/reload", nil, "Authorization", "Bearer sekrit", "X-Request-ID", "r-get")
	if w.Code != 405 || w.Header().Get("Allow") != "POST" || w.Header().Get("X-Request-ID") != "r-get" {
		t.Errorf("GET reload: %d %v %v", w.Code, w.Header(), m)
	}
	w, m = serveReq(t, s, "POST", "/v1/admin/reload", nil, "Authorization", "Bearer wrong")
	if w.Code != 401 || m["field"] != "Authorization" || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("wrong token: %d %v %v", w.Code, w.Header(), m)
	}
	writeTestPolicy(t, pdir, "velo.risk", "2", -2)
	w, m = serveReq(t, s, "POST", "/v1/admin/reload", nil, "Authorization", "Bearer sekrit", "X-Request-ID", "r-ok")
	pols, _ := m["policies"].([]any)
	if w.Code != 200 || m["result"] != "success" || len(pols) != 1 || w.Header().Get("X-Request-ID") != "r-ok" {
		t.Errorf("reload: %d %v", w.Code, m)
	}
	os.WriteFile(pdir+"/velo.risk", []byte("policy velo version \"3\"\nrule x when nope emit reject reason \"x\"\n"), 0o644)
	w, m = serveReq(t, s, "POST", "/v1/admin/reload", nil, "Authorization", "Bearer sekrit")
	if w.Code != 422 || m["result"] != "failure" || m["policies"] != nil || !isUUID(w.Header().Get("X-Request-ID")) {
		t.Errorf("failed reload: %d %v", w.Code, m)
	}
}

// TestBatchRefusals: what refuses a whole batch (a body that is not a
// batch, an unknown policy) and what refuses one item (a bad request
// id inside it, an event time out of range) while the others are decided.
func TestBatchRefusals(t *testing.T) {
	s := veloServer(t, "")
	w, m := serveReq(t, s, "POST", "/v1/decide/batch", strings.NewReader(`[{"event":"pay"`))
	if w.Code != 400 || m["field"] != "body" {
		t.Errorf("truncated array: %d %v", w.Code, m)
	}
	w, m = serveReq(t, s, "POST", "/v1/decide/batch?policy=nope", strings.NewReader(pay("u", 1)))
	if w.Code != 400 && w.Code != 404 || !strings.Contains(fmt.Sprint(m["error"]), "nope") {
		t.Errorf("unknown policy: %d %v", w.Code, m)
	}
	body := pay("a", 1) + "\n" + `{"event":"pay","request_id":"bad\u0001id","features":{"user_id":"b","amount":1}}` + "\n" +
		`{"event":"pay","request_id":"own-id","features":{"user_id":"c","amount":1}}`
	w, m = serveReq(t, s, "POST", "/v1/decide/batch", strings.NewReader(body), "X-Request-ID", "B")
	res, _ := m["results"].([]any)
	if w.Code != 200 || len(res) != 3 || m["errors"] != float64(1) || m["incomplete"] != false {
		t.Fatalf("batch with a bad item id: %d %v", w.Code, m)
	}
	first, second, third := res[0].(map[string]any), res[1].(map[string]any), res[2].(map[string]any)
	if first["request_id"] != "B-0" || first["decision"] == nil {
		t.Errorf("first item: %v", first)
	}
	if second["request_id"] != "B-1" || second["field"] != "request_id" || second["index"] != float64(1) || second["decision"] != nil {
		t.Errorf("item with a bad request_id: %v", second)
	}
	if third["request_id"] != "own-id" || third["decision"] == nil {
		t.Errorf("item with its own request_id: %v", third)
	}
}

// TestBatchItemEventTimeRefused: an item whose event time is outside
// the accepted range is refused on its own (an evaluation error), the
// other items are decided.
func TestBatchItemEventTimeRefused(t *testing.T) {
	pdir := t.TempDir()
	src := strings.Replace(strings.NewReplacer("VERSION", "1", "BIAS", "-2").Replace(testPolicy), "input {\n", "input {\n  ts time\n", 1)
	if err := os.WriteFile(pdir+"/velo.risk", []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\n")
	now := timeNowUnix()
	item := func(user string, ts int64) string {
		return fmt.Sprintf(`{"event":"pay","features":{"user_id":%q,"amount":1,"ts":%d}}`, user, ts)
	}
	w, m := serveReq(t, s, "POST", "/v1/decide/batch", strings.NewReader(item("a", now)+"\n"+item("b", 1000)+"\n"+item("c", now)))
	res, _ := m["results"].([]any)
	if w.Code != 200 || len(res) != 3 || m["errors"] != float64(1) {
		t.Fatalf("batch with an old event: %d %v", w.Code, m)
	}
	bad := res[1].(map[string]any)
	if bad["field"] != "features.ts" || bad["code"] != "invalid_request" || !strings.Contains(fmt.Sprint(bad["error"]), "outside the accepted range") {
		t.Errorf("old event: %v", bad)
	}
	if res[2].(map[string]any)["decision"] == nil {
		t.Errorf("the item after the refused one: %v", res[2])
	}
	// The same on /v1/decide is a 400.
	w, m = serveReq(t, s, "POST", "/v1/decide", strings.NewReader(item("b", 1000)))
	if w.Code != 400 || m["field"] != "features.ts" {
		t.Errorf("decide with an old event: %d %v", w.Code, m)
	}
}

// TestEvalError: an unknown event is a 400 on "event", a field error a
// 400 on its field, anything else a 500.
func TestEvalError(t *testing.T) {
	cases := []struct {
		err    error
		status int
		field  string
	}{
		{fmt.Errorf("x: %w", vm.ErrUnknownEvent), 400, "event"},
		{fmt.Errorf("wrapped: %w", &vm.FieldError{Field: "amount", Input: true, Msg: "too big"}), 400, "features.amount"},
		{errors.New("boom"), 500, ""},
	}
	for _, c := range cases {
		he := evalError(c.err)
		if he.status != c.status || he.field != c.field {
			t.Errorf("evalError(%v) = %d %q %q, want %d %q", c.err, he.status, he.field, he.msg, c.status, c.field)
		}
	}
	if he := evalError(errors.New("boom")); he.msg != "evaluation failed: boom" || he.code() != "internal" {
		t.Errorf("evalError(boom) = %+v", he)
	}
	if he := fieldError(errors.New("not a field error")); he.status != 400 || he.field != "body" || he.msg != "not a field error" {
		t.Errorf("fieldError(plain) = %+v", he)
	}
}

// logRecords is a slog.Handler that keeps records.
type logRecords struct {
	recs *[]slog.Record
	lvl  slog.Level
}

func (h logRecords) Enabled(_ context.Context, l slog.Level) bool { return l >= h.lvl }
func (h logRecords) Handle(_ context.Context, r slog.Record) error {
	*h.recs = append(*h.recs, r)
	return nil
}
func (h logRecords) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logRecords) WithGroup(string) slog.Handler      { return h }

// attrs returns a record's attributes as strings.
func attrs(r slog.Record) map[string]string {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

// TestWriteErrorLogs: a refusal is logged at warn, a server error (500
// and up) at error, with the field when there is one and the remote
// address; logIt false logs nothing.
func TestWriteErrorLogs(t *testing.T) {
	s := veloServer(t, "")
	var recs []slog.Record
	s.log = slog.New(logRecords{recs: &recs, lvl: slog.LevelDebug})
	req := httptest.NewRequest("POST", "/v1/decide", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	for _, c := range []struct {
		e     *httpError
		level slog.Level
	}{
		{&httpError{status: 499, msg: "client"}, slog.LevelWarn},
		{&httpError{status: 500, field: "f", msg: "server"}, slog.LevelError},
	} {
		recs = recs[:0]
		w := httptest.NewRecorder()
		s.writeError(w, req, epDecide, c.e, "rid", true)
		if len(recs) != 1 || recs[0].Level != c.level {
			t.Fatalf("status %d: %d records %v", c.e.status, len(recs), recs)
		}
		a := attrs(recs[0])
		if a["status"] != fmt.Sprint(c.e.status) || a["request_id"] != "rid" || a["remote"] != "192.0.2.1:1234" || a["endpoint"] != "decide" || a["field"] != c.e.field && c.e.field != "" {
			t.Errorf("status %d: logged %v", c.e.status, a)
		}
		if _, ok := a["field"]; ok != (c.e.field != "") {
			t.Errorf("status %d: field logged %v, want %v", c.e.status, ok, c.e.field != "")
		}
	}
	recs = recs[:0]
	s.writeError(httptest.NewRecorder(), nil, epDecide, &httpError{status: 400, msg: "quiet"}, "", false)
	if len(recs) != 0 {
		t.Errorf("logIt false logged %v", recs)
	}
}

// panicTracer panics when a decision starts, standing for any panic
// inside a handler.
type panicTracer struct{ v any }

func (p panicTracer) StartDecision(context.Context, string, func(string) string) DecisionTrace {
	panic(p.v)
}

// TestPanicIsA500: a panic while serving is a 500 with the request id
// and an error log; http.ErrAbortHandler is passed on, so the connection
// is dropped as net/http does.
func TestPanicIsA500(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	cfg := mustConfig(t, "policies:\n  - path: "+pdir+"\n")
	var recs []slog.Record
	s, err := New(Options{Config: cfg, Tracer: panicTracer{"kaboom"}, Logger: slog.New(logRecords{recs: &recs, lvl: slog.LevelInfo})})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, path := range []string{"/v1/decide", "/v1/decide/batch"} {
		recs = recs[:0]
		w, m := serveReq(t, s, "POST", path, strings.NewReader(pay("u", 1)), "X-Request-ID", "p1")
		if w.Code != 500 || m["code"] != "internal" || m["request_id"] != "p1" {
			t.Errorf("%s: %d %v", path, w.Code, m)
		}
		found := false
		for _, r := range recs {
			if r.Message == "panic while serving a request" && r.Level == slog.LevelError && attrs(r)["panic"] == "kaboom" && attrs(r)["request_id"] == "p1" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no panic log in %v", path, recs)
		}
	}
	s2, err := New(Options{Config: cfg, Tracer: panicTracer{http.ErrAbortHandler}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler passed on", p)
		}
	}()
	serveReq(t, s2, "POST", "/v1/decide", strings.NewReader(pay("u", 1)))
	t.Error("ErrAbortHandler did not reach the caller")
}

func timeNowUnix() int64 { return time.Now().Unix() }

// mustConfig loads a configuration from YAML text.
func mustConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	path := t.TempDir() + "/riskd.yaml"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestBatchBodyMayNestOneDeeper: the array around batch items is one
// level the whole-body guard allows on top of limits.max_json_depth;
// each item is still held to the limit itself.
func TestBatchBodyMayNestOneDeeper(t *testing.T) {
	s := veloServer(t, "limits:\n  max_json_depth: 3\n")
	item := pay("u", 1) // two levels: the request and its features
	w, m := serveReq(t, s, "POST", "/v1/decide/batch", strings.NewReader("["+item+","+item+"]"))
	if w.Code != 200 || m["errors"] != float64(0) {
		t.Errorf("array of two-level items: %d %v", w.Code, m)
	}
	at := `{"event":"pay","features":{"user_id":"u","amount":1,"x":[1]}}` // three levels
	w, m = serveReq(t, s, "POST", "/v1/decide/batch", strings.NewReader("["+at+"]"))
	res, _ := m["results"].([]any)
	if w.Code != 200 || len(res) != 1 || strings.Contains(fmt.Sprint(res[0]), "nests deeper") {
		t.Errorf("array of an item at the limit: %d %v", w.Code, m)
	}
	deep := `{"event":"pay","features":{"user_id":"u","amount":1,"x":[[1]]}}` // four levels
	w, m = serveReq(t, s, "POST", "/v1/decide/batch", strings.NewReader("["+deep+"]"))
	if w.Code != 400 || !strings.Contains(fmt.Sprint(m["error"]), "nests deeper than 4 levels") {
		t.Errorf("array of an item one level too deep: %d %v", w.Code, m)
	}
	w, m = serveReq(t, s, "POST", "/v1/decide/batch", strings.NewReader(item+"\n"+deep+"\n"), "Content-Type", "application/x-ndjson")
	res, _ = m["results"].([]any)
	if w.Code != 200 || len(res) != 2 || m["errors"] != float64(1) || !strings.Contains(fmt.Sprint(res[1]), "nests deeper than 3 levels") {
		t.Errorf("JSON Lines with an item one level too deep: %d %v", w.Code, m)
	}
}

// TestBatchDeadlineCountsEveryItem: every item not evaluated before the
// deadline is an error of the batch, and the refusals are logged once.
func TestBatchDeadlineCountsEveryItem(t *testing.T) {
	s := veloServer(t, "limits:\n  request_timeout: 1ns\n")
	var recs []slog.Record
	s.log = slog.New(logRecords{recs: &recs, lvl: slog.LevelInfo})
	w, m := serveReq(t, s, "POST", "/v1/decide/batch", strings.NewReader(pay("a", 1)+"\n"+pay("b", 1)+"\n"+pay("c", 1)))
	if w.Code != 200 || m["count"] != float64(3) || m["errors"] != float64(3) || m["incomplete"] != true {
		t.Fatalf("batch past its deadline: %d %v", w.Code, m)
	}
	n := 0
	for _, r := range recs {
		if r.Message == "batch events refused" {
			n++
			if a := attrs(r); a["errors"] != "3" || a["count"] != "3" || a["incomplete"] != "true" {
				t.Errorf("logged %v", a)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d logs of refused batch events, want 1", n)
	}
	// A batch without refusals logs none.
	s2 := veloServer(t, "")
	recs = recs[:0]
	s2.log = slog.New(logRecords{recs: &recs, lvl: slog.LevelInfo})
	if w, m := serveReq(t, s2, "POST", "/v1/decide/batch", strings.NewReader(pay("a", 1))); w.Code != 200 || m["errors"] != float64(0) {
		t.Fatalf("batch: %d %v", w.Code, m)
	}
	for _, r := range recs {
		if r.Message == "batch events refused" {
			t.Errorf("a batch without refusals logged %v", attrs(r))
		}
	}
}

// scrape returns the server's /metrics text.
func scrape(t *testing.T, s *Server) string {
	t.Helper()
	w, _ := serveReq(t, s, "GET", "/metrics", nil)
	return w.Body.String()
}

// TestBatchItemsAreShadowed: each decided item of a batch is evaluated
// by the shadow version too; a refused one is not.
func TestBatchItemsAreShadowed(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "a.risk", "1", -2)
	writeTestPolicy(t, pdir, "b.risk", "2", 5)
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\nrollout:\n  velo:\n    champion: \"1\"\n    shadows:\n      - version: \"2\"\n")
	body := pay("a", 1) + "\n" + pay("b", -1) + "\n" + pay("c", 1)
	w, m := serveReq(t, s, "POST", "/v1/decide/batch", strings.NewReader(body))
	if w.Code != 200 || m["errors"] != float64(1) {
		t.Fatalf("batch: %d %v", w.Code, m)
	}
	want := `riskforge_shadow_decisions_total{action="reject",policy="velo",version="2"} 2`
	if got := scrape(t, s); !strings.Contains(got, want) {
		t.Errorf("metrics lack %s:\n%s", want, grepLines(got, "shadow"))
	}
}

// grepLines keeps the lines of text that contain sub.
func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestBatchItemsUseLookups: a batch item is enriched by the version's
// lookups as a single decision is.
func TestBatchItemsUseLookups(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/devices/bad" {
			w.Write([]byte(`{"reputation": 0.1}`))
			return
		}
		http.NotFound(w, r)
	}))
	defer ts.Close()
	dir := t.TempDir()
	os.WriteFile(dir+"/dev.risk", []byte(devicePolicy(ts.URL, "5s")), 0o644)
	s, _ := newTestServer(t, "policies:\n  - path: "+dir+"/dev.risk\n")
	w, m := serveReq(t, s, "POST", "/v1/decide/batch", strings.NewReader(`[{"features":{"device_id":"bad"}},{"features":{"device_id":"good"}}]`))
	res, _ := m["results"].([]any)
	if w.Code != 200 || len(res) != 2 {
		t.Fatalf("batch: %d %v", w.Code, m)
	}
	if d := res[0].(map[string]any)["decision"]; d != "reject" {
		t.Errorf("the bad device's item: %v", res[0])
	}
	if d := res[1].(map[string]any)["decision"]; d != "approve" {
		t.Errorf("the good device's item: %v", res[1])
	}
}

// TestReadBodyReusesABufferWithRoom: a buffer with room for the
// declared length plus the byte that sees the end is used as it is; one
// byte less and a new one is made.
func TestReadBodyReusesABufferWithRoom(t *testing.T) {
	s := veloServer(t, "")
	for _, c := range []struct {
		cap    int
		allocs float64
	}{{3001, 0}, {3000, 1}} {
		if allocs := readBodyAllocs(t, s, make([]byte, 0, c.cap)); allocs != c.allocs {
			t.Errorf("buffer of capacity %d: %v allocations, want %v", c.cap, allocs, c.allocs)
		}
	}
}

// TestBatchRequestSignature: with client keys, a batch body must be
// signed like a single request; an oversized batch is refused for its
// size before any signature is looked at.
func TestBatchRequestSignature(t *testing.T) {
	client, _ := gm.GenerateKey()
	s := auditServer(t, Audit{Recorder: &memRecorder{}, ClientKeys: []*gm.PublicKey{&client.PublicKey}})
	body := pay("a", 1) + "\n" + pay("b", 1)
	sig, _ := gm.Sign(client, []byte(body))
	w, m := serveReq(t, s, "POST", "/v1/decide/batch", strings.NewReader(body), HeaderRequestSignature, gm.FormatSignatureHeader(gm.KeyID(&client.PublicKey), sig))
	if w.Code != 200 || m["count"] != float64(2) {
		t.Errorf("signed batch: %d %v", w.Code, m)
	}
	w, m = serveReq(t, s, "POST", "/v1/decide/batch", strings.NewReader(body))
	if w.Code != 401 || m["field"] != HeaderRequestSignature {
		t.Errorf("unsigned batch: %d %v", w.Code, m)
	}
	s.lim.MaxBatchBodyBytes = 50
	w, m = serveReq(t, s, "POST", "/v1/decide/batch", strings.NewReader(body))
	if w.Code != 413 || !strings.Contains(fmt.Sprint(m["error"]), "larger than the limit of 50 bytes") {
		t.Errorf("oversized unsigned batch: %d %v", w.Code, m)
	}
}

// readBodyAllocs is the allocations of one s.readBody, into buf, of a
// 3,000-byte body whose length is declared.
func readBodyAllocs(t *testing.T, s *Server, buf []byte) float64 {
	t.Helper()
	data := bytes.Repeat([]byte("b"), 3000)
	rd := bytes.NewReader(data)
	req := httptest.NewRequest("POST", "/v1/decide", nil)
	req.Body = io.NopCloser(rd)
	req.ContentLength = int64(len(data))
	return testing.AllocsPerRun(50, func() {
		rd.Reset(data)
		got, herr := s.readBody(req, buf, 1<<20)
		if herr != nil || len(got) != len(data) {
			t.Fatalf("read %d bytes: %v", len(got), herr)
		}
	})
}
