package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riskforge/riskforge/server/config"
)

// TestHardeningSlowBodiesDoNotStarveSlots: clients that send headers
// announcing a large body and then one byte hold no evaluation slot, so
// a legitimate request is answered 200, not 429.
func TestHardeningSlowBodiesDoNotStarveSlots(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\nlimits:\n  max_inflight: 4\n  request_timeout: 5s\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	for i := 0; i < 40; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /v1/decide HTTP/1.1\r\nHost: riskd\r\nContent-Length: 100000\r\n\r\n{")
	}
	// Give the slow requests every chance to reach their handlers (and,
	// before the fix, take every slot).
	time.Sleep(300 * time.Millisecond)
	for i := 0; i < 5; i++ {
		resp, err := http.Post("http://"+ln.Addr().String()+"/v1/decide", "application/json", strings.NewReader(pay("alice", 1)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("with 40 slow bodies pending, a decision got %d: %s", resp.StatusCode, body)
		}
	}
}

// TestHardeningBatchDepthGuard: in JSON Lines, lines of closing brackets
// must not let a deeper item past max_json_depth (the guard used to go
// negative).
func TestHardeningBatchDepthGuard(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\nlimits:\n  max_json_depth: 5\n")
	deep := `{"event":"pay","features":{"user_id":"a","amount":1,"x":` + strings.Repeat("[", 20) + "1" + strings.Repeat("]", 20) + "}}"
	body := strings.Repeat("}\n", 30) + deep + "\n"
	req := httptest.NewRequest("POST", "/v1/decide/batch", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	var resp struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w.Code == 200 {
		last := resp.Results[len(resp.Results)-1]
		if msg, _ := last["error"].(string); !strings.Contains(msg, "nests deeper than 5") {
			t.Fatalf("the deep item got %v", last)
		}
	}
}

// FuzzBatchDepth: every JSON Lines or array item that passes the depth
// guard, and is JSON, nests at most max_json_depth deep, measured by
// encoding/json's tokenizer.
func FuzzBatchDepth(f *testing.F) {
	f.Add([]byte(strings.Repeat("}\n", 8)+`{"a":[[[[[[[[1]]]]]]]]}`), "application/x-ndjson")
	f.Add([]byte(`[{"a":[[1]]},{"b":{"c":{"d":{}}}}]`), "application/json")
	f.Add([]byte("\"\n{\"a\":[[[[[[[1]]]]]]]}\n"), "")
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		const depth = 4
		if len(bytes.TrimSpace(body)) == 0 || checkBody(body, depth+1) != nil {
			return
		}
		items, herr := splitBatch(body, ctype, 1000)
		if herr != nil {
			return
		}
		for _, item := range items {
			if checkBody(item, depth) != nil || !json.Valid(item) {
				continue
			}
			if d := tokenDepth(item); d > depth {
				t.Fatalf("item %q nests %d deep, over %d, and passed the guard", item, d, depth)
			}
		}
	})
}

// tokenDepth is the deepest nesting of a valid JSON value.
func tokenDepth(b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	d, max := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return max
		}
		if delim, ok := tok.(json.Delim); ok {
			if delim == '{' || delim == '[' {
				d++
				max = maxInt(max, d)
			} else {
				d--
			}
		}
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// TestHardeningEchoedValuesTruncated: a 60 KB X-Policy header is quoted
// in the error body and the log only in part.
func TestHardeningEchoedValuesTruncated(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	cfg := config.Default()
	cfg.Policies = []config.Policy{{Path: pdir}}
	var logBuf bytes.Buffer
	s, err := New(Options{Config: cfg, Logger: slog.New(slog.NewJSONHandler(&logBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	huge := strings.Repeat("x", 60<<10)
	for _, hdr := range [][2]string{{"X-Policy", huge}, {"X-Policy-Version", huge}} {
		logBuf.Reset()
		code, m := decide(t, s, pay("alice", 1), hdr[0], hdr[1], "Authorization", "Bearer "+s.adminToken)
		msg, _ := m["error"].(string)
		if code < 400 || len(msg) > 2048 || !strings.Contains(msg, "bytes)") {
			t.Errorf("%s of 60 KB: %d, error of %d bytes: %.200s", hdr[0], code, len(msg), msg)
		}
		sc := bufio.NewScanner(&logBuf)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if len(sc.Bytes()) > 4096 {
				t.Errorf("%s of 60 KB: a log line of %d bytes", hdr[0], len(sc.Bytes()))
			}
		}
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/"+huge, nil))
	if w.Body.Len() > 4096 {
		t.Errorf("404 for a 60 KB path: a body of %d bytes", w.Body.Len())
	}
}

// TestHardeningDuplicateKeysAndInvalidUTF8: a key given twice is refused
// whatever the order (the last one used to win), and invalid UTF-8 in a
// string feature is refused naming the field (it used to become U+FFFD,
// merging two different ids into one window key).
func TestHardeningDuplicateKeysAndInvalidUTF8(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\n")
	for _, c := range []struct{ body, field string }{
		{`{"event":"pay","features":{"user_id":"a","amount":1,"amount":500}}`, "features.amount"},
		{`{"event":"pay","features":{"user_id":"a","amount":500,"amount":1}}`, "features.amount"},
		{`{"event":"pay","features":{"user_id":"a","amount":1,"x":1,"x":2}}`, "features.x"},
		{`{"event":"pay","features":{"user_id":"a","amount":1,"x":{"y":1,"y":2}}}`, "features.x.y"},
		{`{"event":"pay","Event":"pay","features":{"user_id":"a","amount":1}}`, "Event"},
		{`{"event":"pay","features":{"user_id":"a","amount":1},"features":{"user_id":"b","amount":1}}`, "features"},
		{"{\"event\":\"pay\",\"features\":{\"user_id\":\"a\xff\",\"amount\":1}}", "features.user_id"},
		{"{\"event\":\"pay\",\"features\":{\"user_id\":\"a\xfe\",\"amount\":1}}", "features.user_id"},
		{"{\"event\":\"pay\",\"features\":{\"user_id\":\"a\",\"amount\":1,\"x\":\"\xff\"}}", "body"},
	} {
		code, m := decide(t, s, c.body)
		if code != 400 || m["field"] != c.field {
			t.Errorf("%q: %d %v, want 400 naming %s", c.body, code, m, c.field)
		}
	}
}
