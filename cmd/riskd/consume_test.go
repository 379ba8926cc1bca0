package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskforge/riskforge/audit"
)

// TestKafkaConsumeCommand runs the real `riskd consume` against an
// in-process Kafka (kfake): events in, decisions and dead letters out,
// the Kafka metrics on /metrics, a clean stop on SIGTERM; with
// --audit-dir every decision is in the audit log (endpoint kafka) and the
// log verifies.
func TestKafkaConsumeCommand(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "events", "decisions", "dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	abs, _ := filepath.Abs("../../examples/loan")
	cfg := filepath.Join(dir, "riskd.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`policies:
  - path: %s
server:
  addr: 127.0.0.1:0
reload:
  watch: false
kafka:
  brokers: [%s]
  group: riskd
  topics: [events]
  output_topic: decisions
  dead_letter_topic: dlq
`, abs, c.ListenAddrs()[0])), 0o644)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("events"),
		kgo.ConsumeTopics("decisions", "dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	for i := range 10 {
		u := fmt.Sprintf("k%d", i%3)
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(u), Value: loanRequest(u)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.ProduceSync(ctx, &kgo.Record{Key: []byte("x"), Value: []byte(`not json`)})

	auditDir := filepath.Join(dir, "audit")
	cmd := exec.Command(riskdBin, "consume", "--config", cfg, "--log-format", "json", "--audit-dir", auditDir)
	logs := &syncBuffer{}
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(logs, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	defer func() {
		if t.Failed() {
			t.Logf("riskd log:\n%s", logs)
		}
	}()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				addrc <- rec.Addr
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("riskd consume exited: %v", err)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("riskd consume did not listen within 30s")
	}
	got := map[string]int{}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for got["decisions"]+got["dlq"] < 11 && pctx.Err() == nil {
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) { got[r.Topic]++ })
	}
	if got["decisions"] != 10 || got["dlq"] != 1 {
		t.Errorf("records out: %v; want 10 decisions and 1 dead letter", got)
	}
	p := &proc{base: "http://" + addr, client: &http.Client{Timeout: 10 * time.Second}}
	// The counter moves when the brokers acknowledge a decision, which
	// can come after a reader already sees it: give it a moment.
	n := 0.0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if n = metric(t, p, `riskforge_kafka_records_total{result="decided",topic="events"}`); n == 10 {
			break
		}
	}
	if n != 10 {
		t.Errorf("riskforge_kafka_records_total decided = %v", n)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("riskd consume after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("riskd consume did not stop within 20s of SIGTERM")
	}
	if !strings.Contains(logs.String(), "kafka consumer stopped") {
		t.Errorf("no clean consumer stop in the log")
	}
	if code, out := runRiskd(t, "audit", "verify", auditDir); code != 0 {
		t.Fatalf("audit verify after consume: %d\n%s", code, out)
	}
	recorded := 0
	err = audit.ScanDecisions(auditDir, nil, func(it *audit.Item, d *audit.Decision) error {
		if d.Endpoint != "kafka" || d.Status != 200 || d.Decision == "" {
			return fmt.Errorf("record %d: %+v", it.Index, d)
		}
		recorded++
		return nil
	})
	if err != nil || recorded != 10 {
		t.Fatalf("%d kafka decisions in the audit log, want 10: %v", recorded, err)
	}
}
