package main

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpHTTP is an in-process OTLP/HTTP receiver: it decodes every
// POST /v1/traces and keeps the spans.
type otlpHTTP struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	srv   *httptest.Server
}

func newOTLPHTTP(t *testing.T) *otlpHTTP {
	r := &otlpHTTP{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP receiver: %s %s (%s)", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		body, _ := io.ReadAll(req.Body)
		var ex coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &ex); err != nil {
			t.Errorf("OTLP receiver: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.add(&ex)
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpHTTP) add(ex *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range ex.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			r.spans = append(r.spans, ss.Spans...)
		}
	}
}

// setExporterEnv points the riskd processes the test starts at r: OTLP
// over HTTP, spans exported 50ms after they end rather than the default
// 5s, so that the tests wait little.
func (r *otlpHTTP) setExporterEnv(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
}

func (r *otlpHTTP) snapshot() []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.Span(nil), r.spans...)
}

// waitDecideSpans waits until the receiver holds n "decide" spans and
// returns every span it holds then.
func (r *otlpHTTP) waitDecideSpans(t *testing.T, what string, n int) []*tracepb.Span {
	t.Helper()
	var spans []*tracepb.Span
	waitFor(t, what, 10*time.Second, func() bool {
		spans = r.snapshot()
		got := 0
		for _, sp := range spans {
			if sp.Name == "decide" {
				got++
			}
		}
		return got == n
	})
	return spans
}

// spanAttrs flattens a span's attributes to strings.
func spanAttrs(sp *tracepb.Span) map[string]any {
	m := map[string]any{}
	for _, kv := range sp.Attributes {
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_BoolValue:
			m[kv.Key] = v.BoolValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = v.IntValue
		case *commonpb.AnyValue_DoubleValue:
			m[kv.Key] = v.DoubleValue
		}
	}
	return m
}

// TestOTelTraces: riskd with OTEL_TRACES_EXPORTER=otlp sends a decision
// span that continues the caller's traceparent, with decode, rules, model
// and window spans as children and the decision's attributes; the trace
// id reaches the decision log and the latency exemplar.
func TestOTelTraces(t *testing.T) {
	rcv := newOTLPHTTP(t)
	rcv.setExporterEnv(t)
	t.Setenv("OTEL_SERVICE_NAME", "riskd-test")
	p := startRiskd(t, "--policy", "../../examples/loan_ml", "--watch", "false", "--log-level", "debug")
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	code, _, m := p.do(t, "POST", "/v1/decide", loanRequest("otel"), map[string]string{"traceparent": "00-" + traceID + "-" + parentID + "-01"})
	if code != 200 {
		t.Fatalf("decide: %d %v", code, m)
	}
	code, _, _ = p.do(t, "POST", "/v1/decide", []byte(`{"event":"nope","features":{}}`), map[string]string{"traceparent": "00-" + traceID + "-" + parentID + "-01"})
	if code != 400 {
		t.Fatalf("bad event: %d", code)
	}
	spans := rcv.waitDecideSpans(t, "spans at the OTLP receiver", 2)
	var root, refused *tracepb.Span
	for _, sp := range spans {
		if hex.EncodeToString(sp.TraceId) != traceID {
			t.Errorf("span %s has trace id %x, want the caller's %s", sp.Name, sp.TraceId, traceID)
		}
		if sp.Name == "decide" {
			if spanAttrs(sp)["riskforge.status"] == int64(200) {
				root = sp
			} else {
				refused = sp
			}
		}
	}
	if root == nil || refused == nil {
		t.Fatalf("want one decided and one refused decide span: %v", spans)
	}
	if hex.EncodeToString(root.ParentSpanId) != parentID || root.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("decide span: parent %x kind %v, want parent %s (the traceparent) and a server span", root.ParentSpanId, root.Kind, parentID)
	}
	a := spanAttrs(root)
	want := map[string]any{"riskforge.policy": "loan_apply", "riskforge.version": m["version"], "riskforge.decision": m["decision"],
		"riskforge.degraded": false, "riskforge.rollout.arm": "champion", "riskforge.source": "http", "riskforge.request_id": m["request_id"]}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("decide span attribute %s = %v, want %v", k, a[k], v)
		}
	}
	children := map[string]int{}
	for _, sp := range spans {
		if string(sp.ParentSpanId) == string(root.SpanId) {
			children[sp.Name]++
			if sp.Name == "model" && spanAttrs(sp)["riskforge.model"] == "" {
				t.Errorf("model span without the model name")
			}
		}
	}
	if children["decode"] != 1 || children["rules"] != 1 || children["model"] < 1 || children["window"] != 1 {
		t.Errorf("children of the decide span: %v; want decode, rules, the model calls and 3 windows", children)
	}
	if e := spanAttrs(refused)["riskforge.error"]; e == nil || refused.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("refused span: error attribute %v, status %v (a 4xx is not a server error)", e, refused.Status)
	}
	waitFor(t, "the decision log with the trace id", 5*time.Second, func() bool {
		return containsAll(p.logs.String(), `"msg":"decision"`, `"trace_id":"`+traceID+`"`)
	})
	_, body := p.getOpenMetrics(t)
	if !containsAll(body, `trace_id="`+traceID+`"`) {
		t.Errorf("no latency exemplar with the trace id in /metrics")
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// getOpenMetrics reads /metrics in the OpenMetrics format (the one that
// carries exemplars).
func (p *proc) getOpenMetrics(t *testing.T) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.base+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// TestOTelBatchItems: each item of a batch is a decision span of its own
// (source batch), a child of the batch request's traceparent, with the
// item's request id (the batch's id and the item's index, or the item's
// own request_id) and its own decode, lookups, rules, model and window
// children; a refused item's span carries the error.
func TestOTelBatchItems(t *testing.T) {
	rcv := newOTLPHTTP(t)
	rcv.setExporterEnv(t)
	dev := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"reputation":0.9}`))
	}))
	defer dev.Close()
	// loan_ml with a device lookup, so items fetch too.
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/loan_ml/loan_ml.risk")
	if err != nil {
		t.Fatal(err)
	}
	models, _ := filepath.Abs("../../examples/models")
	pol := strings.ReplaceAll(string(src), `"../models/`, `"`+models+`/`)
	i := strings.Index(pol, "\nrule ")
	pol = pol[:i] + "\nlookup rep = http \"" + dev.URL + "/devices/{device_id}\" {\n  fields  [reputation float]\n  ttl     1m\n  timeout 5s\n}\n\n" +
		"rule bad_reputation\n  when exists(rep.reputation) and rep.reputation < 0.1\n  emit review reason \"bad device reputation\"\n" + pol[i:]
	os.MkdirAll(filepath.Join(dir, "lists"), 0o755)
	copyFile(t, "../../examples/loan_ml/lists/blocked_devices.txt", filepath.Join(dir, "lists", "blocked_devices.txt"))
	os.WriteFile(filepath.Join(dir, "loan_ml.risk"), []byte(pol), 0o644)
	p := startRiskd(t, "--policy", filepath.Join(dir, "loan_ml.risk"), "--watch", "false")

	const traceID, parentID = "5bf92f3577b34da6a3ce929d0e0e4737", "10f067aa0ba902b8"
	own := strings.Replace(string(loanRequest("b2")), `{"event"`, `{"request_id":"own-2","event"`, 1)
	body := "[" + string(loanRequest("b0")) + `,{"event":"nope","features":{}},` + own + "]"
	code, _, m := p.do(t, "POST", "/v1/decide/batch", []byte(body), map[string]string{"traceparent": "00-" + traceID + "-" + parentID + "-01", "X-Request-ID": "batch-7"})
	if code != 200 || m["errors"] != float64(1) {
		t.Fatalf("batch: %d %v", code, m)
	}
	spans := rcv.waitDecideSpans(t, "three decide spans at the OTLP receiver", 3)
	items := map[string]*tracepb.Span{}
	for _, sp := range spans {
		if hex.EncodeToString(sp.TraceId) != traceID {
			t.Errorf("span %s has trace id %x, want the batch's %s", sp.Name, sp.TraceId, traceID)
		}
		if sp.Name != "decide" {
			continue
		}
		a := spanAttrs(sp)
		if a["riskforge.source"] != "batch" || hex.EncodeToString(sp.ParentSpanId) != parentID || sp.Kind != tracepb.Span_SPAN_KIND_INTERNAL {
			t.Errorf("item span %v: source %v, parent %x, kind %v; want batch, the traceparent's %s, internal", a["riskforge.request_id"], a["riskforge.source"], sp.ParentSpanId, sp.Kind, parentID)
		}
		items[a["riskforge.request_id"].(string)] = sp
	}
	for _, rid := range []string{"batch-7-0", "batch-7-1", "own-2"} {
		sp := items[rid]
		if sp == nil {
			t.Fatalf("no decide span with request id %s: %v", rid, items)
		}
		children := map[string]int{}
		for _, c := range spans {
			if string(c.ParentSpanId) == string(sp.SpanId) {
				children[c.Name]++
			}
		}
		a := spanAttrs(sp)
		if rid == "batch-7-1" {
			if a["riskforge.status"] != int64(400) || a["riskforge.error"] == nil || children["decode"] != 1 || children["rules"] != 0 {
				t.Errorf("refused item: attributes %v, children %v", a, children)
			}
			continue
		}
		if a["riskforge.decision"] == nil || a["riskforge.policy"] != "loan_apply" || a["riskforge.status"] != int64(200) {
			t.Errorf("item %s: attributes %v", rid, a)
		}
		if children["decode"] != 1 || children["lookups"] != 1 || children["rules"] != 1 || children["model"] < 1 || children["window"] != 1 {
			t.Errorf("children of item %s: %v; want decode, lookups, rules, the model calls and the window update", rid, children)
		}
	}
}
