// Package rollout splits traffic between versions of a policy: a stable
// hash of a request key (user_id by default) puts every key in one of
// 10,000 buckets, and each challenger owns a contiguous range of buckets
// sized by its percentage. The same key always lands in the same bucket,
// on every riskd instance and across restarts, so a customer sees one
// version consistently; changing a percentage only moves the keys at the
// edge of a range.
package rollout

import (
	"math"
	"strconv"
)

// Buckets is the resolution of a split: percentages have two decimals.
const Buckets = 10000

// Bucket returns the bucket (0 to Buckets-1) of key under seed. seed is
// usually the policy name plus the configured seed, so two policies split
// the same keys independently.
func Bucket(seed, key string) int {
	// FNV-1a over seed, a separator and key, then a 64-bit finaliser
	// (MurmurHash3 fmix64) so that keys differing only in their last
	// characters spread over all buckets.
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(seed); i++ {
		h ^= uint64(seed[i])
		h *= prime
	}
	h ^= 0xff
	h *= prime
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= prime
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return int(h % Buckets)
}

// NumberKey formats a numeric key the way Bucket expects it, so that the
// key 42 hashes like the string "42".
func NumberKey(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// BasisPoints converts a percentage with at most two decimals to buckets.
func BasisPoints(percent float64) int {
	return int(math.Round(percent * Buckets / 100))
}

// Split assigns bucket ranges to arms: arm i owns [Start[i], Start[i]+Size[i]).
// Buckets not owned by any arm go to the champion.
type Split struct {
	sizes []int
}

// NewSplit lays the arms out one after the other from bucket 0, each
// sized by its percentage. The sum must not exceed 100.
func NewSplit(percents []float64) Split {
	s := Split{sizes: make([]int, len(percents))}
	for i, p := range percents {
		s.sizes[i] = BasisPoints(p)
	}
	return s
}

// Pick returns the arm owning bucket b, or -1 for the champion.
func (s Split) Pick(b int) int {
	start := 0
	for i, n := range s.sizes {
		if b >= start && b < start+n {
			return i
		}
		start += n
	}
	return -1
}

// Sampled reports whether bucket b falls in the first percent of the
// buckets; shadows use it to evaluate a stable sample of keys.
func Sampled(b int, percent float64) bool {
	return b < BasisPoints(percent)
}
