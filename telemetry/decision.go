package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/riskforge/riskforge/server"
	"github.com/riskforge/riskforge/vm"
)

// Span attribute keys riskd sets on decision spans.
const (
	AttrSource    = attribute.Key("riskforge.source")
	AttrRequestID = attribute.Key("riskforge.request_id")
	AttrPolicy    = attribute.Key("riskforge.policy")
	AttrVersion   = attribute.Key("riskforge.version")
	AttrArm       = attribute.Key("riskforge.rollout.arm")
	AttrDecision  = attribute.Key("riskforge.decision")
	AttrScore     = attribute.Key("riskforge.score")
	AttrFired     = attribute.Key("riskforge.rules_fired")
	AttrDegraded  = attribute.Key("riskforge.degraded")
	AttrStatus    = attribute.Key("riskforge.status")
	AttrError     = attribute.Key("riskforge.error")
	AttrModel     = attribute.Key("riskforge.model")
	AttrWindow    = attribute.Key("riskforge.window")
)

// getter adapts a header reader to the propagator's carrier.
type getter func(string) string

func (g getter) Get(k string) string { return g(k) }
func (getter) Set(string, string)    {}
func (getter) Keys() []string        { return nil }

// setter adapts a header writer to the propagator's carrier.
type setter func(string, string)

func (setter) Get(string) string { return "" }
func (s setter) Set(k, v string) { s(k, v) }
func (setter) Keys() []string    { return nil }

// StartDecision implements server.Tracer. The span continues the trace
// of the request's traceparent header when it has one; it is a server
// span for HTTP, a consumer span for Kafka and an internal span for an
// item of a batch (the batch request is the server's work; its items
// are decided inside it, each a child of the batch's traceparent).
func (t *Tracer) StartDecision(ctx context.Context, source string, header func(string) string) server.DecisionTrace {
	if header != nil {
		ctx = t.prop.Extract(ctx, getter(header))
	}
	kind := trace.SpanKindServer
	switch source {
	case "kafka":
		kind = trace.SpanKindConsumer
	case "batch":
		kind = trace.SpanKindInternal
	}
	ctx, span := t.tr.Start(ctx, "decide", trace.WithSpanKind(kind), trace.WithAttributes(AttrSource.String(source)))
	if !span.IsRecording() {
		span.End()
		return nil
	}
	return &decision{t: t, ctx: ctx, span: span}
}

// decision is the trace of one sampled decision.
type decision struct {
	t    *Tracer
	ctx  context.Context
	span trace.Span
}

func (d *decision) Phase(name string) func() {
	_, sp := d.t.tr.Start(d.ctx, name)
	return func() { sp.End() }
}

func (d *decision) TraceID() string { return d.span.SpanContext().TraceID().String() }

// Inject writes the decision span's traceparent with set (the Kafka
// consumer puts it on the decision record).
func (d *decision) Inject(set func(k, v string)) { d.t.prop.Inject(d.ctx, setter(set)) }

func (d *decision) End(o server.Outcome) {
	attrs := []attribute.KeyValue{AttrRequestID.String(o.RequestID), AttrStatus.Int(o.Status)}
	if o.Policy != "" {
		attrs = append(attrs, AttrPolicy.String(o.Policy), AttrVersion.String(o.Version), AttrArm.String(o.Arm))
	}
	if o.Decision != "" {
		attrs = append(attrs, AttrDecision.String(o.Decision), AttrScore.Float64(o.Score), AttrFired.Int(o.Fired), AttrDegraded.Bool(o.Degraded))
	}
	if o.Error != "" {
		attrs = append(attrs, AttrError.String(o.Error))
	}
	d.span.SetAttributes(attrs...)
	if o.Status >= 500 { // a refused request (4xx) is the client's error, not ours
		d.span.SetStatus(codes.Error, o.Error)
	}
	d.span.End()
}

func (d *decision) Models(prog *vm.Program, r vm.ModelRunner) vm.ModelRunner {
	if r == nil {
		return nil
	}
	return &modelSpans{d: d, r: r, prog: prog}
}

func (d *decision) Windows(prog *vm.Program, w vm.WindowStore) vm.WindowStore {
	if w == nil {
		return nil
	}
	return &windowSpans{d: d, w: w, prog: prog}
}

// modelSpans makes every model call a span.
type modelSpans struct {
	d    *decision
	r    vm.ModelRunner
	prog *vm.Program
}

func (m *modelSpans) Predict(model int, features []float32) (float64, error) {
	name := ""
	if model >= 0 && model < len(m.prog.Models) {
		name = m.prog.Models[model].Name
	}
	_, sp := m.d.t.tr.Start(m.d.ctx, "model", trace.WithAttributes(AttrModel.String(name)))
	v, err := m.r.Predict(model, features)
	if err != nil {
		sp.RecordError(err)
		sp.SetStatus(codes.Error, err.Error())
	}
	sp.End()
	return v, err
}

// windowSpans makes each request's window update (one store call for all
// of its windows) a span (keys are not recorded: they are usually
// customer ids).
type windowSpans struct {
	d    *decision
	w    vm.WindowStore
	prog *vm.Program
}

func (ws *windowSpans) Observe(obs []vm.WindowObs, out []float64) error {
	name := ""
	if len(ws.prog.Windows) == 1 {
		name = ws.prog.Windows[0].Name
	}
	_, sp := ws.d.t.tr.Start(ws.d.ctx, "window", trace.WithAttributes(AttrWindow.String(name)))
	err := ws.w.Observe(obs, out)
	if err != nil {
		sp.RecordError(err)
		sp.SetStatus(codes.Error, err.Error())
	}
	sp.End()
	return err
}

// headerGetter is a carrier for tests and callers holding a map.
var _ propagation.TextMapCarrier = getter(nil)
