// Package telemetry traces riskd's decisions with OpenTelemetry. It owns
// the tracer provider and its OTLP exporter (HTTP or gRPC), configured by
// the standard OTEL_* environment variables or riskd's tracing section,
// and implements server.Tracer: one span per decision, with the decode
// and rules phases, every model call and every window update as
// children, W3C trace context taken from HTTP headers and Kafka record
// headers, and the policy, version, decision, degraded flag and rollout
// arm as attributes. Off (the default) nothing here runs.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/riskforge/riskforge/server/config"
)

// Tracer is riskd's OpenTelemetry tracer; it implements server.Tracer.
type Tracer struct {
	tp   *sdktrace.TracerProvider
	tr   trace.Tracer
	prop propagation.TextMapPropagator
	desc string
}

// Settings are the effective tracing settings after the environment.
type Settings struct {
	On       bool
	Protocol string  // http/protobuf or grpc
	Endpoint string  // "" : the exporter's default or OTEL_EXPORTER_OTLP_*ENDPOINT
	Ratio    float64 // used unless OTEL_TRACES_SAMPLER is set
	Sampler  string  // OTEL_TRACES_SAMPLER when set
}

// Resolve merges the config with the environment: OTEL_SDK_DISABLED,
// OTEL_TRACES_EXPORTER (otlp or none), OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL
// and OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT win over the config.
func Resolve(c config.Tracing, getenv func(string) string) (Settings, error) {
	s := Settings{On: c.Exporter == "otlp", Protocol: c.Protocol, Endpoint: c.Endpoint, Ratio: 1}
	if c.SampleRatio != nil {
		s.Ratio = *c.SampleRatio
	}
	switch v := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); v {
	case "":
	case "otlp":
		s.On = true
	case "none":
		s.On = false
	default:
		return s, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: riskd exports traces with otlp (or none)", v)
	}
	if b, err := strconv.ParseBool(getenv("OTEL_SDK_DISABLED")); err == nil && b {
		s.On = false
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := getenv(k); v != "" {
			s.Protocol = v
			break
		}
	}
	if s.Protocol == "" {
		s.Protocol = "http/protobuf"
	}
	if s.Protocol != "http/protobuf" && s.Protocol != "grpc" {
		return s, fmt.Errorf("OTLP protocol %q: riskd speaks http/protobuf and grpc", s.Protocol)
	}
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		s.Endpoint = "" // the exporter reads the environment itself
	}
	s.Sampler = getenv("OTEL_TRACES_SAMPLER")
	return s, nil
}

// New builds the tracer the settings describe, or returns nil when
// tracing is off. The exporter reads the other OTEL_EXPORTER_OTLP_*
// variables (headers, timeout, certificates, compression), the batch
// processor the OTEL_BSP_* ones, the resource OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES; service.name defaults to riskd.
func New(ctx context.Context, s Settings, version string) (*Tracer, error) {
	if !s.On {
		return nil, nil
	}
	var exp sdktrace.SpanExporter
	var err error
	if s.Protocol == "grpc" {
		var opts []otlptracegrpc.Option
		if s.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(s.Endpoint))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	} else {
		var opts []otlptracehttp.Option
		if s.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(strings.TrimSuffix(s.Endpoint, "/")+"/v1/traces"))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP %s exporter: %w", s.Protocol, err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("riskd"), semconv.ServiceVersion(version)),
		resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	desc := fmt.Sprintf("otlp %s, sampler %s", s.Protocol, s.Sampler)
	if s.Sampler == "" { // otherwise the SDK reads OTEL_TRACES_SAMPLER[_ARG]
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(s.Ratio))))
		desc = fmt.Sprintf("otlp %s, parent-based ratio %g", s.Protocol, s.Ratio)
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return &Tracer{
		tp:   tp,
		tr:   tp.Tracer("github.com/riskforge/riskforge/telemetry"),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		desc: desc,
	}, nil
}

// FromEnv is Resolve with the process environment followed by New.
func FromEnv(ctx context.Context, c config.Tracing, version string) (*Tracer, error) {
	s, err := Resolve(c, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	return New(ctx, s, version)
}

// String describes the exporter and sampler for the start-up log.
func (t *Tracer) String() string { return t.desc }

// Shutdown flushes the spans still buffered and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error { return t.tp.Shutdown(ctx) }
