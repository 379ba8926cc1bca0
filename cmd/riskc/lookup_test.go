package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	dsPolicy   = "../../examples/datastack/loan_profile.risk"
	dsData     = "../../examples/datastack/applications.csv"
	dsProfiles = "../../examples/datastack/profiles.csv"
	dsDevices  = "../../examples/datastack/devices.jsonl"
)

// evalOut runs riskc eval with args and returns stdout and stderr.
func evalOut(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := runMain(append([]string{"eval"}, args...), &out, &errb); code != exitOK {
		t.Fatalf("riskc eval %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

var aucLine = regexp.MustCompile(`(?m)^auc +([0-9.]+)$`)

// TestEvalLookupSnapshot: riskc eval reads the lookups of the datastack
// example from its snapshot files (profiles by valid_from, devices from
// JSON Lines), says how many rows found a record, and every rule then
// fires on some rows and not on others. Without the snapshots every
// lookup reads absent, and eval warns; with only each profile's latest
// record instead of the point-in-time join rows read other records.
func TestEvalLookupSnapshot(t *testing.T) {
	base := []string{"--policy", dsPolicy, "--data", dsData, "--label", "default"}
	out, errs := evalOut(t, append(base, "--lookup", "profile="+dsProfiles, "--lookup", "device="+dsDevices)...)
	for _, want := range []string{
		"lookup profile        2613 of 3000 rows found a record (87.1%) in " + dsProfiles,
		"lookup device         2560 of 3000 rows found a record (85.3%) in " + dsDevices,
		"auc        0.7135",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "never fired") || strings.Contains(out, "fired on every row") || errs != "" {
		t.Errorf("with the snapshots every rule should fire on some rows only, without warnings:\n%s\n%s", out, errs)
	}
	pitOut := out

	out, errs = evalOut(t, base...)
	if !strings.Contains(out, "never fired (no row tests them): over_stored_limit, missed_payments, bad_device") {
		t.Errorf("without snapshots the lookup rules cannot fire:\n%s", out)
	}
	for _, l := range []string{"profile", "device"} {
		if !strings.Contains(errs, "warning: lookup "+l+" has no --lookup file and the data no "+l+".* values: every row reads it absent") {
			t.Errorf("no warning for %s:\n%s", l, errs)
		}
	}

	// Today's profiles (the latest record of each customer, as a store
	// dump without history would give) are not what serving saw.
	f, err := os.Open(dsProfiles)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	latest := map[string][]string{}
	var order []string
	for _, r := range recs[1:] {
		if _, ok := latest[r[0]]; !ok {
			order = append(order, r[0])
		}
		latest[r[0]] = r
	}
	var b strings.Builder
	b.WriteString("user_id,segment,credit_limit,missed_payments\n")
	for _, u := range order {
		r := latest[u]
		b.WriteString(strings.Join([]string{r[0], r[2], r[3], r[4]}, ",") + "\n")
	}
	dump := filepath.Join(t.TempDir(), "profiles_now.csv")
	if err := os.WriteFile(dump, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	now, _ := evalOut(t, append(base, "--lookup", "profile="+dump, "--lookup", "device="+dsDevices)...)
	if !strings.Contains(now, "lookup profile        2678 of 3000") || !strings.Contains(now, "over_stored_limit                1076") {
		t.Errorf("with today's profiles the customers whose profile came later are found too, and rules read later limits:\n%s", now)
	}
	if !strings.Contains(pitOut, "over_stored_limit                1030") {
		t.Errorf("point in time:\n%s", pitOut)
	}

	var o, e bytes.Buffer
	if code := runMain(append([]string{"eval"}, append(base, "--lookup", "prof="+dsProfiles)...), &o, &e); code != exitError ||
		!strings.Contains(e.String(), `the policy has no lookup "prof" (its lookups: profile, device)`) {
		t.Errorf("unknown lookup: exit %d\n%s", code, e.String())
	}
	o.Reset()
	e.Reset()
	if code := runMain(append([]string{"eval"}, append(base, "--lookup", "profile")...), &o, &e); code != exitUsage ||
		!strings.Contains(e.String(), `want NAME=FILE`) {
		t.Errorf("--lookup without a file: exit %d\n%s", code, e.String())
	}
}

// TestTrainLookupReproduce: riskc train reads the same snapshots, says
// how many rows found a record, and its "reproduce with the VM" command
// passes the --lookup flags on, so running it gives the AUC train
// reported.
func TestTrainLookupReproduce(t *testing.T) {
	dir := t.TempDir()
	tuned := filepath.Join(dir, "tuned.risk")
	var out, errb bytes.Buffer
	args := []string{"train", "--policy", dsPolicy, "--data", dsData, "--label", "default", "--lookup", "profile=" + dsProfiles,
		"--lookup", "device=" + dsDevices, "--epochs", "15", "--force", "-q", "-o", tuned}
	if code := runMain(args, &out, &errb); code != exitOK {
		t.Fatalf("train: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "lookup profile        2613 of 3000 rows found a record") {
		t.Errorf("train does not report the lookups found:\n%s", out.String())
	}
	m := regexp.MustCompile(`(?m)^  riskc (eval .*?) +# auc ([0-9.]+): after \(hard\) on every labelled row$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no reproduce command:\n%s", out.String())
	}
	if !strings.Contains(m[1], " --lookup profile="+dsProfiles+" --lookup device="+dsDevices) {
		t.Errorf("the reproduce command lacks the --lookup flags: %s", m[1])
	}
	got, _ := evalOut(t, strings.Fields(m[1])[1:]...)
	if auc := aucLine.FindStringSubmatch(got)[1]; auc != m[2] {
		t.Errorf("the reproduce command gives AUC %s, train said %s", auc, m[2])
	}
}
