package server

import (
	"math/rand/v2"
	"net/http"
)

// Request ids: the X-Request-ID header, its validation, new ids.

// requestID validates the X-Request-ID header (empty when absent).
func requestID(r *http.Request) (string, *httpError) {
	v := r.Header[hdrRequestID]
	if len(v) == 0 || v[0] == "" {
		return "", nil
	}
	if !validID(v[0]) {
		return "", badRequest("X-Request-ID", "must be 1 to 128 printable ASCII characters")
	}
	return v[0], nil
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// newRequestID returns a random UUID (version 4).
func newRequestID() string {
	hi, lo := rand.Uint64(), rand.Uint64()
	hi = hi&^(0xf<<12) | 4<<12
	lo = lo&^(3<<62) | 2<<62
	var b [36]byte
	const groups = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
	n := 0
	for i := range b {
		if groups[i] == '-' {
			b[i] = '-'
			continue
		}
		var nib uint64
		if n < 16 {
			nib = hi >> (60 - 4*n) & 0xf
		} else {
			nib = lo >> (60 - 4*(n-16)) & 0xf
		}
		b[i] = hexDigits[nib]
		n++
	}
	return string(b[:])
}
