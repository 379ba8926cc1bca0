package server

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardMetricsExist keeps examples/grafana in step with the
// metrics riskd (and the models package) export.
func TestDashboardMetricsExist(t *testing.T) {
	data, err := os.ReadFile("../examples/grafana/riskd-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) {
		t.Fatal("the dashboard is not valid JSON")
	}
	var sources strings.Builder
	for _, f := range []string{"metrics.go", "state.go", "../models/metrics.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("%s: %v (the test reads the metric names from the sources)", f, err)
		}
		sources.Write(b)
	}
	known := sources.String()
	suffix := regexp.MustCompile(`_(bucket|sum|count)$`)
	seen := map[string]bool{}
	for _, name := range regexp.MustCompile(`riskforge_[a-z_]+`).FindAllString(string(data), -1) {
		base := suffix.ReplaceAllString(name, "")
		if seen[base] || base == "riskforge_riskd" {
			continue
		}
		seen[base] = true
		if !strings.Contains(known, `"`+base+`"`) {
			t.Errorf("the dashboard uses %s, which no metric is named", name)
		}
	}
	if len(seen) < 10 {
		t.Errorf("only %d metrics found in the dashboard", len(seen))
	}
}
