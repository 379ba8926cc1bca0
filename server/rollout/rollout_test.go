package rollout

import (
	"fmt"
	"math"
	"testing"
)

// TestSplitWithinOnePoint checks the acceptance criterion: over 100,000
// keys each arm gets its configured percentage within one point.
func TestSplitWithinOnePoint(t *testing.T) {
	cases := [][]float64{{10}, {50}, {1}, {5, 15}, {33.33, 33.33}, {0.5, 2.5, 20}, {100}, {0}}
	keyFormats := []string{"u%05d", "user-%d", "%d", "cust_%08x"}
	const n = 100_000
	for _, percents := range cases {
		for _, kf := range keyFormats {
			s := NewSplit(percents)
			counts := make([]int, len(percents)+1)
			for i := 0; i < n; i++ {
				arm := s.Pick(Bucket("loan_apply", fmt.Sprintf(kf, i)))
				counts[arm+1]++
			}
			champion := 100.0
			for i, p := range percents {
				got := 100 * float64(counts[i+1]) / n
				if math.Abs(got-p) > 1 {
					t.Errorf("percents %v keys %q: arm %d got %.2f%%, want %v%% ± 1", percents, kf, i, got, p)
				}
				champion -= p
			}
			if got := 100 * float64(counts[0]) / n; math.Abs(got-champion) > 1 {
				t.Errorf("percents %v keys %q: champion got %.2f%%, want %v%% ± 1", percents, kf, got, champion)
			}
		}
	}
}

// TestStablePerKey: the same key always gets the same arm, and raising a
// challenger's share only moves keys from the champion to it.
func TestStablePerKey(t *testing.T) {
	s10 := NewSplit([]float64{10})
	s20 := NewSplit([]float64{20})
	for i := 0; i < 20_000; i++ {
		key := fmt.Sprintf("u%05d", i)
		b := Bucket("loan_apply", key)
		for range 3 {
			if Bucket("loan_apply", key) != b {
				t.Fatalf("key %s: bucket changed between calls", key)
			}
		}
		if s10.Pick(b) == 0 && s20.Pick(b) != 0 {
			t.Fatalf("key %s: in the 10%% challenger but not in the 20%% one", key)
		}
	}
	// Pinned values: the hash must never change between releases, or
	// customers would switch versions on upgrade.
	for k, want := range map[string]int{"u00001": 1951, "u12345": 2663, "42": 4069, "": 9341} {
		if got := Bucket("loan_apply", k); got != want {
			t.Errorf("Bucket(loan_apply, %q) = %d, want %d: the hash changed", k, got, want)
		}
	}
}

func TestSeedsAreIndependent(t *testing.T) {
	a, b := NewSplit([]float64{50}), NewSplit([]float64{50})
	both := 0
	const n = 100_000
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("u%05d", i)
		if a.Pick(Bucket("loan_apply", key)) == 0 && b.Pick(Bucket("card_fraud", key)) == 0 {
			both++
		}
	}
	if got := 100 * float64(both) / n; math.Abs(got-25) > 1 {
		t.Fatalf("two policies' 50%% splits overlap on %.2f%% of keys, want about 25%%", got)
	}
}

func TestNumberKey(t *testing.T) {
	for v, want := range map[float64]string{42: "42", -7: "-7", 1.5: "1.5", 0: "0"} {
		if got := NumberKey(v); got != want {
			t.Errorf("NumberKey(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestSampled(t *testing.T) {
	if !Sampled(0, 0.01) || Sampled(1, 0.01) || !Sampled(Buckets-1, 100) || Sampled(0, 0) {
		t.Fatal("Sampled bounds wrong")
	}
}
