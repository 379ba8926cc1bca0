package gm

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestSM3KnownAnswer(t *testing.T) {
	got := SM3([]byte("abc"))
	const want = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
	if hex.EncodeToString(got[:]) != want {
		t.Fatalf("SM3(abc) = %x, want %s", got, want)
	}
	if split := SM3([]byte("a"), []byte("bc")); split != got {
		t.Fatalf("SM3 of parts differs from SM3 of the whole")
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSM4GCMKnownAnswer uses the SM4-GCM vector of RFC 8998 appendix A.
func TestSM4GCMKnownAnswer(t *testing.T) {
	key := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	iv := unhex(t, "00001234567800000000ABCD")
	aad := unhex(t, "FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
	pt := unhex(t, "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA")
	wantCT := unhex(t, "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D")
	wantTag := unhex(t, "83DE3541E4C2B58177E065A9BF7B62EC")
	aead, err := NewSM4GCM(key)
	if err != nil {
		t.Fatal(err)
	}
	out := aead.Seal(nil, iv, pt, aad)
	ct, tag := out[:len(pt)], out[len(pt):]
	if !bytes.Equal(tag, wantTag) {
		t.Errorf("tag = %X, want %X", tag, wantTag)
	}
	if !bytes.Equal(ct, wantCT) {
		t.Errorf("ciphertext = %X, want %X", ct, wantCT)
	}
	back, err := aead.Open(nil, iv, out, aad)
	if err != nil || !bytes.Equal(back, pt) {
		t.Fatalf("open: %v", err)
	}
	out[0] ^= 1
	if _, err := aead.Open(nil, iv, out, aad); err == nil {
		t.Fatal("a flipped ciphertext bit opened")
	}
	if _, err := NewSM4GCM(key[:15]); err == nil {
		t.Fatal("a 15-byte key was accepted")
	}
}

func TestSM2SignVerify(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("decision 42: approve")
	sig, err := Sign(key, msg)
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(&key.PublicKey, msg, sig) {
		t.Fatal("a fresh signature does not verify")
	}
	bad := bytes.Clone(msg)
	bad[0] ^= 1
	if Verify(&key.PublicKey, bad, sig) {
		t.Error("a flipped message bit verifies")
	}
	for i := range sig {
		s := bytes.Clone(sig)
		s[i] ^= 0x10
		if Verify(&key.PublicKey, msg, s) {
			t.Errorf("a flipped bit in signature byte %d verifies", i)
		}
	}
	// Another UID: sign with the library directly under a different ID.
	saved := UID
	UID = []byte("another-signer-id")
	other, err := Sign(key, msg)
	UID = saved
	if err != nil {
		t.Fatal(err)
	}
	if Verify(&key.PublicKey, msg, other) {
		t.Error("a signature under another UID verifies")
	}
	key2, _ := GenerateKey()
	if Verify(&key2.PublicKey, msg, sig) {
		t.Error("another key verifies")
	}
	if Verify(&key.PublicKey, msg, nil) || Verify(&key.PublicKey, msg, []byte{0x30, 0x00}) {
		t.Error("an empty signature verifies")
	}
}

func TestKeyFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if err := WriteTestPKI(dir, []string{"localhost", "127.0.0.1"}, 24*3600e9); err != nil {
		t.Fatal(err)
	}
	if err := WriteTestPKI(dir, []string{"localhost"}, 1); err == nil {
		t.Fatal("WriteTestPKI overwrote existing keys")
	}
	key, err := LoadPrivateKey(dir + "/" + TestPKI.SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(dir + "/" + TestPKI.SigningPub)
	if err != nil {
		t.Fatal(err)
	}
	if KeyID(pub) != KeyID(&key.PublicKey) || len(KeyID(pub)) != 16 {
		t.Fatalf("key ids differ: %s %s", KeyID(pub), KeyID(&key.PublicKey))
	}
	certPub, err := LoadPublicKey(dir + "/" + TestPKI.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	if KeyID(certPub) == KeyID(pub) {
		t.Fatal("the TLS sign certificate reuses the signing key")
	}
	k, err := LoadSM4Key(dir + "/" + TestPKI.SM4Key)
	if err != nil || len(k.Key) != 16 || len(k.ID) != 16 {
		t.Fatalf("sm4 key: %+v %v", k, err)
	}
	if _, err := ParsePublicKey([]byte("garbage")); err == nil {
		t.Fatal("garbage parsed as a public key")
	}
	if _, err := ParsePrivateKey([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); err == nil {
		t.Fatal("garbage parsed as a private key")
	}
}

func TestSignatureHeader(t *testing.T) {
	key, _ := GenerateKey()
	sig, _ := Sign(key, []byte("m"))
	h := FormatSignatureHeader(KeyID(&key.PublicKey), sig)
	id, got, err := ParseSignatureHeader(h)
	if err != nil || id != KeyID(&key.PublicKey) || !bytes.Equal(got, sig) {
		t.Fatalf("round trip: %q %x %v", id, got, err)
	}
	for _, bad := range []string{"", "keyid=00", "keyid=0011223344556677", "sig=AAAA", "keyid=0011223344556677; sig=!!", "keyid=0011223344556677; alg=RSA; sig=AAAA", "keyid=0011223344556677; sig=AAAA; sig=AAAA", "x"} {
		if _, _, err := ParseSignatureHeader(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzSignatureHeader: the parser never panics and what it accepts
// formats back to an equivalent header.
func FuzzSignatureHeader(f *testing.F) {
	f.Add("keyid=0011223344556677; alg=SM2-SM3; sig=MEUCIQ==")
	f.Add("keyid=; sig=")
	f.Fuzz(func(t *testing.T, v string) {
		id, sig, err := ParseSignatureHeader(v)
		if err != nil {
			return
		}
		id2, sig2, err := ParseSignatureHeader(FormatSignatureHeader(id, sig))
		if err != nil || id2 != id || !bytes.Equal(sig, sig2) {
			t.Fatalf("%q: re-parse %q %x %v", v, id2, sig2, err)
		}
	})
}
