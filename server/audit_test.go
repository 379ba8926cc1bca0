package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/riskforge/riskforge/audit"
	"github.com/riskforge/riskforge/internal/gm"
	"github.com/riskforge/riskforge/server/config"
)

// memRecorder keeps records in memory, as the JSON of their full view
// (the compact body expanded with its dictionary); fail makes every
// append fail.
type memRecorder struct {
	mu   sync.Mutex
	recs []string
	ids  []string
	fail error
}

func (m *memRecorder) AppendRef(rid string, dict *audit.Dict, body []byte) func() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return func() error { return m.fail }
	}
	var db []byte
	if dict != nil {
		db = dict.Body()
	}
	d, err := audit.DecodeDecision(rid, body, db)
	if err != nil {
		return func() error { return err }
	}
	j, err := json.Marshal(d)
	if err != nil {
		return func() error { return err }
	}
	m.recs, m.ids = append(m.recs, string(j)), append(m.ids, rid)
	return func() error { return nil }
}

func auditServer(t *testing.T, a Audit) *Server {
	t.Helper()
	dir := t.TempDir()
	writeTestPolicy(t, dir, "velo.risk", "v1", -3)
	cfg := config.Default()
	cfg.Policies = []config.Policy{{Path: dir}}
	s, err := New(Options{Config: cfg, Audit: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

const payBody = `{"event":"pay","request_id":"r-1","features":{"user_id":"u1","amount":150}}`

func TestDecisionsAreRecordedBeforeTheAnswer(t *testing.T) {
	rec := &memRecorder{}
	s := auditServer(t, Audit{Recorder: rec, Features: true, Mask: []string{"user_id"}})
	for range 4 {
		if code, m := decide(t, s, payBody); code != 200 {
			t.Fatalf("%d %v", code, m)
		}
	}
	if len(rec.recs) != 4 || rec.ids[3] != "r-1" {
		t.Fatalf("records %v", rec.ids)
	}
	// The record decodes into the documented schema, strictly.
	var d audit.Decision
	dec := json.NewDecoder(strings.NewReader(rec.recs[3]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%v\n%s", err, rec.recs[3])
	}
	sum := gm.SM3([]byte(payBody))
	if d.RequestID != "r-1" || d.Status != 200 || d.Policy != "velo" || d.Version != "v1" || d.Arm != "champion" || d.PolicyDigest == "" ||
		d.InputSM3 != hexs(sum[:]) || d.Decision != "review" || len(d.Rules) != 2 {
		t.Fatalf("record %+v", d)
	}
	if len(d.Windows) != 1 || d.Windows[0].Name != "tx_1h" || d.Windows[0].Key != "u1" || d.Windows[0].Value != 4 {
		t.Fatalf("windows %+v", d.Windows)
	}
	if string(d.Features["user_id"]) != `"[masked]"` || string(d.Features["amount"]) != "150" {
		t.Fatalf("features %s", d.Features)
	}
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestRecorderFailureIsA503(t *testing.T) {
	rec := &memRecorder{fail: errors.New("fsync: EIO")}
	s := auditServer(t, Audit{Recorder: rec})
	code, m := decide(t, s, payBody)
	if code != http.StatusServiceUnavailable || !strings.Contains(m["error"].(string), "not answered") {
		t.Fatalf("%d %v", code, m)
	}
	req := httptest.NewRequest("POST", "/v1/decide/batch", strings.NewReader("["+payBody+"]"))
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("batch: %d %s", w.Code, w.Body)
	}
}

func TestBatchItemsAreRecorded(t *testing.T) {
	rec := &memRecorder{}
	s := auditServer(t, Audit{Recorder: rec})
	req := httptest.NewRequest("POST", "/v1/decide/batch", strings.NewReader(`[`+payBody+`,{"event":"pay","features":{"user_id":"u2","amount":1}}]`))
	req.Header.Set("X-Request-ID", "b-1")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	if w.Code != 200 || len(rec.ids) != 2 || rec.ids[0] != "r-1" || rec.ids[1] != "b-1-1" {
		t.Fatalf("%d %v", w.Code, rec.ids)
	}
	var d audit.Decision
	json.Unmarshal([]byte(rec.recs[1]), &d)
	if d.BatchID != "b-1" || d.Index == nil || *d.Index != 1 || d.Endpoint != "batch" {
		t.Fatalf("%+v", d)
	}
}

func TestDecisionSignature(t *testing.T) {
	key, _ := gm.GenerateKey()
	s := auditServer(t, Audit{SigningKey: key})
	req := httptest.NewRequest("POST", "/v1/decide", strings.NewReader(payBody))
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	id, sig, err := gm.ParseSignatureHeader(w.Header().Get(HeaderDecisionSignature))
	if err != nil || id != gm.KeyID(&key.PublicKey) {
		t.Fatalf("header %q: %v", w.Header().Get(HeaderDecisionSignature), err)
	}
	kw := httptest.NewRecorder()
	s.Handler().ServeHTTP(kw, httptest.NewRequest("GET", DecisionKeyPath, nil))
	pub, err := gm.ParsePublicKey(kw.Body.Bytes())
	if err != nil {
		t.Fatalf("well-known key: %v (%d %s)", err, kw.Code, kw.Body)
	}
	d := gm.DecisionDigest([]byte(payBody), w.Body.Bytes())
	if !gm.Verify(pub, d[:], sig) {
		t.Fatal("decision signature does not verify")
	}
	tampered := gm.DecisionDigest([]byte(payBody), append(w.Body.Bytes(), 0x20))
	if gm.Verify(pub, tampered[:], sig) {
		t.Fatal("signature verifies over a changed response")
	}
}

func TestRequestSignatures(t *testing.T) {
	client, _ := gm.GenerateKey()
	stranger, _ := gm.GenerateKey()
	rec := &memRecorder{}
	s := auditServer(t, Audit{Recorder: rec, ClientKeys: []*gm.PublicKey{&client.PublicKey}})
	sign := func(k *gm.PrivateKey, body string) string {
		sig, _ := gm.Sign(k, []byte(body))
		return gm.FormatSignatureHeader(gm.KeyID(&k.PublicKey), sig)
	}
	cases := []struct {
		name, header, want string
		code               int
	}{
		{"good", sign(client, payBody), "", 200},
		{"missing", "", "missing", 401},
		{"malformed", "keyid=zz", "keyid must be", 401},
		{"unknown key", sign(stranger, payBody), "not a configured client key", 401},
		{"other body", sign(client, payBody+" "), "does not verify", 401},
	}
	for _, c := range cases {
		var hdr []string
		if c.header != "" {
			hdr = []string{HeaderRequestSignature, c.header}
		}
		code, m := decide(t, s, payBody, hdr...)
		if code != c.code {
			t.Errorf("%s: %d %v", c.name, code, m)
			continue
		}
		if c.code == 401 && (m["field"] != HeaderRequestSignature || !strings.Contains(m["error"].(string), c.want)) {
			t.Errorf("%s: %v", c.name, m)
		}
	}
	if len(rec.recs) != len(cases) {
		t.Fatalf("%d records for %d requests (refusals are recorded too)", len(rec.recs), len(cases))
	}
	var d audit.Decision
	json.Unmarshal([]byte(rec.recs[1]), &d)
	if d.Status != 401 || !strings.Contains(d.Error, "missing") {
		t.Fatalf("refusal record %+v", d)
	}
}

// TestAuditLogEndToEnd runs the server on a real audit log and verifies it.
func TestAuditLogEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	key, _ := gm.GenerateKey()
	l, err := audit.Open(audit.Options{Dir: dir, SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	s := auditServer(t, Audit{Recorder: l})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if code, m := decide(t, s, `{"event":"pay","features":{"user_id":"u1","amount":5}}`); code != 200 {
					t.Errorf("%d %v", code, m)
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// 100 decisions and the policy version's dictionary.
	rep, err := audit.Verify(dir, &key.PublicKey)
	if err != nil || rep.Records != 101 {
		t.Fatalf("%+v %v", rep, err)
	}
	decisions := 0
	err = audit.ScanDecisions(dir, nil, func(it *audit.Item, d *audit.Decision) error {
		if d.Policy == "" || d.Status != 200 || d.Endpoint != "decide" || d.RequestID != it.RequestID {
			return fmt.Errorf("record %d: %+v", it.Index, d)
		}
		decisions++
		return nil
	})
	if err != nil || decisions != 100 {
		t.Fatalf("%d decisions read back: %v", decisions, err)
	}
	if _, err := os.Stat(filepath.Join(dir, audit.PublicKeyFile)); err != nil {
		t.Fatal(err)
	}
}
