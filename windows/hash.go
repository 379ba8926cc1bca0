package windows

import "math"

// Hashes must be stable across processes: count_distinct keeps hashes of
// values, and snapshots carry them to the next process. FNV-1a followed
// by the splitmix64 finaliser spreads FNV's weak high bits, which the
// sketches index by.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

func hashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix(h)
}

func hashNum(x float64) uint64 {
	if x == 0 {
		x = 0 // -0 and 0 are the same value
	}
	return mix(math.Float64bits(x) ^ 0x9e3779b97f4a7c15)
}

// hashValue hashes a count_distinct value: the string when there is one,
// else the number (a window counts only strings or only numbers, so an
// empty string sharing the hash of 0 cannot collide with anything).
func hashValue(s string, v float64) uint64 {
	if s != "" {
		return hashString(s)
	}
	return hashNum(v)
}

// ValueHash is the hash count_distinct keeps of a value (s, or v when s
// is empty). It is stable across processes and builds, so other stores
// (Redis) and snapshots can share it.
func ValueHash(s string, v float64) uint64 { return hashValue(s, v) }
