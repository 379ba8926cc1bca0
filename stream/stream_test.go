package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/server"
	"github.com/riskforge/riskforge/server/config"
)

func event(user string, i int) []byte {
	return fmt.Appendf(nil, `{"event":"loan_apply","features":{"user_id":%q,"device_id":"d-%s","ip_country":"DE","residence_country":"DE","age":41,"amount":%d,"term_months":24,"income":2800,"existing_debt":150,"bureau_score":720,"account_opened":"2021-05-01T00:00:00Z","ts":"2026-03-01T10:%02d:00Z"}}`, user, user, 1000+i, i%60)
}

// fixture is a kfake cluster, a riskd server on examples/loan and the
// kafka settings that connect them.
type fixture struct {
	cluster *kfake.Cluster
	k       config.Kafka
	srv     *server.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "events", "decisions"), kfake.SeedTopics(1, "dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := config.Default()
	cfg.Policies = []config.Policy{{Path: "../examples/loan"}}
	srv, err := server.New(server.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	k := cfg.Kafka
	k.Brokers, k.Group, k.Topics, k.OutputTopic, k.DeadLetterTopic = c.ListenAddrs(), "riskd", []string{"events"}, "decisions", "dlq"
	k.CommitInterval = config.Duration(100 * time.Millisecond)
	return &fixture{cluster: c, k: k, srv: srv}
}

func (f *fixture) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(f.k.Brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (f *fixture) produce(t *testing.T, recs ...*kgo.Record) {
	t.Helper()
	if err := f.client(t, kgo.DefaultProduceTopic("events")).ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// start runs a consumer until the test ends; the returned function stops
// it and returns Run's error.
func (f *fixture) start(t *testing.T, k config.Kafka, reg prometheus.Registerer, extra ...kgo.Opt) func() error {
	t.Helper()
	c, err := New(Options{Kafka: k, Decider: f.srv, Metrics: reg, ClientOpts: extra})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	var runErr error
	stop := func() error {
		if !stopped {
			cancel()
			runErr, stopped = <-done, true
		}
		return runErr
	}
	t.Cleanup(func() { stop() })
	return stop
}

// runUntilError runs a consumer that is expected to stop by itself
// because of the failure named by while, and returns Run's error.
func (f *fixture) runUntilError(t *testing.T, k config.Kafka, while string) error {
	t.Helper()
	c, err := New(Options{Kafka: k, Decider: f.srv, Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	select {
	case err = <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("Run did not stop within 20s while %s", while)
		return nil
	}
}

// read consumes topic from the start until n records arrived.
func (f *fixture) read(t *testing.T, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := f.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: %d of %d records within 20s", topic, len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	// Nothing more should come: duplicates would show here.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	out = append(out, cl.PollFetches(ctx2).Records()...)
	return out
}

func header(r *kgo.Record, k string) string {
	for _, h := range r.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

// TestKafkaConsume: every event gets one decision keyed like it, per-key
// order holds, bad events go to the dead-letter topic with the reason
// and do not stop their partition, metrics count both, and a restarted
// member resumes from the committed offsets.
func TestKafkaConsume(t *testing.T) {
	f := newFixture(t)
	var recs []*kgo.Record
	for i := range 40 {
		user := "u" + strconv.Itoa(i%5)
		recs = append(recs, &kgo.Record{Key: []byte(user), Value: event(user, i)})
	}
	recs = append(recs,
		&kgo.Record{Key: []byte("u1"), Value: []byte(`{"event":"loan_apply","features":`)},
		&kgo.Record{Key: []byte("u2"), Value: []byte(`{"event":"nope","features":{}}`)},
		&kgo.Record{Key: []byte("u3"), Value: []byte(`{"event":"loan_apply","features":{"user_id":"u3","amount":"lots"}}`)})
	recs = append(recs, &kgo.Record{Key: []byte("u1"), Value: event("u1", 99)})
	f.produce(t, recs...)

	reg := prometheus.NewRegistry()
	k := f.k
	k.MaxBufferedRecords = 4 // many small batches: backpressure and commits in between
	stop := f.start(t, k, reg)
	decisions := f.read(t, "decisions", 41)
	dead := f.read(t, "dlq", 3)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(decisions) != 41 || len(dead) != 3 {
		t.Fatalf("%d decisions and %d dead letters; want 41 and 3", len(decisions), len(dead))
	}
	lastOffset := map[string]int64{} // per key, the source offset of its previous decision
	for _, d := range decisions {
		var resp struct {
			RequestID string `json:"request_id"`
			Decision  string `json:"decision"`
			Policy    string `json:"policy"`
		}
		if err := json.Unmarshal(d.Value, &resp); err != nil || resp.Decision == "" || resp.Policy != "loan_apply" {
			t.Fatalf("decision record %s: %v", d.Value, err)
		}
		src := header(d, HeaderSource)
		if resp.RequestID != src {
			t.Errorf("request_id %q, want the event's topic/partition/offset %q", resp.RequestID, src)
		}
		parts := strings.Split(src, "/")
		off, _ := strconv.ParseInt(parts[2], 10, 64)
		if prev, ok := lastOffset[string(d.Key)]; ok && off <= prev {
			t.Errorf("key %s: decision of offset %d after offset %d (per-key order broken)", d.Key, off, prev)
		}
		lastOffset[string(d.Key)] = off
	}
	reasons := map[string]string{}
	for _, d := range dead {
		reasons[header(d, HeaderStatus)+" "+header(d, HeaderErrorField)] = header(d, HeaderError)
		if header(d, HeaderSource) == "" || len(d.Value) == 0 {
			t.Errorf("dead letter without its source or value: %v", d)
		}
	}
	for _, want := range []string{"400 body", "400 event", "400 features.amount"} {
		if reasons[want] == "" {
			t.Errorf("no dead letter %q among %v", want, reasons)
		}
	}
	if n := testutil.ToFloat64(mustVec(t, reg, "riskforge_kafka_records_total", "decided", "events")); n != 41 {
		t.Errorf("records_total{decided} = %v", n)
	}

	// A new member of the group resumes after the committed offsets:
	// only the new event is decided.
	f.produce(t, &kgo.Record{Key: []byte("u9"), Value: event("u9", 1)})
	stop = f.start(t, f.k, prometheus.NewRegistry())
	decisions = f.read(t, "decisions", 42)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(decisions) != 42 {
		t.Errorf("after a restart: %d decisions, want 42 (41 + the new one; more means uncommitted offsets)", len(decisions))
	}
}

func mustVec(t *testing.T, g prometheus.Gatherer, name string, labels ...string) prometheus.Collector {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			ok := true
			for i, l := range m.Label {
				if i < len(labels) && l.GetValue() != labels[i] {
					ok = false
				}
			}
			if ok {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
				c.Add(m.GetCounter().GetValue() + m.GetGauge().GetValue())
				return c
			}
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return nil
}

// TestKafkaProduceFailure: when the brokers refuse the decisions, Run
// fails without committing, and the next member decides every event:
// nothing acknowledged is lost.
func TestKafkaProduceFailure(t *testing.T) {
	f := newFixture(t)
	for i := range 6 {
		f.produce(t, &kgo.Record{Key: []byte("k" + strconv.Itoa(i)), Value: event("k"+strconv.Itoa(i), i)})
	}
	var failing atomic.Bool
	failing.Store(true)
	f.cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.KeepControl()
		if !failing.Load() {
			return nil, nil, false
		}
		pr := req.(*kmsg.ProduceRequest)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = tp.Topic, tp.TopicID
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.InvalidRecord.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	err := f.runUntilError(t, f.k, "every produce failed")
	if err == nil || !strings.Contains(err.Error(), "not committed") {
		t.Fatalf("Run with failing produce: %v; want an error saying the offsets are not committed", err)
	}
	failing.Store(false)
	stop := f.start(t, f.k, prometheus.NewRegistry())
	if got := f.read(t, "decisions", 6); len(got) != 6 {
		t.Errorf("after the failure: %d decisions, want all 6", len(got))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestKafkaExactlyOnce: with transactions the decisions and the offsets
// commit together; a read_committed reader sees each decision once, and a
// restarted member does not decide committed events again.
func TestKafkaExactlyOnce(t *testing.T) {
	f := newFixture(t)
	for i := range 20 {
		f.produce(t, &kgo.Record{Key: []byte("e" + strconv.Itoa(i%4)), Value: event("e"+strconv.Itoa(i%4), i)})
	}
	f.produce(t, &kgo.Record{Key: []byte("bad"), Value: []byte(`[]`)})
	k := f.k
	k.ExactlyOnce, k.TransactionalID, k.MaxBufferedRecords = true, "riskd-test-1", 3
	reg := prometheus.NewRegistry()
	stop := f.start(t, k, reg)
	if got := f.read(t, "decisions", 20); len(got) != 20 {
		t.Fatalf("%d decisions, want 20", len(got))
	}
	if got := f.read(t, "dlq", 1); len(got) != 1 {
		t.Fatalf("%d dead letters, want 1", len(got))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	f.produce(t, &kgo.Record{Key: []byte("e9"), Value: event("e9", 1)})
	stop = f.start(t, k, prometheus.NewRegistry())
	if got := f.read(t, "decisions", 21); len(got) != 21 {
		t.Errorf("after a restart: %d decisions, want 21", len(got))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestKafkaExport: a time range of a topic comes out as JSON Lines in
// timestamp order across partitions, records outside the range and
// non-JSON values left out (the latter counted), and the lines read as
// backtest requests.
func TestKafkaExport(t *testing.T) {
	f := newFixture(t)
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range 10 {
		u := "x" + strconv.Itoa(i%3)
		f.produce(t, &kgo.Record{Key: []byte(u), Value: event(u, i), Timestamp: base.Add(time.Duration(i) * time.Minute)})
	}
	f.produce(t, &kgo.Record{Key: []byte("x1"), Value: []byte("garbage"), Timestamp: base.Add(5*time.Minute + time.Second)})
	var buf bytes.Buffer
	st, err := Export(context.Background(), []kgo.Opt{kgo.SeedBrokers(f.k.Brokers...)},
		ExportRange{Topic: "events", Since: base.Add(3 * time.Minute), Until: base.Add(8 * time.Minute)}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if st.Written != 5 || st.Skipped != 1 || len(lines) != 5 || !strings.Contains(st.FirstSkip, "events/") {
		t.Fatalf("stats %+v, %d lines:\n%s", st, len(lines), buf.String())
	}
	for i, l := range lines {
		if want := fmt.Sprintf(`"amount":%d,`, 1003+i); !strings.Contains(l, want) {
			t.Errorf("line %d is %s; want the event with %s (time order)", i, l, want)
		}
	}
	src, err := os.ReadFile("../examples/loan/loan.risk")
	if err != nil {
		t.Fatal(err)
	}
	prog, _, _, err := compiler.Load("../examples/loan/loan.risk", src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "events.jsonl")
	os.WriteFile(path, buf.Bytes(), 0o644)
	r, err := dataset.Open(path, prog, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	reqs, _, err := r.ReadAll()
	if err != nil || len(reqs) != 5 {
		t.Errorf("the backtest reader read %d requests (%v), want 5", len(reqs), err)
	}
}
