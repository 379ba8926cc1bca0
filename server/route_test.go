package server

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/server/rollout"
)

// splitServer serves velo version 1 as champion and version 2, whose
// amount has no lower bound, as a 50% challenger keyed on user_id.
func splitServer(t *testing.T) (*Server, *policySet) {
	t.Helper()
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "v1.risk", "1", -2)
	src := strings.NewReplacer("VERSION", "2", "BIAS", "-2", "amount  float >= 0", "amount  float").Replace(testPolicy)
	if err := os.WriteFile(filepath.Join(pdir, "v2.risk"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\nrollout:\n  velo:\n    champion: \"1\"\n    challengers:\n      - version: \"2\"\n        percent: 50\n")
	return s, s.snap.Load().policies["velo"]
}

// TestRouteBucketFromBody: the rollout key is read from the raw body,
// whatever its shape, as encoding/json would read it.
func TestRouteBucketFromBody(t *testing.T) {
	_, ps := splitServer(t)
	want := rollout.Bucket(ps.seed, "u1")
	for _, body := range []string{
		`{"event":"pay","features":{"user_id":"u1","amount":1}}`,
		` { "features" : { "amount" : 1 , "user_id" : "u1" } , "event" : "pay" } `,
		`{"event":"pay","features":{"user_id":"u\u0031","amount":1}}`, // an escape: encoding/json reads it
		`{"event":"pay","other":{"a":[1,{"b":2}]},"features":{"x":[1],"user_id":"u1"}}`,
	} {
		if got := ps.bucket([]byte(body)); got != want {
			t.Errorf("bucket(%s) = %d, want %d", body, got, want)
		}
	}
	if got, want := ps.bucket([]byte(`{"features":{"user_id":12}}`)), rollout.Bucket(ps.seed, rollout.NumberKey(12)); got != want {
		t.Errorf("a number key: bucket %d, want %d", got, want)
	}
	for _, body := range []string{
		`{"event":"pay","features":{"amount":1}}`,
		`{"event":"pay","features":{"user_id":null}}`,
		`{"event":"pay","features":{"user_id":""}}`,
		`{"event":"pay","features":{"user_id":true}}`,
		`[1]`, `{`, ``,
	} {
		if got := ps.bucket([]byte(body)); got != -1 {
			t.Errorf("bucket(%s) = %d, want -1 (no key)", body, got)
		}
	}
}

// TestRouteDecodesForTheChosenVersion: the version is chosen before the
// request is decoded, and only that version's decoder judges it. A
// negative amount, which the champion refuses, is decided by the
// challenger for a user in the challenger's half, and refused with the
// champion's message for a user in the champion's half.
func TestRouteDecodesForTheChosenVersion(t *testing.T) {
	s, ps := splitServer(t)
	var challengerUser, championUser string
	for i := 0; challengerUser == "" || championUser == ""; i++ {
		u := "user-" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
		if ps.split.Pick(rollout.Bucket(ps.seed, u)) >= 0 {
			challengerUser = u
		} else {
			championUser = u
		}
	}
	code, m := decide(t, s, pay(challengerUser, -5))
	if code != 200 || m["version"] != "2" {
		t.Errorf("challenger's user with a negative amount: %d %v", code, m)
	}
	code, m = decide(t, s, pay(championUser, -5))
	if code != 400 || m["field"] != "features.amount" || !strings.Contains(m["error"].(string), "minimum") || m["code"] != "invalid_request" {
		t.Errorf("champion's user with a negative amount: %d %v", code, m)
	}
}

// TestDecidePathTakesFastRoute: the handler sends exactly the unescaped
// path /v1/decide to the decide handler without the mux, and every other
// spelling of it still to the mux, which answers as it did before: an
// escaped slash is another path (404), a trailing slash too, an unclean
// path is redirected to the clean one, and a GET of /v1/decide is the
// decide handler's 405.
func TestDecidePathTakesFastRoute(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\n")
	for _, c := range []struct {
		method, target string
		want           int
	}{
		{"POST", "/v1/decide", http.StatusOK},
		{"GET", "/v1/decide", http.StatusMethodNotAllowed},
		{"POST", "/v1%2Fdecide", http.StatusNotFound},
		{"POST", "/v1/decide/", http.StatusNotFound},
		{"POST", "/v1/./decide", http.StatusTemporaryRedirect},
		{"POST", "/v1/decide%2F", http.StatusNotFound},
	} {
		req := httptest.NewRequest(c.method, c.target, strings.NewReader(pay("alice", 1)))
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		if w.Code != c.want {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.target, w.Code, c.want, w.Body)
		}
	}
}
