package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/riskforge/riskforge/api"
)

// TestGenBodiesDecode: every generated body, under either key
// distribution, is a request riskd accepts (the reference decoder, so the
// fast path's give-ups count too).
func TestGenBodiesDecode(t *testing.T) {
	for _, policy := range []string{"../../examples/loan", "../../examples/payments", "../../examples/loan_pipeline"} {
		prog, err := loadPolicy(policy)
		if err != nil {
			t.Fatal(err)
		}
		req := prog.NewRequest()
		for _, dist := range []string{distZipf, distUniform} {
			for i, body := range genBodies(prog, 500, 1, dist).raw {
				if err := api.DecodeRequest(prog, body, req); err != nil {
					t.Fatalf("%s, %s: body %d %s: %v", policy, dist, i, body, err)
				}
			}
		}
	}
}

// TestGenBodiesKeys: Zipf traffic has popular devices, merchants and cards
// and mostly new users; uniform traffic has neither.
func TestGenBodiesKeys(t *testing.T) {
	const n = 20000
	for _, tc := range []struct {
		policy string
		keys   []string
	}{
		{"../../examples/loan", []string{"device_id"}},
		{"../../examples/payments", []string{"device_id", "merchant_id", "card_id"}},
	} {
		prog, err := loadPolicy(tc.policy)
		if err != nil {
			t.Fatal(err)
		}
		for _, dist := range []string{distZipf, distUniform} {
			counts := map[string]map[string]int{}
			for _, body := range genBodies(prog, n, 1, dist).raw {
				var req api.DecideRequest
				if err := json.Unmarshal(body, &req); err != nil {
					t.Fatal(err)
				}
				for _, k := range append([]string{"user_id"}, tc.keys...) {
					if counts[k] == nil {
						counts[k] = map[string]int{}
					}
					if v, ok := req.Features[k]; ok {
						counts[k][string(v)]++
					}
				}
			}
			for _, k := range tc.keys {
				top := 0
				for _, c := range counts[k] {
					top = max(top, c)
				}
				share := float64(top) / n
				if dist == distZipf && share < 0.05 {
					t.Errorf("%s, zipf: the most popular %s is on %.3f of the requests, want >= 0.05", tc.policy, k, share)
				}
				if dist == distUniform && share > 0.01 {
					t.Errorf("%s, uniform: the most popular %s is on %.3f of the requests, want <= 0.01", tc.policy, k, share)
				}
			}
			if users := counts["user_id"]; len(users) > 0 {
				once := 0
				for _, c := range users {
					if c == 1 {
						once++
					}
				}
				share := float64(once) / n
				if dist == distZipf && (share < newUserShare-0.03 || share > newUserShare+0.2) {
					t.Errorf("%s, zipf: %.3f of the requests come from a user seen once, want about %.2f", tc.policy, share, newUserShare)
				}
			}
		}
	}
}

// TestRenderFresh: as a drive cycles through the bodies, every new user's
// id is one never sent before (in user_id and e-mail alike), returning
// users keep theirs, ts is the time of sending, and each request stays
// the length its Content-Length says.
func TestRenderFresh(t *testing.T) {
	prog, err := loadPolicy("../../examples/loan")
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	set := genBodies(prog, n, 1, distZipf)
	tg := target{name: "t", host: "127.0.0.1:1", path: "/v1/decide"}
	req := prog.NewRequest()
	seen := map[string]int{}
	returning := map[int]string{}
	var buf []byte
	var stamp timeStamp
	fresh := 0
	for pass, at := range []time.Time{time.Date(2026, 12, 7, 6, 1, 2, 0, time.UTC), time.Date(2026, 12, 7, 7, 3, 4, 0, time.FixedZone("CET", 3600))} {
		for i := range set.raw {
			hdr := buildRequest(tg, set.raw[i])
			sent := set.render(&buf, hdr, i, &stamp, at)
			if len(sent) != len(hdr) {
				t.Fatalf("pass %d, body %d: rendered %d bytes, want %d", pass, i, len(sent), len(hdr))
			}
			body := sent[len(hdr)-len(set.raw[i]):]
			if err := api.DecodeRequest(prog, body, req); err != nil {
				t.Fatalf("pass %d, body %d %s: %v", pass, i, body, err)
			}
			var d api.DecideRequest
			if err := json.Unmarshal(body, &d); err != nil {
				t.Fatal(err)
			}
			if got, want := string(d.Features["ts"]), `"`+at.UTC().Format(time.RFC3339)+`"`; got != want {
				t.Fatalf("pass %d, body %d: ts %s, want %s", pass, i, got, want)
			}
			user := string(d.Features["user_id"])
			if set.newUser[i] == nil {
				if prev, ok := returning[i]; ok && prev != user {
					t.Fatalf("body %d: returning user %s became %s", i, prev, user)
				}
				returning[i] = user
				continue
			}
			fresh++
			if j, ok := seen[user]; ok {
				t.Fatalf("pass %d, body %d: new user %s already sent as body %d", pass, i, user, j)
			}
			seen[user] = i
			if email := string(d.Features["email"]); email != "" && !bytes.Contains([]byte(email), []byte(user[2:len(user)-1])) {
				t.Fatalf("body %d: e-mail %s is not user %s's", i, email, user)
			}
		}
	}
	if fresh < n || len(returning) == 0 {
		t.Fatalf("%d new-user requests, %d returning bodies: want both kinds", fresh, len(returning))
	}
}
