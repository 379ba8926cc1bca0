package stream

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/riskforge/riskforge/server/config"
)

// ConnOpts are the client options that reach the brokers: seed brokers,
// client id, TLS and SASL, as the kafka section says.
func ConnOpts(k config.Kafka) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(k.Brokers...), kgo.ClientID(k.ClientID)}
	if k.TLS.Enabled {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: k.TLS.ServerName}
		if k.TLS.CA != "" {
			pem, err := os.ReadFile(k.TLS.CA)
			if err != nil {
				return nil, fmt.Errorf("kafka.tls.ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("kafka.tls.ca: %s holds no PEM certificate", k.TLS.CA)
			}
		}
		if k.TLS.Cert != "" {
			cert, err := tls.LoadX509KeyPair(k.TLS.Cert, k.TLS.Key)
			if err != nil {
				return nil, fmt.Errorf("kafka.tls: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if mech := strings.ToUpper(k.SASL.Mechanism); mech != "" {
		pass, err := k.SASL.Password()
		if err != nil {
			return nil, err
		}
		switch mech {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: k.SASL.Username, Pass: pass}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: k.SASL.Username, Pass: pass}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: k.SASL.Username, Pass: pass}.AsSha512Mechanism()))
		}
	}
	return opts, nil
}
