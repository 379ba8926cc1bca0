package stream

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskforge/riskforge/audit"
	"github.com/riskforge/riskforge/server"
	"github.com/riskforge/riskforge/server/config"
)

// gatedRecorder holds every record's durability until the gate opens,
// counting how many records it has let through.
type gatedRecorder struct {
	log  *audit.Log
	gate chan struct{}
	done atomic.Int64
}

func (g *gatedRecorder) AppendRef(rid string, d *audit.Dict, body []byte) func() error {
	wait := g.log.AppendRef(rid, d, body)
	return func() error {
		<-g.gate
		err := wait()
		if err == nil {
			g.done.Add(1)
		}
		return err
	}
}

// auditedServer is a server on examples/loan recording into rec.
func auditedServer(t *testing.T, rec server.DecisionRecorder) *server.Server {
	t.Helper()
	cfg := config.Default()
	cfg.Policies = []config.Policy{{Path: "../examples/loan"}}
	srv, err := server.New(server.Options{Config: cfg, Audit: server.Audit{Recorder: rec}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// TestKafkaDecisionsAreAudited: with the audit log on, every decision
// the consumer makes is in the log (endpoint kafka, its request id, the
// rollout arm, status 200), and none is produced before its record is
// durable; events that cannot be decided are dead-lettered, not
// recorded; the log verifies.
func TestKafkaDecisionsAreAudited(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(t.TempDir(), "audit")
	l, err := audit.Open(audit.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rec := &gatedRecorder{log: l, gate: make(chan struct{})}
	f.srv = auditedServer(t, rec)
	const good = 12
	for i := range good {
		user := "a" + strconv.Itoa(i%3)
		v := event(user, i)
		if i == 4 {
			v = []byte(strings.Replace(string(v), `"event":"loan_apply",`, `"event":"loan_apply","request_id":"kafka-req-4",`, 1))
		}
		f.produce(t, &kgo.Record{Key: []byte(user), Value: v})
	}
	f.produce(t, &kgo.Record{Key: []byte("bad"), Value: []byte(`{"event":"loan_apply","features":{"age":"old"}}`)})
	stop := f.start(t, f.k, prometheus.NewRegistry())

	// The bad event is dead-lettered while the records are held; no
	// decision may be produced before its record is durable.
	f.read(t, "dlq", 1)
	cl := f.client(t, kgo.ConsumeTopics("decisions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	early := cl.PollFetches(ctx).Records()
	cancel()
	if len(early) > 0 {
		t.Fatalf("%d decisions were produced while their audit records were not durable", len(early))
	}
	close(rec.gate)
	out := f.read(t, "decisions", good)
	if len(out) != good {
		t.Fatalf("%d decisions, want %d", len(out), good)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := rec.done.Load(); n != good {
		t.Fatalf("%d records made durable, want %d", n, good)
	}
	if _, err := audit.Verify(dir, nil); err != nil {
		t.Fatal(err)
	}
	byID := map[string]*audit.Decision{}
	err = audit.ScanDecisions(dir, nil, func(it *audit.Item, d *audit.Decision) error {
		byID[d.RequestID] = d
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(byID) != good {
		t.Fatalf("%d decision records, want %d (the dead-lettered event has none)", len(byID), good)
	}
	for _, r := range out {
		var resp struct {
			RequestID string `json:"request_id"`
			Decision  string `json:"decision"`
		}
		if err := json.Unmarshal(r.Value, &resp); err != nil {
			t.Fatal(err)
		}
		d := byID[resp.RequestID]
		if d == nil {
			t.Fatalf("decision %s (source %s) is not in the audit log", resp.RequestID, header(r, HeaderSource))
		}
		if d.Endpoint != "kafka" || d.Arm != "champion" || d.Status != 200 || d.Decision != resp.Decision || d.Policy != "loan_apply" {
			t.Fatalf("record of %s: %+v (produced decision %s)", resp.RequestID, d, resp.Decision)
		}
	}
	if byID["kafka-req-4"] == nil {
		t.Fatalf("the event's own request_id is not the record's id: %v", keys(byID))
	}
}

// TestKafkaAuditFailureStopsWithoutCommit: when the audit log fails (an
// fsync error), the consumer stops with an error; no decision is
// produced, nothing is dead-lettered and no offset is committed, so a
// member started after the failure decides every event.
func TestKafkaAuditFailureStopsWithoutCommit(t *testing.T) {
	for _, eos := range []bool{false, true} {
		t.Run("exactly_once="+strconv.FormatBool(eos), func(t *testing.T) {
			f := newFixture(t)
			k := f.k
			if eos {
				k.ExactlyOnce, k.TransactionalID = true, "riskd-audit-test"
			}
			const n = 8
			for i := range n {
				f.produce(t, &kgo.Record{Key: []byte("k" + strconv.Itoa(i)), Value: event("k"+strconv.Itoa(i), i)})
			}
			l, err := audit.Open(audit.Options{Dir: t.TempDir(), FS: &audit.FaultFS{FS: audit.OS, SyncsOK: 0}, Sync: audit.SyncAlways})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			f.srv = auditedServer(t, l)
			err = f.runUntilError(t, k, "the audit log failed")
			if !errors.Is(err, server.ErrNotRecorded) || !errors.Is(err, audit.ErrInjected) || !strings.Contains(err.Error(), "not committed") {
				t.Fatalf("Run with a failing audit log: %v", err)
			}
			// Nothing produced, nothing dead-lettered.
			cl := f.client(t, kgo.ConsumeTopics("decisions", "dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			got := cl.PollFetches(ctx).Records()
			cancel()
			if len(got) > 0 {
				t.Fatalf("%d records on %s after the audit failure", len(got), got[0].Topic)
			}
			// No offset committed: a new member with a working log decides
			// every event.
			l2, err := audit.Open(audit.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			f.srv = auditedServer(t, l2)
			stop := f.start(t, k, prometheus.NewRegistry())
			if got := f.read(t, "decisions", n); len(got) != n {
				t.Fatalf("after the failure: %d decisions, want all %d", len(got), n)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func keys(m map[string]*audit.Decision) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
