package main

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestModelEngines serves loan_ml twice, with the default models.engine
// (auto: loan_gbt's trees evaluated natively, the logistic regression on
// onnxruntime) and with models.engine: onnxruntime, and sends both the
// same 300 varied applications: every model value, score and action must
// be identical, and /v1/policies says which engine runs each model.
func TestModelEngines(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "riskd.yaml")
	mustWrite(t, cfg, "models:\n  engine: onnxruntime\n")
	auto := startRiskd(t, "--policy", "../../examples/loan_ml", "--watch", "false", "--admin-token", "tok")
	ort := startRiskd(t, "--config", cfg, "--policy", "../../examples/loan_ml", "--watch", "false", "--admin-token", "tok")
	for _, c := range []struct {
		p    *proc
		want []string
	}{
		{auto, []string{`"engine": "native-trees"`, `"engine": "onnxruntime"`, `"engine_reason": "not a native tree ensemble: the graph has 7 nodes`}},
		{ort, []string{`"engine": "onnxruntime"`, `"engine_reason": "onnxruntime only (configured)"`}},
	} {
		_, body := c.p.get(t, "/v1/policies", "Authorization", "Bearer tok")
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("/v1/policies lacks %s:\n%s", w, body)
			}
		}
	}
	for _, c := range []struct {
		p    *proc
		want string
	}{
		{auto, `"msg":"model loaded","policy_path":`},
		{auto, `"model":"default_risk","file":`},
		{auto, `"engine":"native-trees","engine_reason":"","sessions":0}`},
		{auto, `"engine":"onnxruntime","engine_reason":"not a native tree ensemble: the graph has 7 nodes`},
		{ort, `"engine":"onnxruntime","engine_reason":"onnxruntime only (configured)"`},
	} {
		if logs := c.p.logs.String(); !strings.Contains(logs, c.want) {
			t.Errorf("riskd's log lacks %s:\n%s", c.want, logs)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	lowRisk := 0
	for i := range 300 {
		body := fmt.Sprintf(`{"event":"loan_apply","features":{"user_id":"e%d","device_id":"d%d","ip_country":"DE","residence_country":"DE",`+
			`"age":%d,"amount":%.2f,"term_months":%d,"income":%.2f,"existing_debt":%.2f,"overdue_30d":%d,"bureau_score":720,`+
			`"account_opened":"2021-05-01T00:00:00Z","ts":"2026-03-01T10:00:00Z"}}`,
			i, i%7, 18+rng.IntN(60), 100+rng.Float64()*60000, 3+rng.IntN(100), rng.Float64()*9000, rng.Float64()*2000, rng.IntN(4))
		_, _, a := auto.do(t, "POST", "/v1/decide", []byte(body), nil)
		_, _, o := ort.do(t, "POST", "/v1/decide", []byte(body), nil)
		for _, k := range []string{"action", "score", "models", "degraded", "rules"} {
			if !reflect.DeepEqual(a[k], o[k]) {
				t.Fatalf("request %d: %s differs: native %v, onnxruntime %v\n%s", i, k, a[k], o[k], body)
			}
		}
		if ms, _ := a["models"].([]any); len(ms) == 2 {
			lowRisk++ // the regression ran too: the trees saw a low risk
		}
	}
	t.Logf("%d of 300 applications also ran the regression", lowRisk)
}
