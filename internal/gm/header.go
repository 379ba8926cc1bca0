package gm

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// SigAlg names the signature scheme in signature headers.
const SigAlg = "SM2-SM3"

// FormatSignatureHeader returns the value of X-Decision-Signature and
// X-Request-Signature: `keyid=HEX; alg=SM2-SM3; sig=BASE64`.
func FormatSignatureHeader(keyID string, sig []byte) string {
	return "keyid=" + keyID + "; alg=" + SigAlg + "; sig=" + base64.StdEncoding.EncodeToString(sig)
}

// ParseSignatureHeader parses a signature header value. The reason in the
// error is meant for the client (it is sent in a 401).
func ParseSignatureHeader(v string) (keyID string, sig []byte, err error) {
	if len(v) > 1024 {
		return "", nil, fmt.Errorf("signature header longer than 1024 bytes")
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(v, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return "", nil, fmt.Errorf("signature header part %q is not key=value", strings.TrimSpace(part))
		}
		if seen[k] {
			return "", nil, fmt.Errorf("signature header repeats %q", k)
		}
		seen[k] = true
		switch k {
		case "keyid":
			if b, err := hex.DecodeString(val); err != nil || len(b) != 8 {
				return "", nil, fmt.Errorf("keyid must be 16 hex digits")
			}
			keyID = strings.ToLower(val)
		case "alg":
			if val != SigAlg {
				return "", nil, fmt.Errorf("alg %q is not %s", val, SigAlg)
			}
		case "sig":
			sig, err = base64.StdEncoding.DecodeString(val)
			if err != nil || len(sig) == 0 || len(sig) > 80 {
				return "", nil, fmt.Errorf("sig must be a base64 DER SM2 signature")
			}
		default:
			return "", nil, fmt.Errorf("unknown signature header key %q (want keyid, alg, sig)", k)
		}
	}
	if keyID == "" || sig == nil {
		return "", nil, fmt.Errorf("signature header needs keyid and sig")
	}
	return keyID, sig, nil
}

// DecisionDigest is what X-Decision-Signature signs:
// SM3(SM3(request body) || response body).
func DecisionDigest(request, response []byte) [HashSize]byte {
	r := SM3(request)
	return SM3(r[:], response)
}
