package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/riskforge/riskforge/internal/redistest"
)

// The window-state end-to-end tests: replay equality between serving and
// riskc eval, Redis shared by two processes, and restarts.

var (
	riskcOnce sync.Once
	riskcBin  string
	riskcErr  error
)

// buildRiskc builds the real riskc once for the tests that compare with it.
func buildRiskc(t *testing.T) string {
	riskcOnce.Do(func() {
		riskcBin = filepath.Join(filepath.Dir(riskdBin), "riskc")
		out, err := exec.Command("go", "build", "-o", riskcBin, "../riskc").CombinedOutput()
		if err != nil {
			riskcErr = fmt.Errorf("building riskc: %v\n%s", err, out)
		}
	})
	if riskcErr != nil {
		t.Fatal(riskcErr)
	}
	return riskcBin
}

// paymentTypes are the JSON types of the payments example's columns
// (everything else is a string); empty optional values are left out.
var paymentTypes = map[string]string{"mcc": "int", "amount": "num", "utc_offset_min": "int", "three_ds": "bool"}

func paymentRequest(header, row []string) []byte {
	var f []string
	event := ""
	for i, col := range header {
		v := row[i]
		switch {
		case col == "event":
			event = v
			continue
		case col == "fraud" || v == "":
			continue
		case paymentTypes[col] != "":
			f = append(f, fmt.Sprintf("%q:%s", col, v))
		default:
			f = append(f, fmt.Sprintf("%q:%q", col, v))
		}
	}
	return []byte(fmt.Sprintf(`{"event":%q,"features":{%s}}`, event, strings.Join(f, ",")))
}

type decision struct {
	Line     int     `json:"line"`
	Decision string  `json:"decision"`
	Score    float64 `json:"score"`
	Rules    []struct {
		Name string `json:"name"`
	} `json:"rules"`
}

func (d decision) String() string {
	var names []string
	for _, r := range d.Rules {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	return fmt.Sprintf("%s %.9f [%s]", d.Decision, d.Score, strings.Join(names, " "))
}

// TestReplayServeEqualsEval serves the payments example's history (its
// windows use on, where and a tuple key) through riskd one request at a
// time, in event-time order, and replays the same rows, shuffled, with
// riskc eval: every row gets the same decision, score and rules.
func TestReplayServeEqualsEval(t *testing.T) {
	riskc := buildRiskc(t)
	dir := t.TempDir()
	policy := copyPaymentsPolicy(t, dir)
	header, rows := readCSV(t, "../../examples/payments/history.csv")
	rows = rows[:1500]
	rng := rand.New(rand.NewPCG(7, 11))
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	data := filepath.Join(dir, "shuffled.csv")
	writeCSV(t, data, header, rows)

	out := filepath.Join(dir, "decisions.jsonl")
	cmd := exec.Command(riskc, "eval", "--policy", policy, "--data", data, "--out", out)
	msg, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("riskc eval: %v\n%s", err, msg)
	}
	if !strings.Contains(string(msg), "rows were out of time order") {
		t.Errorf("riskc eval did not report the shuffled rows:\n%s", msg)
	}
	want := readDecisions(t, out)

	cfg := writeConfig(t, dir, fmt.Sprintf("policies:\n  - path: %s\nstate:\n  max_event_age: 87600h\n", policy))
	p := startRiskd(t, "--config", cfg)
	tsCol := indexOf(header, "ts")
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rows[order[a]][tsCol] < rows[order[b]][tsCol] })
	fired := 0
	for _, i := range order {
		status, _, m := p.do(t, "POST", "/v1/decide", paymentRequest(header, rows[i]), nil)
		if status != 200 {
			t.Fatalf("row %d: status %d %v", i+2, status, m)
		}
		var got decision
		b, _ := json.Marshal(m)
		json.Unmarshal(b, &got)
		w := want[i+2]
		if got.String() != w.String() {
			t.Fatalf("line %d (%s): served %s, riskc eval %s", i+2, rows[i][tsCol], got, w)
		}
		fired += len(got.Rules)
	}
	if fired == 0 {
		t.Fatal("no rule fired: the comparison shows nothing")
	}
}

// TestRedisTwoProcessesShareWindows starts a real redis-server and two
// riskd processes on it: events sent to either count in both.
func TestRedisTwoProcessesShareWindows(t *testing.T) {
	srv := redistest.Start(t)
	dir := policyDir(t, "loan.risk")
	cfg := writeConfig(t, t.TempDir(), fmt.Sprintf("policies:\n  - path: %s\nstate:\n  backend: redis\n  max_event_age: 87600h\n  redis:\n    addr: %s\n    key_prefix: \"e2e:\"\n    timeout: 2s\n", dir, srv.Addr))
	a, b := startRiskd(t, "--config", cfg), startRiskd(t, "--config", cfg)
	// burst fires on a user's 4th application within an hour.
	for i, p := range []*proc{a, b, a, b} {
		_, _, m := p.do(t, "POST", "/v1/decide", loanRequest("shared"), nil)
		fired := strings.Contains(fmt.Sprint(m["rules"]), "burst")
		if m["degraded"] == true || fired != (i == 3) {
			t.Fatalf("event %d: burst fired %v, degraded %v: %v", i+1, fired, m["degraded"], m)
		}
	}
	_, ready := b.get(t, "/readyz")
	if !strings.Contains(ready, "redis "+srv.Addr+": ok") {
		t.Errorf("readiness does not report the Redis store: %s", ready)
	}
	// Redis gone: decisions go on, degraded, never a 5xx; readiness says so.
	srv.Stop()
	for i := 0; i < 3; i++ {
		status, _, m := a.do(t, "POST", "/v1/decide", loanRequest("shared"), nil)
		if status != 200 || m["degraded"] != true {
			t.Fatalf("with Redis down: status %d, %v", status, m)
		}
	}
	_, ready = a.get(t, "/readyz")
	if !strings.Contains(ready, "DEGRADED") {
		t.Errorf("readiness does not report the failing store: %s", ready)
	}
	if n := metric(t, a, "riskforge_window_store_failures_total"); n < 3 {
		t.Errorf("riskforge_window_store_failures_total = %v, want >= 3", n)
	}
}

// TestRedisClusterTwoProcessesShareWindows: two riskd processes on one
// real three-node Redis Cluster (state.redis.cluster) see each other's
// events, and a cluster that is gone degrades decisions, never a 5xx.
func TestRedisClusterTwoProcessesShareWindows(t *testing.T) {
	cl := redistest.StartCluster(t)
	dir := policyDir(t, "loan.risk")
	cfg := writeConfig(t, t.TempDir(), fmt.Sprintf("policies:\n  - path: %s\nstate:\n  backend: redis\n  max_event_age: 87600h\n  redis:\n    addr: %q\n    cluster: true\n    key_prefix: \"e2e:\"\n    timeout: 2s\n", dir, cl.Addrs()))
	a, b := startRiskd(t, "--config", cfg), startRiskd(t, "--config", cfg)
	// burst fires on a user's 4th application within an hour; users
	// spread over the cluster's nodes.
	for u := 0; u < 6; u++ {
		user := fmt.Sprint("shared", u)
		for i, p := range []*proc{a, b, a, b} {
			_, _, m := p.do(t, "POST", "/v1/decide", loanRequest(user), nil)
			fired := strings.Contains(fmt.Sprint(m["rules"]), "burst")
			if m["degraded"] == true || fired != (i == 3) {
				t.Fatalf("%s event %d: burst fired %v, degraded %v: %v", user, i+1, fired, m["degraded"], m)
			}
		}
	}
	for _, n := range cl.Nodes {
		n.Stop()
	}
	status, _, m := a.do(t, "POST", "/v1/decide", loanRequest("shared0"), nil)
	if status != 200 || m["degraded"] != true {
		t.Fatalf("with the cluster down: status %d, %v", status, m)
	}
}

// levelPolicy reveals a card's count and sum in the last hour through the
// rules it fires: c_N fires when count >= N, s_N when sum >= 10*N.
func levelPolicy(levels int) string {
	var b strings.Builder
	b.WriteString("policy levels version \"1\"\ninput {\n  card string\n  amount float\n  ts time\n}\n")
	b.WriteString("window c = count() over 1h by card\nwindow s = sum(amount) over 1h by card where amount > 0\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "rule c_%d when c >= fixed %d emit review reason \"count\"\n", i, i)
		fmt.Fprintf(&b, "rule s_%d when s >= fixed %d emit review reason \"sum\"\n", i, 10*i)
	}
	return b.String()
}

// TestSnapshotRestartKeepsWindows: riskd under load gets SIGTERM, writes
// its snapshot on the way out, and a new riskd restored from it answers
// the next requests exactly as a riskd that never stopped and saw the
// same acknowledged requests.
func TestSnapshotRestartKeepsWindows(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "levels.risk"), []byte(levelPolicy(30)), 0o644)
	cfg := func(name string) string {
		path := filepath.Join(dir, name+".yaml")
		os.WriteFile(path, []byte(fmt.Sprintf("policies:\n  - path: %s\nstate:\n  snapshot:\n    path: %s\n    interval: 1h\n",
			filepath.Join(dir, "levels.risk"), filepath.Join(dir, name+".snap"))), 0o644)
		return path
	}
	now := time.Now().Unix()
	req := func(card string, i int) []byte {
		return []byte(fmt.Sprintf(`{"event":"e","features":{"card":%q,"amount":%d,"ts":%d}}`, card, i%4, now-3000+int64(i)))
	}
	a := startRiskd(t, "--config", cfg("a"))
	var mu sync.Mutex
	var acked [][]byte
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				body := req(fmt.Sprint("card", (w*7+i)%9), w*1000+i)
				resp, err := a.client.Post(a.base+"/v1/decide", "application/json", strings.NewReader(string(body)))
				if err != nil {
					return // shut down
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return
				}
				mu.Lock()
				acked = append(acked, body)
				mu.Unlock()
			}
		}(w)
	}
	time.Sleep(300 * time.Millisecond)
	a.cmd.Process.Signal(syscall.SIGTERM)
	wg.Wait()
	<-a.done
	if !strings.Contains(a.logs.String(), "window snapshot written") {
		t.Fatalf("no snapshot on shutdown:\n%s", a.logs)
	}
	os.Rename(filepath.Join(dir, "a.snap"), filepath.Join(dir, "b.snap"))
	restarted := startRiskd(t, "--config", cfg("b"))
	if !strings.Contains(restarted.logs.String(), "window snapshot restored") {
		t.Fatalf("snapshot not restored:\n%s", restarted.logs)
	}
	fresh := startRiskd(t, "--config", cfg("c"))
	for _, body := range acked {
		fresh.do(t, "POST", "/v1/decide", body, nil)
	}
	t.Logf("%d requests acknowledged before shutdown", len(acked))
	for k := 0; k < 9; k++ {
		body := req(fmt.Sprint("card", k), 5000+k)
		_, _, got := restarted.do(t, "POST", "/v1/decide", body, nil)
		_, _, want := fresh.do(t, "POST", "/v1/decide", body, nil)
		if fmt.Sprint(got["rules"]) != fmt.Sprint(want["rules"]) {
			t.Fatalf("card%d after restart: rules %v, uninterrupted %v", k, got["rules"], want["rules"])
		}
	}
}

// TestSnapshotCorruptIsSkipped: a damaged snapshot is reported, counted
// and skipped; riskd starts with empty windows.
func TestSnapshotCorruptIsSkipped(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "levels.risk"), []byte(levelPolicy(3)), 0o644)
	snap := filepath.Join(dir, "w.snap")
	os.WriteFile(snap, []byte("RFWS\x01\x00garbage"), 0o644)
	cfg := writeConfig(t, dir, fmt.Sprintf("policies:\n  - path: %s\nstate:\n  snapshot:\n    path: %s\n", filepath.Join(dir, "levels.risk"), snap))
	p := startRiskd(t, "--config", cfg)
	if !strings.Contains(p.logs.String(), "window snapshot skipped") {
		t.Fatalf("corrupt snapshot not reported:\n%s", p.logs)
	}
	if n := metric(t, p, "riskforge_window_snapshot_restore_failures_total"); n != 1 {
		t.Fatalf("restore failures = %v, want 1", n)
	}
	_, ready := p.get(t, "/readyz")
	if !strings.Contains(ready, "last snapshot not restored") {
		t.Errorf("readiness does not mention the skipped snapshot: %s", ready)
	}
}

// TestEventTimeRange: serving refuses ts far from now with the field named.
func TestEventTimeRange(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "levels.risk"), []byte(levelPolicy(1)), 0o644)
	p := startRiskd(t, "--policy", filepath.Join(dir, "levels.risk"))
	for _, ts := range []string{"1e300", "-1e300", strconv.FormatInt(time.Now().Add(48*time.Hour).Unix(), 10), `"1999-01-01T00:00:00Z"`, `"0x1p31"`} {
		status, _, m := p.do(t, "POST", "/v1/decide", []byte(`{"event":"e","features":{"card":"c","amount":1,"ts":`+ts+`}}`), nil)
		if status != 400 || m["field"] != "features.ts" {
			t.Errorf("ts %s: status %d %v; want 400 naming features.ts", ts, status, m)
		}
	}
	status, _, _ := p.do(t, "POST", "/v1/decide", []byte(fmt.Sprintf(`{"event":"e","features":{"card":"c","amount":1,"ts":%d}}`, time.Now().Unix())), nil)
	if status != 200 {
		t.Fatalf("ts now: status %d", status)
	}
	_ = math.Inf
}

// readDecisions reads riskc eval's JSON-lines output, keyed by the input
// file's line.
func readDecisions(t *testing.T, path string) map[int]decision {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[int]decision{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var d decision
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		want[d.Line] = d
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return want
}

// copyPaymentsPolicy copies the payments example's policy and its list
// into dir and returns the policy's path there.
func copyPaymentsPolicy(t *testing.T, dir string) string {
	t.Helper()
	policy := filepath.Join(dir, "card_fraud.risk")
	copyFile(t, "../../examples/payments/card_fraud.risk", policy)
	if err := os.MkdirAll(filepath.Join(dir, "lists"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, "../../examples/payments/lists/blocked_cards.txt", filepath.Join(dir, "lists", "blocked_cards.txt"))
	return policy
}

func copyFile(t *testing.T, from, to string) {
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readCSV(t *testing.T, path string) ([]string, [][]string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return all[0], all[1:]
}

func writeCSV(t *testing.T, path string, header []string, rows [][]string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write(header)
	w.WriteAll(rows)
	f.Close()
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}
