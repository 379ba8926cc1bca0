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
	c := &diagnosis{ok: true}
	host := hostPort(u)
	if !c.reachable(ctx, host) {
		c.skip("tls", "alive", "policies", "models", "store", "ready")
		return c.lines, false
	}
	tlsCfg := &tls.Config{RootCAs: roots, ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if !c.handshake(ctx, u, host, tlsCfg) {
		c.skip("alive", "policies", "models", "store", "ready")
		return c.lines, false
	}
	get := getter(ctx, u, tlsCfg)
	if !c.alive(u, get) {
		c.skip("policies", "models", "store", "ready")
		return c.lines, false
	}
	c.ready(get)
	return c.lines, c.ok
}

// diagnosis collects the lines of riskd health; ok turns false at the
// first failed check.
type diagnosis struct {
	lines []healthLine
	ok    bool
}

func (c *diagnosis) add(name string, good bool, format string, args ...any) {
	st := "ok"
	if !good {
		st, c.ok = "FAIL", false
	}
	c.lines = append(c.lines, healthLine{name, st, fmt.Sprintf(format, args...)})
}

func (c *diagnosis) skip(names ...string) {
	for _, n := range names {
		c.lines = append(c.lines, healthLine{n, "skip", "(an earlier check failed)"})
	}
}

// hostPort is the address to dial for u, with the scheme's default port.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// reachable dials host over TCP.
func (c *diagnosis) reachable(ctx context.Context, host string) bool {
	var d net.Dialer
	t0 := time.Now()
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		c.add("reachable", false, "%s: %v", host, err)
		return false
	}
	c.add("reachable", true, "%s (connected in %s)", conn.RemoteAddr(), time.Since(t0).Round(10*time.Microsecond))
	conn.Close()
	return true
}

// handshake shakes hands with an https server and checks the certificate's
// expiry; it is false only when the handshake fails.
func (c *diagnosis) handshake(ctx context.Context, u *url.URL, host string, tlsCfg *tls.Config) bool {
	if u.Scheme != "https" {
		c.lines = append(c.lines, healthLine{"tls", "-", "plain http"})
		return true
	}
	td := tls.Dialer{Config: tlsCfg}
	t0 := time.Now()
	conn, err := td.DialContext(ctx, "tcp", host)
	if err != nil {
		c.add("tls", false, "handshake failed: %v", err)
		return false
	}
	st := conn.(*tls.Conn).ConnectionState()
	leaf := st.PeerCertificates[0]
	days := int(time.Until(leaf.NotAfter).Hours() / 24)
	detail := fmt.Sprintf("%s, %s, certificate %q expires %s (in %d days), handshake %s",
		tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), leaf.Subject.CommonName,
		leaf.NotAfter.Format("2006-01-02"), days, time.Since(t0).Round(10*time.Microsecond))
	conn.Close()
	if days < 14 {
		c.add("tls", false, "%s: renew the certificate", detail)
	} else {
		c.add("tls", true, "%s", detail)
	}
	return true
}

// getFunc GETs a path of the server: status, body (at most 1 MB), error.
type getFunc func(path string) (int, []byte, error)

func getter(ctx context.Context, u *url.URL, tlsCfg *tls.Config) getFunc {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, DisableKeepAlives: true}}
	base := strings.TrimSuffix(u.String(), "/")
	return func(path string) (int, []byte, error) {
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
}

// alive asks /healthz; it is false when the server cannot answer it (a
// non-200 answer is a failed check, and the diagnosis goes on).
func (c *diagnosis) alive(u *url.URL, get getFunc) bool {
	code, body, err := get("/healthz")
	switch {
	case err != nil:
		c.add("alive", false, "GET /healthz: %v", err)
		return false
	case u.Scheme == "http" && code == http.StatusBadRequest && strings.Contains(string(body), "HTTP request to an HTTPS server"):
		c.add("alive", false, "the server speaks TLS: use https://%s", u.Host)
		return false
	case code != http.StatusOK:
		c.add("alive", false, "GET /healthz answered %d", code)
	default:
		c.add("alive", true, "GET /healthz 200")
	}
	return true
}

// ready reads riskd's /readyz report: one line per check, a warning for
// a rejected reload, and the verdict.
func (c *diagnosis) ready(get getFunc) {
	code, body, err := get("/readyz")
	if err != nil {
		c.add("ready", false, "GET /readyz: %v", err)
		return
	}
	var rep api.ReadyReport
	if err := json.Unmarshal(body, &rep); err != nil {
		c.add("ready", false, "GET /readyz answered %d with a body that is not riskd's report: %v", code, err)
		return
	}
	for _, ch := range rep.Checks {
		if ch.Name == "serving" {
			continue
		}
		c.add(ch.Name, ch.OK, "%s", ch.Detail)
	}
	if lr := rep.LastReload; lr != nil && lr.Result == "failure" {
		// A rejected reload is not unhealthy (the old version serves) but
		// the operator should know.
		c.lines = append(c.lines, healthLine{"reload", "warn", "last reload rejected at " + lr.At.Format(time.RFC3339Nano) + ": " + firstLine(lr.Error)})
	}
	c.add("ready", rep.Ready && code == http.StatusOK, "GET /readyz %d", code)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
