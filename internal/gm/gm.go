// Package gm is Riskforge's one door to the Chinese national (GM/T)
// algorithms: SM3 hashing, SM4-GCM encryption, SM2 signatures with an
// explicit signer ID, SM2 key and certificate files, and the GM TLS
// (GM/T 0024) listener and client. Every SM use in the project goes
// through it, and it uses only the paths of github.com/tjfoc/gmsm v1.4.1
// that were checked against the standard vectors (see
// /work/shared/design/CHECKED.md): tjfoc's own Sm4GCM (non-standard tag)
// and Sm4Cbc (package-global IV) are never called.
package gm

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/big"

	"github.com/tjfoc/gmsm/sm2"
	"github.com/tjfoc/gmsm/sm3"
	"github.com/tjfoc/gmsm/sm4"
)

// UID is the SM2 signer ID used for every signature Riskforge makes and
// checks. It is GM/T 0009's default ID, passed explicitly so that a change
// of library default cannot silently change what is signed.
var UID = []byte("1234567812345678")

// HashSize is the size of an SM3 digest.
const HashSize = 32

// NewSM3 returns a new SM3 hash.
func NewSM3() hash.Hash { return sm3.New() }

// SM3 returns the SM3 digest of the concatenation of parts.
func SM3(parts ...[]byte) [HashSize]byte {
	h := sm3.New()
	for _, p := range parts {
		h.Write(p)
	}
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// SM4KeySize is the size of an SM4 key.
const SM4KeySize = 16

// NewSM4GCM returns SM4 in Galois/Counter Mode (12-byte nonce, 16-byte
// tag) built from the SM4 block cipher and Go's standard GCM.
func NewSM4GCM(key []byte) (cipher.AEAD, error) {
	if len(key) != SM4KeySize {
		return nil, fmt.Errorf("an SM4 key is %d bytes, not %d", SM4KeySize, len(key))
	}
	b, err := sm4.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// PrivateKey is an SM2 private key.
type PrivateKey = sm2.PrivateKey

// PublicKey is an SM2 public key.
type PublicKey = sm2.PublicKey

// GenerateKey returns a new SM2 key pair.
func GenerateKey() (*PrivateKey, error) { return sm2.GenerateKey(rand.Reader) }

type sm2Sig struct{ R, S *big.Int }

// Sign signs msg with key and UID (SM2 over SM3(Z_A || msg)) and returns
// the DER signature (SEQUENCE of r and s).
func Sign(key *PrivateKey, msg []byte) ([]byte, error) {
	r, s, err := sm2.Sm2Sign(key, msg, UID, rand.Reader)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(sm2Sig{r, s})
}

// Verify reports whether sig is a valid DER SM2 signature of msg by pub
// under UID. Malformed signatures are invalid, never a panic.
func Verify(pub *PublicKey, msg, sig []byte) bool {
	var v sm2Sig
	rest, err := asn1.Unmarshal(sig, &v)
	if err != nil || len(rest) > 0 || v.R == nil || v.S == nil || v.R.Sign() <= 0 || v.S.Sign() <= 0 {
		return false
	}
	n := pub.Curve.Params().N
	if v.R.Cmp(n) >= 0 || v.S.Cmp(n) >= 0 {
		return false
	}
	return sm2.Sm2Verify(pub, msg, UID, v.R, v.S)
}

// KeyID names a public key: the first 8 bytes of the SM3 of its
// uncompressed point, in hex. Signatures and encrypted records carry it so
// that keys can rotate.
func KeyID(pub *PublicKey) string {
	if pub == nil || pub.X == nil || pub.Y == nil {
		return ""
	}
	var pt [65]byte
	pt[0] = 4
	pub.X.FillBytes(pt[1:33])
	pub.Y.FillBytes(pt[33:])
	h := SM3(pt[:])
	return hex.EncodeToString(h[:8])
}

// ErrBadSignature is returned when a signature does not verify.
var ErrBadSignature = errors.New("SM2 signature does not verify")
