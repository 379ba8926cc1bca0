package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/riskforge/riskforge/internal/redistest"
)

// TestLookupReplayServeEqualsEval: riskd serves the datastack example's
// applications with its profile lookup reading a real redis-server and
// its device lookup an httptest reputation service, and riskc eval
// replays the same rows with --lookup from snapshot files of the same
// records: every row gets the same decision, score and rules. The
// snapshots are keyed differently from the stores (a user_id column, a
// device_id member), so the test also holds both to one key function.
func TestLookupReplayServeEqualsEval(t *testing.T) {
	riskc := buildRiskc(t)
	dir := t.TempDir()
	ctx := context.Background()

	// The profile store holds each customer's latest record (a store has
	// no history); the snapshot file is a dump of it.
	srv := redistest.Start(t)
	rc := srv.Client(t)
	_, profs := readCSV(t, "../../examples/datastack/profiles.csv")
	latest := map[string][]string{}
	for _, r := range profs { // user_id, valid_from, segment, credit_limit, missed_payments
		latest[r[0]] = r
	}
	var dump [][]string
	pipe := rc.Pipeline()
	for u, r := range latest {
		pipe.HSet(ctx, "profile:"+u, "segment", r[2], "credit_limit", r[3], "missed_payments", r[4])
		dump = append(dump, []string{u, r[2], r[3], r[4]})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	profiles := filepath.Join(dir, "profiles.csv")
	writeCSV(t, profiles, []string{"user_id", "segment", "credit_limit", "missed_payments"}, dump)

	// The device service answers from devices.jsonl, 404 for others.
	devices := map[string][]byte{}
	f, err := os.Open("../../examples/datastack/devices.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			DeviceID string `json:"device_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		devices[rec.DeviceID] = append([]byte(nil), sc.Bytes()...)
	}
	f.Close()
	var served atomic.Int64
	dev := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := devices[strings.TrimPrefix(r.URL.Path, "/devices/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer dev.Close()

	// The policy, pointed at the test's device service, with timeouts a
	// loaded test machine cannot miss (a timeout is degraded, not equal).
	src, err := os.ReadFile("../../examples/datastack/loan_profile.risk")
	if err != nil {
		t.Fatal(err)
	}
	pol := strings.ReplaceAll(string(src), "http://127.0.0.1:9090", dev.URL)
	pol = strings.ReplaceAll(strings.ReplaceAll(pol, "timeout  10ms", "timeout  5s"), "timeout  20ms", "timeout  5s")
	policy := filepath.Join(dir, "loan_profile.risk")
	os.WriteFile(policy, []byte(pol), 0o644)

	header, rows := readCSV(t, "../../examples/datastack/applications.csv")
	rows = rows[:600]
	data := filepath.Join(dir, "applications.csv")
	writeCSV(t, data, header, rows)
	out := filepath.Join(dir, "decisions.jsonl")
	msg, err := exec.Command(riskc, "eval", "--policy", policy, "--data", data, "--out", out,
		"--lookup", "profile="+profiles, "--lookup", "device=../../examples/datastack/devices.jsonl").CombinedOutput()
	if err != nil || strings.Contains(string(msg), "warning") {
		t.Fatalf("riskc eval: %v\n%s", err, msg)
	}
	want := readDecisions(t, out)

	cfg := writeConfig(t, dir, fmt.Sprintf("policies:\n  - path: %s\nreload:\n  watch: false\nstate:\n  max_event_age: 87600h\nlookups:\n  profile:\n    redis:\n      addr: %s\n", policy, srv.Addr))
	p := startRiskd(t, "--config", cfg)
	fired := map[string]int{}
	for i, row := range rows {
		body := fmt.Sprintf(`{"event":"loan_apply","features":{"user_id":%q,"device_id":%q,"amount":%s,"income":%s,"ts":%q}}`,
			row[indexOf(header, "user_id")], row[indexOf(header, "device_id")], row[indexOf(header, "amount")], row[indexOf(header, "income")], row[indexOf(header, "ts")])
		status, _, m := p.do(t, "POST", "/v1/decide", []byte(body), nil)
		if status != 200 || m["degraded"] != false {
			t.Fatalf("row %d: status %d %v", i+2, status, m)
		}
		var got decision
		b, _ := json.Marshal(m)
		json.Unmarshal(b, &got)
		if w := want[i+2]; got.String() != w.String() {
			t.Fatalf("line %d (%s): served %s, riskc eval --lookup %s", i+2, body, got, w)
		}
		for _, r := range got.Rules {
			fired[r.Name]++
		}
	}
	for _, r := range []string{"over_stored_limit", "missed_payments", "unknown_customer", "bad_device"} {
		if fired[r] == 0 {
			t.Errorf("rule %s never fired in %d rows: the comparison does not cover that lookup (fired: %v)", r, len(rows), fired)
		}
	}
	if n := metric(t, p, "riskforge_lookup_fetches_total"); n == 0 || served.Load() == 0 {
		t.Errorf("riskd fetched %v records (the device service served %d): the rows were not decided from the stores", n, served.Load())
	}
}
