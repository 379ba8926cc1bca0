package main

import (
	"testing"

	"github.com/riskforge/riskforge/api"
)

// TestGenBodiesDecode: every generated body is a request riskd accepts
// (the reference decoder, so the fast path's give-ups count too).
func TestGenBodiesDecode(t *testing.T) {
	for _, policy := range []string{"../../examples/loan", "../../examples/payments"} {
		prog, err := loadPolicy(policy)
		if err != nil {
			t.Fatal(err)
		}
		req := prog.NewRequest()
		for i, body := range genBodies(prog, 500, 1) {
			if err := api.DecodeRequest(prog, body, req); err != nil {
				t.Fatalf("%s: body %d %s: %v", policy, i, body, err)
			}
		}
	}
}
