package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpSink is an OTLP/HTTP trace receiver that counts spans and drops
// them: the cheapest collector riskd can export to.
type otlpSink struct {
	spans atomic.Int64
	url   string
}

func startSink() (*otlpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &otlpSink{url: "http://" + ln.Addr().String()}
	resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if proto.Unmarshal(body, &req) == nil {
			for _, rs := range req.ResourceSpans {
				for _, ss := range rs.ScopeSpans {
					s.spans.Add(int64(len(ss.Spans)))
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(resp)
	}))
	return s, nil
}

// otelCmd measures what tracing costs: riskd without tracing, then with
// OTLP export at each sampling ratio, the same load each time.
func otelCmd(args []string, stdout, stderr io.Writer) int {
	var f loadFlags
	fs := f.flagSet("riskload otel", stderr)
	riskd := fs.String("riskd", "bin/riskd", "riskd `binary`")
	ratios := fs.String("ratios", "0.01,1", "comma-separated sampling `ratios` to compare with tracing off")
	if fs.Parse(args) != nil {
		return 2
	}
	if err := f.check(); err != nil {
		fmt.Fprintf(stderr, "riskload otel: %v\n", err)
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "riskload otel: %v\n", err); return 1 }
	var rs []float64
	for _, s := range strings.Split(*ratios, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || r < 0 || r > 1 {
			fmt.Fprintf(stderr, "riskload otel: --ratios: %q is not a ratio in 0..1\n", s)
			return 2
		}
		rs = append(rs, r)
	}
	prog, err := loadPolicy(f.policy)
	if err != nil {
		return fail(err)
	}
	bodies := genBodies(prog, f.bodies, 1, f.dist)
	sink, err := startSink()
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "riskload otel: %s (%s), %d connections, closed loop on loopback; spans go to an in-process OTLP/HTTP sink\n", prog, f.policy, f.conns)
	fmt.Fprintf(stdout, "load average before: %s (other processes on the machine share its CPUs and skew the figures)\n\n", loadAvg())
	var results []*result
	var spans []int64
	for i := -1; i < len(rs); i++ {
		env := []string{"OTEL_TRACES_EXPORTER=none"}
		name := "tracing off"
		if i >= 0 {
			env = []string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_ENDPOINT=" + sink.url, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
				"OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=" + strconv.FormatFloat(rs[i], 'g', -1, 64)}
			name = fmt.Sprintf("ratio %g", rs[i])
		}
		before := sink.spans.Load()
		r, err := driveRiskd(*riskd, f, bodies, name, env, stderr)
		if err != nil {
			return fail(err)
		}
		results = append(results, r)
		spans = append(spans, sink.spans.Load()-before)
	}
	fmt.Fprintf(stdout, "%-12s %10s %8s %10s %9s %9s %9s %12s %10s\n", "riskd", "requests", "errors", "req/s", "p50", "p99", "max", "CPU/request", "spans")
	for i, r := range results {
		fmt.Fprintf(stdout, "%-12s %10d %8d %10.0f %9s %9s %9s %12s %10d\n", r.name, r.requests, r.errors, r.rate(),
			fmtDur(r.pct(50)), fmtDur(r.pct(99)), fmtDur(r.pct(100)), fmtDur(r.cpuPerReq()), spans[i])
	}
	for _, r := range results[1:] {
		fmt.Fprintf(stdout, "%s / tracing off: throughput %.2f, CPU per request %.2f\n", r.name, r.rate()/results[0].rate(),
			float64(r.cpuPerReq())/float64(max(results[0].cpuPerReq(), 1)))
	}
	fmt.Fprintf(stdout, "load average after: %s\n", loadAvg())
	return 0
}

// driveRiskd drives riskd serve on the policy with extra environment.
func driveRiskd(bin string, f loadFlags, bodies *bodySet, name string, env []string, stderr io.Writer) (*result, error) {
	r, _, err := driveServe(bin, f, bodies, name, env, stderr)
	return r, err
}
