package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskforge/riskforge/server/config"
)

// TestLookupHTTPServe: an http lookup fetches the URL its template
// builds (the input escaped), with the configured headers, once per key
// while cached; a slow service times out into absent fields and a
// degraded decision, never an error.
func TestLookupHTTPServe(t *testing.T) {
	var calls atomic.Int64
	slow := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.EscapedPath() {
		case "/devices/d%2F1":
			w.Write([]byte(`{"reputation": 0.1}`))
		case "/devices/slow":
			<-slow
		default:
			http.NotFound(w, r)
		}
	}))
	defer ts.Close()
	defer close(slow)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "dev.risk"), []byte(devicePolicy(ts.URL, "500ms")), 0o644)
	cfg := config.Default()
	cfg.Policies = []config.Policy{{Path: filepath.Join(dir, "dev.risk")}}
	cfg.Lookups = map[string]config.Lookup{"device": {Headers: map[string]string{"Authorization": "Bearer k"}}}
	srv, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	decide := func(dev string) string {
		out, err := srv.Decide(context.Background(), DecideRequest{Body: []byte(`{"features":{"device_id":"` + dev + `"}}`)}, nil)
		if err != nil {
			t.Fatalf("%s: %v", dev, err)
		}
		return string(out)
	}
	for range 3 {
		if out := decide("d/1"); !strings.Contains(out, `"decision":"reject"`) || !strings.Contains(out, `"degraded":false`) {
			t.Fatalf("d/1 (reputation 0.1): %s", out)
		}
	}
	if out := decide("unknown"); !strings.Contains(out, `"decision":"approve"`) || !strings.Contains(out, `"degraded":false`) {
		t.Errorf("unknown device (404): %s", out)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls to the service, want 2 (one per key)", n)
	}
	start := time.Now()
	if out := decide("slow"); !strings.Contains(out, `"decision":"approve"`) || !strings.Contains(out, `"degraded":true`) || time.Since(start) > 2*time.Second {
		t.Errorf("slow service: %s after %s; want approve, degraded, after about 500ms", out, time.Since(start))
	}
}

// devicePolicy is a policy that rejects a device whose reputation, looked
// up over HTTP at base/devices/{device_id} with the given timeout, is
// below 0.2.
func devicePolicy(base, timeout string) string {
	return `policy dev version "1"
input {
  device_id string
}
lookup device = http "` + base + `/devices/{device_id}" {
  fields  [reputation float]
  ttl     1m
  timeout ` + timeout + `
}
rule bad when exists(device.reputation) and device.reputation < 0.2 emit reject reason "bad device"
decide { otherwise approve }
`
}
