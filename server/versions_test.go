package server

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/server/config"
)

// buildArtifact compiles dir/src into dir/dst as riskc build does.
func buildArtifact(t *testing.T, dir, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, src))
	if err != nil {
		t.Fatal(err)
	}
	prog, _, _, err := compiler.Load(filepath.Join(dir, src), data)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := prog.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, dst), bin, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSourceAndItsArtifactAreOneVersion: `riskc build velo.risk` writes
// velo.rbc next to the source; serving the folder keeps working. An
// artifact built from other source under the same version is an error
// that names both files and the fix.
func TestSourceAndItsArtifactAreOneVersion(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	buildArtifact(t, pdir, "velo.risk", "velo.rbc")
	cfg := config.Default()
	cfg.Policies = []config.Policy{{Path: pdir}}
	s, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatalf("source and its artifact: %v", err)
	}
	sn := s.snap.Load()
	if len(sn.versions) != 1 || !strings.HasSuffix(sn.versions[0].Path, "velo.risk") {
		t.Errorf("want the one version served from velo.risk, got %d versions (%v)", len(sn.versions), sn.versions[0].Path)
	}
	s.Close()

	writeTestPolicy(t, pdir, "velo.risk", "1", -1) // edited, not rebuilt
	_, err = New(Options{Config: cfg})
	want := `policy velo version "1" comes from two files with different contents, ` + filepath.Join(pdir, "velo.rbc") + " and " + filepath.Join(pdir, "velo.risk") +
		": the artifact is stale or was built from another source; rebuild it (riskc build velo.risk -o velo.rbc), delete it, or give the changed policy a new version string"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("stale artifact: got %v\nwant %s", err, want)
	}

	os.Remove(filepath.Join(pdir, "velo.rbc"))
	writeTestPolicy(t, pdir, "copy.risk", "1", -3)
	_, err = New(Options{Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "give each version its own version string, or remove one of the files") {
		t.Errorf("two sources, one version: got %v", err)
	}
}

// TestReloadWarnsOnChangedContentSameVersion: editing a policy without
// changing its version string reloads, with a warning.
func TestReloadWarnsOnChangedContentSameVersion(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	cfg := config.Default()
	cfg.Policies = []config.Policy{{Path: pdir}}
	var logs bytes.Buffer
	s, err := New(Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	writeTestPolicy(t, pdir, "velo.risk", "1", -1)
	if st, err := s.Reload("test"); err != nil || st.Result != "success" {
		t.Fatalf("reload: %v %v", st, err)
	}
	if want := `level=WARN msg="reload: the policy changed but its version string did not;`; !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "policy=velo version=1") {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	logs.Reset()
	writeTestPolicy(t, pdir, "velo.risk", "2", -3)
	s.Reload("test")
	if strings.Contains(logs.String(), "version string did not") {
		t.Errorf("a new version warned:\n%s", logs.String())
	}
}

// TestAdminDisabledNamesEveryWay: the refusal says how to set the token.
func TestAdminDisabledNamesEveryWay(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	cfg := config.Default()
	cfg.Policies = []config.Policy{{Path: pdir}}
	s, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("POST", "/v1/admin/reload", nil))
	want := "the admin API is disabled: give riskd an admin token with --admin-token, $RISKD_ADMIN_TOKEN, or server.admin_token / server.admin_token_file in the config"
	if w.Code != 403 || !strings.Contains(w.Body.String(), want) {
		t.Errorf("%d %s", w.Code, w.Body.String())
	}
}

// TestRoutingByEvent: with several policies and no default, a request
// goes to the one policy that declares its event.
func TestRoutingByEvent(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	other := strings.NewReplacer("policy velo", "policy loans", "events pay", "events apply", "VERSION", "9", "BIAS", "0").Replace(testPolicy)
	os.WriteFile(filepath.Join(pdir, "loans.risk"), []byte(other), 0o644)
	twin := strings.NewReplacer("policy velo", "policy twin", "VERSION", "3", "BIAS", "0").Replace(testPolicy)
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\n")
	if _, m := decide(t, s, `{"event":"apply","features":{"user_id":"u","amount":1}}`); m["policy"] != "loans" {
		t.Errorf("event apply: %v", m)
	}
	if _, m := decide(t, s, pay("c", 1)); m["policy"] != "velo" {
		t.Errorf("event pay: %v", m)
	}
	code, m := decide(t, s, `{"event":"refund","features":{"user_id":"u","amount":1}}`)
	if code != 400 || !strings.Contains(m["error"].(string), `no loaded policy declares event "refund"`) {
		t.Errorf("undeclared event: %d %v", code, m)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("POST", "/v1/decide/batch", strings.NewReader("["+pay("a", 1)+","+pay("b", 2)+"]")))
	if !strings.Contains(w.Body.String(), `"policy":"velo"`) {
		t.Errorf("batch of pay events: %s", w.Body)
	}
	os.WriteFile(filepath.Join(pdir, "twin.risk"), []byte(twin), 0o644)
	s, _ = newTestServer(t, "policies:\n  - path: "+pdir+"\n")
	code, m = decide(t, s, pay("c", 1))
	if code != 400 || !strings.Contains(m["error"].(string), `event "pay" is declared by twin and velo`) {
		t.Errorf("event declared twice: %d %v", code, m)
	}
}
