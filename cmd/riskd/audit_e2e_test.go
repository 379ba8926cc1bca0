package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskforge/riskforge/audit"
	"github.com/riskforge/riskforge/internal/gm"
)

// auditSetup writes a test PKI and a config serving the loan policy with
// the audit log (signed checkpoints and decisions) and, with gmAddr, the
// GM TLS listener.
func auditSetup(t *testing.T, gmAddr string, extra string) (cfgPath, keys, auditDir string) {
	t.Helper()
	dir := t.TempDir()
	keys = filepath.Join(dir, "keys")
	if err := gm.WriteTestPKI(keys, []string{"localhost", "127.0.0.1"}, 365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	auditDir = filepath.Join(dir, "audit")
	pol := policyDir(t, "loan.risk")
	gmCfg := ""
	if gmAddr != "" {
		gmCfg = fmt.Sprintf("  gm_tls:\n    addr: %s\n    sign_cert: keys/sign.pem\n    sign_key: keys/sign.key\n    enc_cert: keys/enc.pem\n    enc_key: keys/enc.key\n", gmAddr)
	}
	cfg := fmt.Sprintf("server:\n  addr: 127.0.0.1:0\n%spolicies:\n  - path: %s\nreload:\n  watch: false\naudit:\n  dir: audit\n  signing_key: keys/signing.key\n  sign_decisions: true\n%s", gmCfg, pol, extra)
	cfgPath = filepath.Join(dir, "riskd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, keys, auditDir
}

func runRiskd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(riskdBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestAuditTrailEndToEnd(t *testing.T) {
	gmAddr := freeAddr(t)
	cfg, keys, dir := auditSetup(t, gmAddr, "  encryption_keys: [keys/audit.sm4]\n")
	p := startRiskd(t, "--config", cfg)
	// Plain HTTP, signed.
	req := loanRequest("u1")
	code, hdr, respBody := p.raw(t, "POST", "/v1/decide", req, map[string]string{"X-Request-ID": "e2e-1"})
	sigHdr := hdr.Get("X-Decision-Signature")
	if code != 200 || sigHdr == "" {
		t.Fatalf("%d %q %s", code, sigHdr, respBody)
	}
	// GM TLS: the same endpoint over ECC_SM4_CBC_SM3.
	gcfg, err := gm.ClientConfig(filepath.Join(keys, "ca.pem"), "localhost", nil)
	if err != nil {
		t.Fatal(err)
	}
	gmClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialTLSContext: func(ctx context.Context, _, a string) (net.Conn, error) { return gm.Dial(ctx, a, gcfg) },
	}}
	gmReq, _ := http.NewRequest("POST", "https://"+gmAddr+"/v1/decide", bytes.NewReader(loanRequest("u2")))
	gmReq.Header.Set("X-Request-ID", "e2e-gm")
	gresp, err := gmClient.Do(gmReq)
	if err != nil {
		t.Fatalf("decide over GM TLS: %v", err)
	}
	gresp.Body.Close()
	if gresp.StatusCode != 200 {
		t.Fatalf("GM TLS decide: %d", gresp.StatusCode)
	}
	// A client offering only the ECDHE suite (0xE011, a panic inside
	// gmtls) fails its handshake; riskd stays up.
	ecdhe, _ := gm.ClientConfig(filepath.Join(keys, "ca.pem"), "localhost", []uint16{gm.SuiteECDHESM4SM3})
	for range 3 {
		if c, err := gm.Dial(context.Background(), gmAddr, ecdhe); err == nil {
			c.Close()
			t.Fatal("a 0xE011-only client completed a handshake")
		}
	}
	if code, out := runRiskd(t, "health", "--endpoint", p.base, "--gm", gmAddr, "--gm-ca", filepath.Join(keys, "ca.pem"), "--gm-server-name", "localhost"); code != 0 ||
		!strings.Contains(out, "suite 0xe013") || !strings.Contains(out, "GET /healthz over GM TLS 200") {
		t.Fatalf("riskd health --gm: %d\n%s", code, out)
	}
	// verify-response with the key from the well-known path.
	_, pemKey := p.get(t, "/.well-known/riskd/decision-key.pem")
	tmp := t.TempDir()
	write := func(name string, b []byte) string {
		f := filepath.Join(tmp, name)
		os.WriteFile(f, b, 0o644)
		return f
	}
	args := []string{"audit", "verify-response", "--pubkey", write("k.pem", []byte(pemKey)), "--request", write("req.json", req), "--signature", sigHdr}
	if code, out := runRiskd(t, append(args, "--response", write("resp.json", respBody))...); code != 0 {
		t.Fatalf("verify-response: %d %s", code, out)
	}
	if code, out := runRiskd(t, append(args, "--response", write("resp2.json", append(respBody, ' ')))...); code != 1 || !strings.Contains(out, "does not verify") {
		t.Fatalf("verify-response of a changed response: %d %s", code, out)
	}
	p.stop(t)
	if p.exit != nil {
		t.Fatalf("riskd exit: %v", p.exit)
	}

	// Two decisions and their policy version's dictionary record.
	pub := filepath.Join(keys, "signing.pub")
	code, out := runRiskd(t, "audit", "verify", dir, "--pubkey", pub)
	if code != 0 || !strings.Contains(out, "ok ") || !strings.Contains(out, "3 records") {
		t.Fatalf("audit verify: %d\n%s", code, out)
	}
	code, out = runRiskd(t, "audit", "show", dir, "--request-id", "e2e-gm", "--key", filepath.Join(keys, "audit.sm4"))
	if code != 0 || !strings.Contains(out, `"decision":`) || !strings.Contains(out, `"windows":[{`) || !strings.Contains(out, `"policy":"loan_apply"`) || !strings.Contains(out, `"reason":`) {
		t.Fatalf("audit show: %d\n%s", code, out)
	}
	if code, out = runRiskd(t, "audit", "tail", dir, "-n", "1"); code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"sealed":true`) {
		t.Fatalf("audit tail: %d\n%s", code, out)
	}
	// Damage the first record: verify names it, riskd refuses to start.
	seg := filepath.Join(dir, "0000000000000001-0000000000000000.wal")
	data, _ := os.ReadFile(seg)
	data[30] ^= 1
	os.WriteFile(seg, data, 0o640)
	code, out = runRiskd(t, "audit", "verify", dir, "--pubkey", pub)
	if code != 1 || !strings.Contains(out, "record 0 ") || !strings.Contains(out, "CRC") {
		t.Fatalf("verify of a damaged log: %d\n%s", code, out)
	}
	code, out = runRiskd(t, "serve", "--config", cfg)
	if code != 1 || !strings.Contains(out, "offset 0") || !strings.Contains(out, "will not start") {
		t.Fatalf("serve on a damaged log: %d\n%s", code, out)
	}
}

// TestCrashAuditKill9UnderLoad kills riskd with SIGKILL at a random
// moment under load, RISKD_CRASH_ROUNDS times (default 6 here; `make
// crash` runs 200). After each restart every request that got a 200 must
// be in the log and the whole log must verify.
func TestCrashAuditKill9UnderLoad(t *testing.T) {
	rounds := 6
	if v := os.Getenv("RISKD_CRASH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("RISKD_CRASH_ROUNDS=%q", v)
		}
		rounds = n
	}
	cfg, keys, dir := auditSetup(t, "", "  sync: batch\n")
	pub, err := gm.LoadPublicKey(filepath.Join(keys, "signing.pub"))
	if err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	start := time.Now()
	torn := 0
	for round := 0; round <= rounds; round++ {
		p := startRiskd(t, "--config", cfg)
		if strings.Contains(p.logs.String(), "torn tail truncated") {
			torn++
		}
		// Recovery is done (riskd listens): check before new load.
		rep, err := audit.Verify(dir, pub)
		if err != nil {
			t.Fatalf("round %d: the log does not verify after restart: %v\n%s", round, err, p.logs)
		}
		seen := map[string]bool{}
		if err := audit.Scan(dir, nil, func(it *audit.Item) error { seen[it.RequestID] = true; return nil }); err != nil {
			t.Fatal(err)
		}
		for id := range acked {
			if !seen[id] {
				t.Fatalf("round %d: request %s got a 200 but is not in the log (%d records)", round, id, rep.Records)
			}
		}
		if round == rounds {
			p.stop(t)
			t.Logf("%d kill -9 rounds in %s: %d acknowledged requests all in the log, %d records verify, %d restarts truncated a torn tail",
				rounds, time.Since(start).Round(time.Second), len(acked), rep.Records, torn)
			return
		}
		ids := crashLoad(p, round, time.Duration(20+r.IntN(300))*time.Millisecond)
		for _, id := range ids {
			acked[id] = true
		}
	}
}

// crashLoad sends decisions from 8 workers and kills riskd with SIGKILL
// after d; it returns the request ids answered 200.
func crashLoad(p *proc, round int, d time.Duration) []string {
	var mu sync.Mutex
	var ok []string
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("c%d-%d-%d", round, w, i)
				req, _ := http.NewRequest("POST", p.base+"/v1/decide", bytes.NewReader(loanRequest(fmt.Sprintf("u%d", i%50))))
				req.Header.Set("X-Request-ID", id)
				resp, err := client.Do(req)
				if err != nil {
					return // killed
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					ok = append(ok, id)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(d)
	p.cmd.Process.Kill()
	<-p.done
	wg.Wait()
	return ok
}

// TestAuditFsyncFailureStopsRiskd: with every fdatasync after the first
// few failing (the RISKD_AUDIT_FAILPOINT failpoint), decisions stop being
// acknowledged (503) and riskd exits 1 saying why; what was acknowledged
// before is in the log.
func TestAuditFsyncFailureStopsRiskd(t *testing.T) {
	cfg, _, dir := auditSetup(t, "", "  sync: always\n")
	t.Setenv("RISKD_AUDIT_FAILPOINT", "fsync-after=3")
	p := startRiskd(t, "--config", cfg)
	var acked []string
	refused := 0
	for i := range 20 {
		id := fmt.Sprintf("f-%d", i)
		req, _ := http.NewRequest("POST", p.base+"/v1/decide", bytes.NewReader(loanRequest("u1")))
		req.Header.Set("X-Request-ID", id)
		resp, err := p.client.Do(req)
		if err != nil {
			break // riskd has shut down
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			if refused > 0 {
				t.Fatalf("%s acknowledged after a refusal", id)
			}
			acked = append(acked, id)
		case 503:
			refused++
			if !strings.Contains(string(body), "could not be recorded") {
				t.Fatalf("503 body: %s", body)
			}
		default:
			t.Fatalf("%s: %d %s", id, resp.StatusCode, body)
		}
	}
	p.waitExit(t, 30*time.Second, "riskd did not stop after the audit log failed")
	if ee, ok := p.exit.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1", p.exit)
	}
	if !strings.Contains(p.logs.String(), "stopped because the audit log failed") || !strings.Contains(p.logs.String(), "injected fsync failure") {
		t.Fatalf("no clear message:\n%s", p.logs)
	}
	if len(acked) == 0 || refused == 0 && len(acked) == 20 {
		t.Fatalf("acked %d, refused %d: the failpoint did not bite", len(acked), refused)
	}
	seen := map[string]bool{}
	audit.Scan(dir, nil, func(it *audit.Item) error { seen[it.RequestID] = true; return nil })
	for _, id := range acked {
		if !seen[id] {
			t.Fatalf("acknowledged %s is not in the log", id)
		}
	}
	t.Logf("%d acknowledged, %d refused with 503, then riskd exited 1", len(acked), refused)
}
