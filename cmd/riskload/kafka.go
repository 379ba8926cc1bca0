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
	"strconv"
	"strings"
	"time"

	"github.com/riskforge/riskforge/api"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaCmd compares riskd's two doors on the same policy: `riskd consume`
// draining a topic preloaded with events (decisions/s from its metrics),
// and `riskd serve` under the closed-loop HTTP load. The broker is kfake,
// franz-go's in-process Kafka, running inside riskload (no real broker
// runs on this machine), so it shares the CPUs with riskd.
func kafkaCmd(args []string, stdout, stderr io.Writer) int {
	var f loadFlags
	fs := f.flagSet("riskload kafka", stderr)
	riskd := fs.String("riskd", "bin/riskd", "riskd `binary`")
	events := fs.Int("events", 200000, "events preloaded into the topic")
	parts := fs.Int("partitions", 4, "partitions of the events topic")
	if fs.Parse(args) != nil {
		return 2
	}
	if err := f.check(); err != nil || *events < 100 || *parts < 1 {
		fmt.Fprintf(stderr, "riskload kafka: bad flags (--events at least 100, --partitions at least 1): %v\n", err)
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "riskload kafka: %v\n", err); return 1 }
	prog, err := loadPolicy(f.policy)
	if err != nil {
		return fail(err)
	}
	bodies := genBodies(prog, f.bodies, 1, f.dist)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(*parts), "events"), kfake.SeedTopics(int32(*parts), "decisions", "dlq"))
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	if err := preload(c.ListenAddrs(), bodies.raw, *events); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "riskload kafka: %s (%s); %d events in %d partitions of an in-process kfake broker (it shares the CPUs)\n", prog, f.policy, *events, *parts)
	fmt.Fprintf(stdout, "load average before: %s (other processes on the machine share its CPUs and skew the figures)\n\n", loadAvg())
	kr, err := consumeRate(*riskd, f.policy, c.ListenAddrs()[0], *events, stderr)
	if err != nil {
		return fail(err)
	}
	hr, err := driveRiskd(*riskd, f, bodies, "riskd HTTP", nil, stderr)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "%-16s %10s %12s %12s\n", "path", "decisions", "decisions/s", "CPU/decision")
	fmt.Fprintf(stdout, "%-16s %10d %12.0f %12s\n", "riskd consume", kr.n, kr.rate(), fmtDur(kr.cpuPer()))
	fmt.Fprintf(stdout, "%-16s %10d %12.0f %12s   (p99 %s, %d connections)\n", "riskd HTTP", hr.requests, hr.rate(), fmtDur(hr.cpuPerReq()), fmtDur(hr.pct(99)), f.conns)
	fmt.Fprintf(stdout, "consume / HTTP decisions/s: %.2f; riskd CPU per decision consume / HTTP: %.2f\n", kr.rate()/hr.rate(), float64(kr.cpuPer())/float64(max(hr.cpuPerReq(), 1)))
	fmt.Fprintf(stdout, "load average after: %s\n", loadAvg())
	if hr.errors > 0 {
		return 1
	}
	return 0
}

// preload writes n events, keyed by their user_id, cycling through bodies.
func preload(brokers []string, bodies [][]byte, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("events"), kgo.MaxBufferedRecords(1<<16))
	if err != nil {
		return err
	}
	defer cl.Close()
	keys := make([][]byte, len(bodies))
	for i, b := range bodies {
		raw, _ := api.Feature(b, "user_id")
		var key string
		if json.Unmarshal(raw, &key) != nil {
			key = string(raw) // a number, or none
		}
		keys[i] = []byte(key)
	}
	ctx := context.Background()
	var perr error
	for i := range n {
		j := i % len(bodies)
		cl.Produce(ctx, &kgo.Record{Key: keys[j], Value: bodies[j]}, func(_ *kgo.Record, err error) {
			if err != nil && perr == nil {
				perr = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return perr
}

// consumed is what riskd consume measured.
type consumed struct {
	n   int
	dur time.Duration
	cpu time.Duration
}

func (c consumed) rate() float64         { return float64(c.n) / c.dur.Seconds() }
func (c consumed) cpuPer() time.Duration { return c.cpu / time.Duration(max(c.n, 1)) }

// consumeRate starts riskd consume on the preloaded topic and measures
// from 1% of the events decided (the group is joined, the process warm)
// to all of them.
func consumeRate(bin, policy, broker string, n int, stderr io.Writer) (consumed, error) {
	dir, err := os.MkdirTemp("", "riskload-kafka-")
	if err != nil {
		return consumed{}, err
	}
	defer os.RemoveAll(dir)
	abs, _ := filepath.Abs(policy)
	cfg := filepath.Join(dir, "riskd.yaml")
	yaml := fmt.Sprintf("policies:\n  - path: %s\nserver:\n  addr: 127.0.0.1:0\nreload:\n  watch: false\nkafka:\n  brokers: [%s]\n  group: riskload\n  topics: [events]\n  output_topic: decisions\n  dead_letter_topic: dlq\n", abs, broker)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		return consumed{}, err
	}
	rd := exec.Command(bin, "consume", "--config", cfg, "--log-format", "json", "--log-level", "info")
	addr, err := startChild(rd, true, stderr)
	if err != nil {
		return consumed{}, fmt.Errorf("riskd consume: %w", err)
	}
	defer stopChild(rd)
	metrics := "http://" + addr + "/metrics"
	var t1 time.Time
	var c1 int
	var cpu1 time.Duration
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		got, err := kafkaRecords(metrics)
		if err != nil {
			return consumed{}, err
		}
		now := time.Now()
		if t1.IsZero() && got >= n/100 {
			t1, c1, cpu1 = now, got, processCPU(rd.Process.Pid)
		}
		if got >= n {
			return consumed{n: got - c1, dur: now.Sub(t1), cpu: processCPU(rd.Process.Pid) - cpu1}, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return consumed{}, fmt.Errorf("riskd consume did not decide %d events within 10 minutes", n)
}

// kafkaRecords sums riskforge_kafka_records_total from riskd's metrics.
func kafkaRecords(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "riskforge_kafka_records_total{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += v
		}
	}
	return int(total), sc.Err()
}
