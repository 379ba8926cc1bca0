package gm

import (
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"crypto/x509/pkix"
	"github.com/tjfoc/gmsm/x509"
)

// TestPKI names the files WriteTestPKI creates in its directory.
var TestPKI = struct {
	CACert, CAKey, SignCert, SignKey, EncCert, EncKey, SigningKey, SigningPub, SM4Key string
}{
	CACert: "ca.pem", CAKey: "ca.key",
	SignCert: "sign.pem", SignKey: "sign.key",
	EncCert: "enc.pem", EncKey: "enc.key",
	SigningKey: "signing.key", SigningPub: "signing.pub",
	SM4Key: "audit.sm4",
}

// WriteTestPKI creates, in dir, a test SM2 CA, the GM TLS sign and enc
// certificates for hosts (both issued directly by the CA, as gmtls
// expects), an SM2 key pair for decision and checkpoint signatures and an
// SM4 key for the audit log. Existing files are not overwritten: it fails
// instead. The keys are unencrypted; this is for tests and evaluation.
func WriteTestPKI(dir string, hosts []string, validFor time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range []string{TestPKI.CACert, TestPKI.CAKey, TestPKI.SignCert, TestPKI.SignKey, TestPKI.EncCert, TestPKI.EncKey, TestPKI.SigningKey, TestPKI.SigningPub, TestPKI.SM4Key} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite keys", filepath.Join(dir, f))
		}
	}
	now := time.Now().Add(-time.Hour)
	caKey, err := GenerateKey()
	if err != nil {
		return err
	}
	ca := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "Riskforge test SM2 CA", Organization: []string{"Riskforge"}},
		NotBefore: now, NotAfter: now.Add(validFor), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, SignatureAlgorithm: x509.SM2WithSM3,
	}
	caDER, err := x509.CreateCertificate(ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writeCertKey(dir, TestPKI.CACert, TestPKI.CAKey, caDER, caKey); err != nil {
		return err
	}
	leaf := func(cn string, usage x509.KeyUsage) (*x509.Certificate, *PrivateKey) {
		t := &x509.Certificate{
			SerialNumber: serial(), Subject: pkix.Name{CommonName: cn, Organization: []string{"Riskforge"}},
			NotBefore: now, NotAfter: now.Add(validFor), KeyUsage: usage, SignatureAlgorithm: x509.SM2WithSM3,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		}
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				t.IPAddresses = append(t.IPAddresses, ip)
			} else {
				t.DNSNames = append(t.DNSNames, h)
			}
		}
		return t, nil
	}
	for _, l := range []struct {
		cn, cert, key string
		usage         x509.KeyUsage
	}{
		{"riskd GM sign", TestPKI.SignCert, TestPKI.SignKey, x509.KeyUsageDigitalSignature},
		{"riskd GM enc", TestPKI.EncCert, TestPKI.EncKey, x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageKeyAgreement},
	} {
		key, err := GenerateKey()
		if err != nil {
			return err
		}
		t, _ := leaf(l.cn, l.usage)
		der, err := x509.CreateCertificate(t, caCert, &key.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("%s certificate: %w", l.cn, err)
		}
		if err := writeCertKey(dir, l.cert, l.key, der, key); err != nil {
			return err
		}
	}
	sk, err := GenerateKey()
	if err != nil {
		return err
	}
	skPEM, err := MarshalPrivateKeyPEM(sk)
	if err != nil {
		return err
	}
	pubPEM, err := MarshalPublicKeyPEM(&sk.PublicKey)
	if err != nil {
		return err
	}
	sm4, err := GenerateSM4Key()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, TestPKI.SigningKey), skPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, TestPKI.SigningPub), pubPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, TestPKI.SM4Key), sm4, 0o600)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n.Add(n, big.NewInt(1))
}

func writeCertKey(dir, certName, keyName string, der []byte, key *PrivateKey) error {
	keyPEM, err := MarshalPrivateKeyPEM(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, certName), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, keyName), keyPEM, 0o600)
}
