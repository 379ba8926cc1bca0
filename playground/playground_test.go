package playground

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/compiler"
)

// loanPolicy loads examples/loan as riskd serves it.
func loanPolicy(t testing.TB) Policy {
	t.Helper()
	return loadPolicy(t, "../examples/loan/loan.risk")
}

// loadPolicy loads the policy file at rel as riskd would serve it.
func loadPolicy(t testing.TB, rel string) Policy {
	t.Helper()
	path, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prog, _, _, err := compiler.Load(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return FromProgram(prog.Name, prog.Version, path, prog)
}

func newServer(t testing.TB, o Options) *httptest.Server {
	t.Helper()
	if o.Policies == nil {
		p := loanPolicy(t)
		o.Policies = func() []Policy { return []Policy{p} }
	}
	h := New(o)
	mux := http.NewServeMux()
	mux.Handle(Prefix, h)
	mux.Handle(Prefix+"/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func post(t testing.TB, srv *httptest.Server, path string, body any) (int, map[string]any) {
	t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(srv.URL+Prefix+"/api/"+path, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: answer is not JSON: %v", path, err)
	}
	return resp.StatusCode, out
}

// TestPlaygroundOffRefuses: with the UI off, the page and every endpoint
// answer 404 saying how to turn it on.
func TestPlaygroundOffRefuses(t *testing.T) {
	srv := newServer(t, Options{Enabled: false})
	for _, path := range []string{"/ui", "/ui/", "/ui/editor.js", "/ui/api/policies"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body.Error, "--ui") {
			t.Errorf("GET %s with the UI off: %d %q", path, resp.StatusCode, body.Error)
		}
	}
	if code, body := post(t, srv, "run", map[string]any{"source": "policy x"}); code != http.StatusNotFound {
		t.Errorf("POST run with the UI off: %d %v", code, body)
	}
}

// TestPlaygroundServesPage: the page and its bundle come from the binary.
func TestPlaygroundServesPage(t *testing.T) {
	srv := newServer(t, Options{Enabled: true})
	for path, want := range map[string]string{"/ui/": `<script src="editor.js">`, "/ui/editor.js": "EditorView", "/ui/THIRD_PARTY_LICENSES.txt": "@codemirror/view"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Errorf("GET %s: %d, %d bytes, want %q in it", path, resp.StatusCode, b.Len(), want)
		}
	}
}

// TestPlaygroundCheck places a diagnostic on the misspelt name and
// prefills a request that decodes.
func TestPlaygroundCheck(t *testing.T) {
	p := loanPolicy(t)
	srv := newServer(t, Options{Enabled: true})
	bad := strings.Replace(p.Source, "when overdue_30d >= 2", "when overdue_3d >= 2", 1)
	line := strings.Count(bad[:strings.Index(bad, "overdue_3d >=")], "\n") + 1
	col := strings.Index(bad[strings.LastIndex(bad[:strings.Index(bad, "overdue_3d >=")], "\n")+1:], "overdue_3d")
	code, body := post(t, srv, "check", map[string]any{"source": bad, "path": p.Path})
	diags, _ := body["diagnostics"].([]any)
	if code != 200 || len(diags) != 1 {
		t.Fatalf("check: %d %v", code, body)
	}
	d := diags[0].(map[string]any)
	from, to := d["from"].(map[string]any), d["to"].(map[string]any)
	if from["line"] != float64(line) || from["col"] != float64(col) || to["col"] != float64(col+len("overdue_3d")) || !strings.Contains(d["message"].(string), `"overdue_3d"`) {
		t.Fatalf("diagnostic %v, want line %d col %d..%d", d, line, col, col+10)
	}

	code, body = post(t, srv, "check", map[string]any{"source": p.Source, "path": p.Path})
	if diags, _ := body["diagnostics"].([]any); code != 200 || len(diags) != 0 || body["sample"] == nil || len(body["params"].([]any)) == 0 {
		t.Fatalf("check of the served policy: %d %v", code, body)
	}
	code, run := post(t, srv, "run", map[string]any{"source": p.Source, "path": p.Path, "request": body["sample"]})
	if code != 200 {
		t.Fatalf("running the prefilled request: %d %v", code, run)
	}
}

// TestPlaygroundRun seeds the window history, runs a request and checks
// the decision against the VM's, the window value, fired rules with their
// lines and the trace's lines.
func TestPlaygroundRun(t *testing.T) {
	p := loanPolicy(t)
	srv := newServer(t, Options{Enabled: true})
	features := map[string]any{"user_id": "u-1", "device_id": "d-1", "ip_country": "NL", "residence_country": "NL",
		"age": 40, "amount": 5000, "term_months": 24, "income": 3000, "overdue_30d": 3, "bureau_score": 700,
		"account_opened": "2020-01-01T00:00:00Z", "ts": "2026-03-01T10:00:00Z"}
	req := map[string]any{"event": "loan_apply", "features": features}
	history := []any{req, req, req, req}
	code, body := post(t, srv, "run", map[string]any{"source": p.Source, "path": p.Path, "request": req, "history": history})
	if code != 200 {
		t.Fatalf("run: %d %v", code, body)
	}
	var wins = map[string]float64{}
	for _, w := range body["windows"].([]any) {
		wins[w.(map[string]any)["name"].(string)] = w.(map[string]any)["value"].(float64)
	}
	if wins["applications_1h"] != 5 || wins["requested_24h"] != 25000 {
		t.Fatalf("windows after 4 history events and the request: %v", wins)
	}
	fired := map[string]float64{}
	for _, f := range body["fired"].([]any) {
		fired[f.(map[string]any)["name"].(string)] = f.(map[string]any)["line"].(float64)
	}
	arrears := strings.Count(p.Source[:strings.Index(p.Source, "rule recent_arrears")], "\n") + 1
	if fired["recent_arrears"] != float64(arrears) || fired["application_burst"] == 0 {
		t.Fatalf("fired %v; want recent_arrears on line %d and application_burst", fired, arrears)
	}
	if body["action"] != "review" || body["history_events"] != float64(4) {
		t.Fatalf("decision %v with %v history events, want review (a burst) after 4", body["action"], body["history_events"])
	}
	lines := map[float64]bool{}
	for _, l := range body["lines"].([]any) {
		lines[l.(float64)] = true
	}
	if !lines[float64(arrears)] || len(body["trace"].([]any)) == 0 {
		t.Fatalf("trace lines %v lack the arrears rule's line %d", body["lines"], arrears)
	}
	// Without history the burst does not fire: the windows are the page's own.
	_, body = post(t, srv, "run", map[string]any{"source": p.Source, "path": p.Path, "request": req})
	if body["action"] == "review" {
		t.Fatalf("without history: %v (windows leaked between runs?)", body["action"])
	}
}

// TestPlaygroundRefusals: bad requests get a 4xx naming the field; list
// files are read only from served policies.
func TestPlaygroundRefusals(t *testing.T) {
	p := loanPolicy(t)
	srv := newServer(t, Options{Enabled: true, MaxBodyBytes: 64 << 10, MaxHistory: 3})
	cases := []struct {
		name  string
		body  any
		code  int
		field string
		msg   string
	}{
		{"unknown field", map[string]any{"source": "x", "sauce": 1}, 400, "body", "unknown field"},
		{"feature type", map[string]any{"source": p.Source, "path": p.Path, "request": map[string]any{"event": "loan_apply", "features": map[string]any{"amount": "x"}}}, 400, "request.features.amount", "float"},
		{"history event", map[string]any{"source": p.Source, "path": p.Path, "request": map[string]any{}, "history": []any{map[string]any{"event": "nope"}}}, 400, "history[0].event", ""},
		{"long history", map[string]any{"source": p.Source, "path": p.Path, "history": []any{1, 2, 3, 4}}, 400, "history", "at most 3"},
		{"no request", map[string]any{"source": p.Source, "path": p.Path}, 400, "request", "missing"},
		{"list outside", map[string]any{"source": strings.Replace(p.Source, "lists/blocked_devices.txt", "/etc/passwd", 1), "path": p.Path, "request": map[string]any{}}, 422, "", "only the list files of policies riskd serves"},
		{"errors", map[string]any{"source": "policy x\nrule a when nope > 1 emit review reason \"r\"\n"}, 422, "", "has errors"},
		{"too big", map[string]any{"source": strings.Repeat("#", 70<<10)}, 413, "body", "larger than"},
	}
	for _, tc := range cases {
		path := "run"
		if tc.name == "too big" {
			path = "check"
		}
		code, body := post(t, srv, path, tc.body)
		msg, _ := body["error"].(string)
		field, _ := body["field"].(string)
		if code != tc.code || field != tc.field || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d field %q %q; want %d field %q containing %q", tc.name, code, field, msg, tc.code, tc.field, tc.msg)
		}
	}
	if code, body := post(t, srv, "format", map[string]any{"source": "policy x\nrule a when (( emit"}); code != 422 || len(body["diagnostics"].([]any)) != 1 {
		t.Errorf("format of a broken policy: %d %v", code, body)
	}
	resp, _ := http.Get(srv.URL + "/ui/api/policy?name=nope")
	if resp.StatusCode != 404 {
		t.Errorf("unknown policy: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

// TestPlaygroundRateLimit: past the burst, requests get 429 with Retry-After.
func TestPlaygroundRateLimit(t *testing.T) {
	srv := newServer(t, Options{Enabled: true, Rate: 0.001, Burst: 3})
	var codes []int
	for i := 0; i < 5; i++ {
		resp, err := http.Get(srv.URL + "/ui/api/policies")
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		resp.Body.Close()
	}
	if fmt.Sprint(codes) != "[200 200 200 429 429]" {
		t.Fatalf("status codes %v, want 3 admitted then 429", codes)
	}
}

// TestPlaygroundFormatAndLoad: Format answers riskc fmt's layout, and a
// served policy loads with its source.
func TestPlaygroundFormatAndLoad(t *testing.T) {
	p := loanPolicy(t)
	srv := newServer(t, Options{Enabled: true})
	messy := strings.Replace(p.Source, "rule recent_arrears\n", "rule    recent_arrears\n", 1)
	code, body := post(t, srv, "format", map[string]any{"source": messy})
	if code != 200 || body["source"] != p.Source {
		t.Fatalf("format: %d; the example policy is formatted, so formatting a messed-up copy must give it back", code)
	}
	resp, err := http.Get(srv.URL + "/ui/api/policy?name=loan_apply&version=" + p.Version)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Name, Version, Path, Source string }
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.Source != p.Source || got.Path != p.Path {
		t.Fatalf("policy: %+v", got)
	}
}

// TestPlaygroundBundleMatchesSources fails when the editor's sources or
// pinned packages changed without `make playground-bundle`.
func TestPlaygroundBundleMatchesSources(t *testing.T) {
	sums, err := os.ReadFile("static/editor.js.inputs")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		want, file, _ := strings.Cut(line, "  ")
		data, err := os.ReadFile(filepath.Join("web", file))
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.Sum256(data)
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("web/%s changed since static/editor.js was built: run make playground-bundle and commit the bundle", file)
		}
	}
}

// TestPlaygroundConcurrencyLimit: past MaxInflight running requests, the
// next one is refused with 429 rather than queued.
func TestPlaygroundConcurrencyLimit(t *testing.T) {
	p := loanPolicy(t)
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	srv := newServer(t, Options{Enabled: true, MaxInflight: 1, Policies: func() []Policy {
		if first { // the first request holds its slot until released
			first = false
			close(entered)
			<-release
		}
		return []Policy{p}
	}})
	done := make(chan int)
	go func() {
		resp, err := http.Get(srv.URL + "/ui/api/policies")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-entered
	resp, err := http.Get(srv.URL + "/ui/api/policies")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	close(release)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second request while one runs: %d, want 429 with Retry-After", resp.StatusCode)
	}
	if code := <-done; code != 200 {
		t.Fatalf("first request: %d", code)
	}
}

// TestPlaygroundSampleRuns: for every example policy, the request the
// page prefills from the inputs decodes and runs.
func TestPlaygroundSampleRuns(t *testing.T) {
	files, _ := filepath.Glob("../examples/*/*.risk")
	var pols []Policy
	for _, f := range files {
		path, _ := filepath.Abs(f)
		data, _ := os.ReadFile(path)
		prog, _, _, err := compiler.Load(path, data)
		if err != nil {
			t.Fatal(err)
		}
		pols = append(pols, FromProgram(prog.Name, prog.Version, path, prog))
	}
	srv := newServer(t, Options{Enabled: true, Rate: 1e6, Burst: 1 << 20, Policies: func() []Policy { return pols }})
	for _, p := range pols {
		_, chk := post(t, srv, "check", map[string]any{"source": p.Source, "path": p.Path})
		code, run := post(t, srv, "run", map[string]any{"source": p.Source, "path": p.Path, "request": chk["sample"]})
		if code != 200 || run["action"] == nil {
			t.Errorf("%s: the prefilled request %v: %d %v", p.Path, chk["sample"], code, run)
		}
	}
}
