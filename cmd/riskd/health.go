package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/internal/gm"
)

// healthLine is one line of the diagnosis.
type healthLine struct {
	name, status, detail string
}

func healthCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("health", `Diagnose a running riskd on one screen: is it reachable, does the TLS
handshake succeed (https), is it alive, are its policies, models and window
store loaded, is it ready. Exit status 0 when healthy, 1 when not.`, stderr)
	endpoint := fs.String("endpoint", "", "riskd base `URL`, e.g. http://127.0.0.1:8080 or https://riskd.internal:8443")
	caCert := fs.String("ca-cert", "", "PEM `file` of the CA that signed the server certificate (default: system roots)")
	timeout := fs.Duration("timeout", 5*time.Second, "overall time limit")
	gmAddr := fs.String("gm", "", "also check riskd's GM TLS listener at `host:port` with the GM client (needs --gm-ca)")
	gmCA := fs.String("gm-ca", "", "PEM `file` of the SM2 CA that issued the GM TLS certificates")
	gmName := fs.String("gm-server-name", "", "`name` the GM certificates must be valid for (default: the --gm host)")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *endpoint == "" {
		fmt.Fprintln(stderr, "riskd health: --endpoint URL is required")
		return exitUsage
	}
	if *gmAddr != "" && *gmCA == "" {
		fmt.Fprintln(stderr, "riskd health: --gm needs --gm-ca FILE (the SM2 CA certificate)")
		return exitUsage
	}
	u, err := url.Parse(*endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "riskd health: --endpoint must be an http:// or https:// URL, got %q\n", *endpoint)
		return exitUsage
	}
	var roots *x509.CertPool
	if *caCert != "" {
		pem, err := os.ReadFile(*caCert)
		if err != nil {
			fmt.Fprintf(stderr, "riskd health: %v\n", err)
			return exitUsage
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "riskd health: %s holds no PEM certificate\n", *caCert)
			return exitUsage
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	lines, healthy := diagnose(ctx, u, roots)
	if *gmAddr != "" {
		// gmtls prints handshake errors to os.Stdout; keep the report clean.
		gm.RouteStdout(func(line string) { fmt.Fprintln(stderr, "gmtls: "+line) })
		for _, l := range diagnoseGM(ctx, *gmAddr, *gmCA, *gmName) {
			healthy = healthy && l.status != "FAIL"
			lines = append(lines, l)
		}
	}
	fmt.Fprintf(stdout, "riskd health %s\n", u.Redacted())
	for _, l := range lines {
		fmt.Fprintf(stdout, "  %-10s %-5s %s\n", l.name, l.status, l.detail)
	}
	if healthy {
		fmt.Fprintln(stdout, "healthy")
		return exitOK
	}
	fmt.Fprintln(stdout, "NOT healthy")
	return exitError
}

// diagnose runs the checks in order; a failed step skips those that
// depend on it.
func diagnose(ctx context.Context, u *url.URL, roots *x509.CertPool) ([]healthLine, bool) {
	var lines []healthLine
	ok := true
	add := func(name string, good bool, format string, args ...any) {
		st := "ok"
		if !good {
			st, ok = "FAIL", false
		}
		lines = append(lines, healthLine{name, st, fmt.Sprintf(format, args...)})
	}
	skip := func(names ...string) {
		for _, n := range names {
			lines = append(lines, healthLine{n, "skip", "(an earlier check failed)"})
		}
	}
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	var d net.Dialer
	t0 := time.Now()
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		add("reachable", false, "%s: %v", host, err)
		skip("tls", "alive", "policies", "models", "store", "ready")
		return lines, false
	}
	add("reachable", true, "%s (connected in %s)", conn.RemoteAddr(), time.Since(t0).Round(10*time.Microsecond))
	conn.Close()

	tlsCfg := &tls.Config{RootCAs: roots, ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if u.Scheme == "https" {
		td := tls.Dialer{Config: tlsCfg}
		t0 = time.Now()
		c, err := td.DialContext(ctx, "tcp", host)
		if err != nil {
			add("tls", false, "handshake failed: %v", err)
			skip("alive", "policies", "models", "store", "ready")
			return lines, false
		}
		st := c.(*tls.Conn).ConnectionState()
		leaf := st.PeerCertificates[0]
		days := int(time.Until(leaf.NotAfter).Hours() / 24)
		detail := fmt.Sprintf("%s, %s, certificate %q expires %s (in %d days), handshake %s",
			tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), leaf.Subject.CommonName,
			leaf.NotAfter.Format("2006-01-02"), days, time.Since(t0).Round(10*time.Microsecond))
		c.Close()
		if days < 14 {
			add("tls", false, "%s: renew the certificate", detail)
		} else {
			add("tls", true, "%s", detail)
		}
	} else {
		lines = append(lines, healthLine{"tls", "-", "plain http"})
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, DisableKeepAlives: true}}
	base := strings.TrimSuffix(u.String(), "/")
	get := func(path string) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return 0, nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, body, err
	}
	code, body, err := get("/healthz")
	switch {
	case err != nil:
		add("alive", false, "GET /healthz: %v", err)
		skip("policies", "models", "store", "ready")
		return lines, false
	case u.Scheme == "http" && code == http.StatusBadRequest && strings.Contains(string(body), "HTTP request to an HTTPS server"):
		add("alive", false, "the server speaks TLS: use https://%s", u.Host)
		skip("policies", "models", "store", "ready")
		return lines, false
	case code != http.StatusOK:
		add("alive", false, "GET /healthz answered %d", code)
	default:
		add("alive", true, "GET /healthz 200")
	}
	code, body, err = get("/readyz")
	if err != nil {
		add("ready", false, "GET /readyz: %v", err)
		return lines, false
	}
	var rep api.ReadyReport
	if err := json.Unmarshal(body, &rep); err != nil {
		add("ready", false, "GET /readyz answered %d with a body that is not riskd's report: %v", code, err)
		return lines, false
	}
	for _, c := range rep.Checks {
		if c.Name == "serving" {
			continue
		}
		add(c.Name, c.OK, "%s", c.Detail)
	}
	if lr := rep.LastReload; lr != nil && lr.Result == "failure" {
		// A rejected reload is not unhealthy (the old version serves) but
		// the operator should know.
		lines = append(lines, healthLine{"reload", "warn", "last reload rejected at " + lr.At.Format(time.RFC3339Nano) + ": " + firstLine(lr.Error)})
	}
	add("ready", rep.Ready && code == http.StatusOK, "GET /readyz %d", code)
	return lines, ok
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
