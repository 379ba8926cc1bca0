package state

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/riskforge/riskforge/server/config"
	"github.com/riskforge/riskforge/windows/redisstore"
)

// redisOptions turns the config into client options, reading the
// password file and the TLS material.
func redisOptions(c config.Redis) (redisstore.Options, error) {
	o := redisstore.Options{Addr: c.Addr, Cluster: c.Cluster, Username: c.Username, DB: c.DB, KeyPrefix: c.KeyPrefix,
		DialTimeout: c.DialTimeout.D(), Timeout: c.Timeout.D(), Fallback: c.Fallback}
	if c.PasswordFile != "" {
		data, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return o, fmt.Errorf("password_file: %w", err)
		}
		o.Password = strings.TrimRight(string(data), "\r\n")
	}
	t := c.TLS
	if !t.Enabled && t.CA == "" && t.Cert == "" {
		return o, nil
	}
	o.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return o, fmt.Errorf("tls.ca: %w", err)
		}
		o.TLS.RootCAs = x509.NewCertPool()
		if !o.TLS.RootCAs.AppendCertsFromPEM(pem) {
			return o, fmt.Errorf("tls.ca: %s holds no PEM certificate", t.CA)
		}
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return o, fmt.Errorf("tls.cert/key: %w", err)
		}
		o.TLS.Certificates = []tls.Certificate{cert}
	}
	return o, nil
}
