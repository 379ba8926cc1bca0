package main

import (
	"encoding/json"
	"testing"

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
			for i, body := range genBodies(prog, 500, 1, dist) {
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
			for _, body := range genBodies(prog, n, 1, dist) {
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
