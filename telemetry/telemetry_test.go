package telemetry

import (
	"context"
	"encoding/hex"
	"net"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/riskforge/riskforge/server"
	"github.com/riskforge/riskforge/server/config"
)

func TestOTelResolve(t *testing.T) {
	half := 0.5
	cases := []struct {
		name    string
		cfg     config.Tracing
		env     map[string]string
		want    Settings
		wantErr string
	}{
		{"off by default", config.Tracing{}, nil, Settings{Protocol: "http/protobuf", Ratio: 1}, ""},
		{"config on", config.Tracing{Exporter: "otlp", Endpoint: "http://c:4318", SampleRatio: &half}, nil,
			Settings{On: true, Protocol: "http/protobuf", Endpoint: "http://c:4318", Ratio: 0.5}, ""},
		{"env on, grpc", config.Tracing{}, map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			Settings{On: true, Protocol: "grpc", Ratio: 1}, ""},
		{"traces protocol wins", config.Tracing{Protocol: "grpc"}, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			Settings{Protocol: "http/protobuf", Ratio: 1}, ""},
		{"env none beats config", config.Tracing{Exporter: "otlp"}, map[string]string{"OTEL_TRACES_EXPORTER": "none"},
			Settings{Protocol: "http/protobuf", Ratio: 1}, ""},
		{"sdk disabled", config.Tracing{Exporter: "otlp"}, map[string]string{"OTEL_SDK_DISABLED": "true"},
			Settings{Protocol: "http/protobuf", Ratio: 1}, ""},
		{"env endpoint beats config", config.Tracing{Exporter: "otlp", Endpoint: "http://c:4318"}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://e:4318", "OTEL_TRACES_SAMPLER": "always_on"},
			Settings{On: true, Protocol: "http/protobuf", Ratio: 1, Sampler: "always_on"}, ""},
		{"zipkin refused", config.Tracing{}, map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, Settings{}, "riskd exports traces with otlp"},
		{"bad protocol", config.Tracing{}, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, Settings{}, "http/protobuf and grpc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Resolve(c.cfg, func(k string) string { return c.env[k] })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Resolve = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

// grpcReceiver is an in-process OTLP/gRPC trace receiver.
type grpcReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (g *grpcReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			g.spans = append(g.spans, ss.Spans...)
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// TestOTelKafkaGRPC: a decision from Kafka (Server.Decide) continues the
// record's traceparent as a consumer span, hands its own traceparent to
// the produced record, and reaches an OTLP/gRPC receiver; with ratio 0 a
// decision without a sampled parent is not traced at all.
func TestOTelKafkaGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rcv := &grpcReceiver{}
	gs := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(gs, rcv)
	go gs.Serve(ln)
	defer gs.Stop()
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
	tr, err := New(context.Background(), Settings{On: true, Protocol: "grpc", Endpoint: "http://" + ln.Addr().String(), Ratio: 0}, "test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Policies = []config.Policy{{Path: "../examples/loan"}}
	srv, err := server.New(server.Options{Config: cfg, Tracer: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	body := []byte(`{"event":"loan_apply","features":{"user_id":"u1","device_id":"d1","ip_country":"DE","residence_country":"DE","age":41,"amount":5000,"term_months":24,"income":2800,"existing_debt":150,"bureau_score":720,"account_opened":"2021-05-01T00:00:00Z","ts":"2026-03-01T10:00:00Z"}}`)
	const traceID, parentID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	in := map[string]string{"traceparent": "00-" + traceID + "-" + parentID + "-01"}
	out := map[string]string{}
	if _, err := srv.Decide(context.Background(), server.DecideRequest{Body: body, Source: "kafka",
		Header: func(k string) string { return in[k] }, SetHeader: func(k, v string) { out[k] = v }}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Decide(context.Background(), server.DecideRequest{Body: body, Source: "kafka",
		SetHeader: func(k, v string) { t.Errorf("an unsampled decision set header %s", k) }}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var root *tracepb.Span
	for _, sp := range rcv.spans {
		if hex.EncodeToString(sp.TraceId) != traceID {
			t.Errorf("span %s of another trace %x (the unsampled decision must not export)", sp.Name, sp.TraceId)
		}
		if sp.Name == "decide" {
			root = sp
		}
	}
	if root == nil {
		t.Fatalf("no decide span among %d", len(rcv.spans))
	}
	if root.Kind != tracepb.Span_SPAN_KIND_CONSUMER || hex.EncodeToString(root.ParentSpanId) != parentID {
		t.Errorf("decide span kind %v parent %x; want a consumer span under %s", root.Kind, root.ParentSpanId, parentID)
	}
	if want := "00-" + traceID + "-" + hex.EncodeToString(root.SpanId) + "-01"; out["traceparent"] != want {
		t.Errorf("traceparent for the output record = %q, want %q", out["traceparent"], want)
	}
}
