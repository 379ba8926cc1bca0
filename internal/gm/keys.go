package gm

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tjfoc/gmsm/x509"
)

// LoadPrivateKey reads an unencrypted PKCS#8 SM2 private key (PEM).
func LoadPrivateKey(path string) (*PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// ParsePrivateKey decodes an unencrypted PKCS#8 SM2 private key (PEM).
func ParsePrivateKey(data []byte) (key *PrivateKey, err error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block (want an SM2 PRIVATE KEY)")
	}
	defer func() {
		if p := recover(); p != nil { // tjfoc's parser panics on some garbage
			key, err = nil, fmt.Errorf("not an SM2 private key: %v", p)
		}
	}()
	key, err = x509.ParsePKCS8UnecryptedPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not an SM2 private key: %w", err)
	}
	return key, nil
}

// MarshalPrivateKeyPEM encodes key as an unencrypted PKCS#8 PEM block.
func MarshalPrivateKeyPEM(key *PrivateKey) ([]byte, error) {
	return x509.WritePrivateKeyToPem(key, nil)
}

// LoadPublicKey reads an SM2 public key from a PEM file holding a PUBLIC
// KEY or a CERTIFICATE (whose key is used).
func LoadPublicKey(path string) (*PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pub, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

// ParsePublicKey decodes a PEM PUBLIC KEY or CERTIFICATE holding an SM2
// key.
func ParsePublicKey(data []byte) (pub *PublicKey, err error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block (want a PUBLIC KEY or CERTIFICATE)")
	}
	defer func() {
		if p := recover(); p != nil {
			pub, err = nil, fmt.Errorf("not an SM2 public key: %v", p)
		}
	}()
	switch block.Type {
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		// tjfoc's certificate parser returns SM2 keys as ECDSA ones:
		// parse the certificate's key info as SM2 instead.
		p, err := x509.ParseSm2PublicKey(c.RawSubjectPublicKeyInfo)
		if err != nil {
			return nil, fmt.Errorf("the certificate's key is not SM2: %w", err)
		}
		return p, nil
	default:
		p, err := x509.ParseSm2PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not an SM2 public key: %w", err)
		}
		return p, nil
	}
}

// MarshalPublicKeyPEM encodes pub as a PEM PUBLIC KEY block.
func MarshalPublicKeyPEM(pub *PublicKey) ([]byte, error) {
	return x509.WritePublicKeyToPem(pub)
}

// SM4Key is an SM4 key with its ID.
type SM4Key struct {
	ID  string
	Key []byte
}

// LoadSM4Key reads an SM4 key file: 32 hex digits (whitespace ignored).
// Its ID is the file's first 8 bytes of SM3 of the key, in hex, so the
// key itself is never written anywhere.
func LoadSM4Key(path string) (SM4Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SM4Key{}, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(k) != SM4KeySize {
		return SM4Key{}, fmt.Errorf("%s: an SM4 key file holds %d hex digits", path, 2*SM4KeySize)
	}
	return NewSM4Key(k), nil
}

// NewSM4Key returns key with its ID.
func NewSM4Key(key []byte) SM4Key {
	h := SM3([]byte("riskforge sm4 key id"), key)
	return SM4Key{ID: hex.EncodeToString(h[:8]), Key: bytes.Clone(key)}
}

// GenerateSM4Key returns a fresh random SM4 key, hex encoded with a
// trailing newline (the key file format).
func GenerateSM4Key() ([]byte, error) {
	k := make([]byte, SM4KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return []byte(hex.EncodeToString(k) + "\n"), nil
}
