package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/riskforge/riskforge/internal/gm"
)

// diagnoseGM checks riskd's GM TLS listener with the GM client: the
// handshake (version, suite, certificate expiry) and GET /healthz over it.
func diagnoseGM(ctx context.Context, addr, caFile, serverName string) []healthLine {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return []healthLine{{"gmtls", "FAIL", fmt.Sprintf("--gm %q: %v", addr, err)}}
	}
	if serverName == "" {
		serverName = host
	}
	cfg, err := gm.ClientConfig(caFile, serverName, nil)
	if err != nil {
		return []healthLine{{"gmtls", "FAIL", err.Error()}}
	}
	t0 := time.Now()
	c, err := gm.Dial(ctx, addr, cfg)
	if err != nil {
		return []healthLine{{"gmtls", "FAIL", fmt.Sprintf("%s: GM TLS handshake failed: %v", addr, err)}}
	}
	st, _ := gm.ClientState(c)
	notAfter, cn, _ := gm.PeerCertificateExpiry(c)
	c.Close()
	days := int(time.Until(notAfter).Hours() / 24)
	detail := fmt.Sprintf("%s: GM TLS %#04x, suite %#04x (ECC_SM4_CBC_SM3), certificate %q expires %s (in %d days), handshake %s",
		addr, st.Version, st.CipherSuite, cn, notAfter.Format("2006-01-02"), days, time.Since(t0).Round(10*time.Microsecond))
	lines := []healthLine{{"gmtls", "ok", detail}}
	if days < 14 {
		lines[0] = healthLine{"gmtls", "FAIL", detail + ": renew the certificate"}
	}
	client := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialTLSContext:    func(ctx context.Context, _, a string) (net.Conn, error) { return gm.Dial(ctx, a, cfg) },
	}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/healthz", nil)
	resp, err := client.Do(req)
	if err != nil {
		return append(lines, healthLine{"gm-alive", "FAIL", fmt.Sprintf("GET /healthz over GM TLS: %v", err)})
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return append(lines, healthLine{"gm-alive", "FAIL", fmt.Sprintf("GET /healthz over GM TLS answered %d", resp.StatusCode)})
	}
	return append(lines, healthLine{"gm-alive", "ok", "GET /healthz over GM TLS 200"})
}
