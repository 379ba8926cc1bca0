package server

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// servedVersion is the version answering a plain request.
func servedVersion(t *testing.T, s *Server) string {
	t.Helper()
	_, m := decide(t, s, pay("alice", 1))
	v, _ := m["version"].(string)
	return v
}

func readyz(s *Server) (int, string) {
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	return w.Code, w.Body.String()
}

// TestHardeningWatchDirectoryReplaced: replacing the policy directory the
// way deploy tools do (mv dir dir.old && mv dir.new dir; rm -rf dir and
// recreate it) keeps reloads working, and while the directory is gone the
// lost watch shows in /readyz and riskforge_watch_ok.
func TestHardeningWatchDirectoryReplaced(t *testing.T) {
	root := t.TempDir()
	pdir := filepath.Join(root, "policies")
	if err := os.Mkdir(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\nreload:\n  debounce: 20ms\n")
	startWatching(t, s)
	if v := servedVersion(t, s); v != "1" {
		t.Fatalf("serving %q", v)
	}

	// mv dir dir.old && mv dir.new dir
	next := filepath.Join(root, "policies.new")
	if err := os.Mkdir(next, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestPolicy(t, next, "velo.risk", "2", -2)
	if err := os.Rename(pdir, filepath.Join(root, "policies.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, pdir); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "version 2 from the swapped directory", func() bool { return servedVersion(t, s) == "2" })
	// An edit inside the new directory is seen: the watch follows the path.
	writeTestPolicy(t, pdir, "velo.risk", "3", -2)
	waitUntil(t, "version 3 edited in the swapped directory", func() bool { return servedVersion(t, s) == "3" })

	// rm -rf dir: the watch is lost, and says so.
	if err := os.RemoveAll(pdir); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "/readyz to report the lost watch", func() bool {
		code, body := readyz(s)
		return code == 503 && strings.Contains(body, `"name": "watch"`) && strings.Contains(body, "not watching "+pdir)
	})
	if got := gauge(t, s, "riskforge_watch_ok"); got != 0 {
		t.Errorf("riskforge_watch_ok = %v while the directory is gone, want 0", got)
	}
	if servedVersion(t, s) != "3" {
		t.Fatal("the loaded version must keep serving while its directory is gone")
	}
	// ... and recreate it: reloads work again and the watch is back.
	if err := os.Mkdir(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestPolicy(t, pdir, "velo.risk", "4", -2)
	waitUntil(t, "version 4 from the recreated directory", func() bool { return servedVersion(t, s) == "4" })
	writeTestPolicy(t, pdir, "velo.risk", "5", -2)
	waitUntil(t, "version 5 edited in the recreated directory", func() bool { return servedVersion(t, s) == "5" })
	waitUntil(t, "/readyz 200", func() bool { code, _ := readyz(s); return code == 200 })
	if got := gauge(t, s, "riskforge_watch_ok"); got != 1 {
		t.Errorf("riskforge_watch_ok = %v after the directory is back, want 1", got)
	}
}

// gauge reads an unlabelled gauge from the server's registry.
func gauge(t *testing.T, s *Server, name string) float64 {
	t.Helper()
	mfs, err := s.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
