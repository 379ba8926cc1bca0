package vm

import (
	"crypto/sha256"
	bin "encoding/binary"
	"math"
	"strings"
	"testing"
)

// TestReaderIntRanges: a number that does not fit the field it is read
// into (a tampered artifact with a recomputed checksum) is an error, not
// a value wrapped modulo 2^32 — 1<<32 would otherwise read as slot 0.
func TestReaderIntRanges(t *testing.T) {
	for _, tc := range []struct {
		v  uint64
		ok bool
	}{{0, true}, {math.MaxUint32, true}, {math.MaxUint32 + 1, false}, {1 << 32, false}, {math.MaxUint64, false}} {
		r := &reader{b: bin.AppendUvarint(nil, tc.v), section: "test"}
		got := r.u32()
		if (r.err == nil) != tc.ok || (tc.ok && uint64(got) != tc.v) || (!tc.ok && got != 0) {
			t.Errorf("u32(%d) = %d, err %v; want ok=%v", tc.v, got, r.err, tc.ok)
		}
	}
	for _, tc := range []struct {
		v  int64
		ok bool
	}{{0, true}, {-1, true}, {math.MaxInt32, true}, {math.MinInt32, true},
		{math.MaxInt32 + 1, false}, {math.MinInt32 - 1, false}, {1 << 32, false}, {math.MinInt64, false}} {
		r := &reader{b: bin.AppendVarint(nil, tc.v), section: "test"}
		got := r.i32()
		if (r.err == nil) != tc.ok || (tc.ok && int64(got) != tc.v) || (!tc.ok && got != 0) {
			t.Errorf("i32(%d) = %d, err %v; want ok=%v", tc.v, got, r.err, tc.ok)
		}
		if tc.ok && r.off != len(r.b) {
			t.Errorf("i32(%d) consumed %d of %d bytes", tc.v, r.off, len(r.b))
		}
	}
}

// TestDecodeRefusesWrappedSlot: the same through Decode: an input slot of
// 1<<32 in an otherwise well-formed, correctly sealed artifact.
func TestDecodeRefusesWrappedSlot(t *testing.T) {
	body := append(make([]byte, 4), sha256.New().Sum(nil)...) // empty strings, SHA-256 of ""
	body = append(body, 1, 1, 'e', 1)                         // events: ["e"], declared
	body = append(body, 1, 1, 'x', byte(TInt))                // inputs: x int ...
	body = bin.AppendUvarint(body, 1<<32)                     // ... slot 1<<32
	body = append(body, 0)
	body = append(body, make([]byte, 32)...)
	_, err := Decode(SealBodyForTest(body))
	if err == nil || !strings.Contains(err.Error(), "number 4294967296 out of range") {
		t.Fatalf("got %v, want an out-of-range error", err)
	}
}
