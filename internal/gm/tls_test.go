package gm

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/gmtls"
)

// gmServer serves a handler echoing the negotiated suite over GM TLS.
func gmServer(t *testing.T, dir string, suites []uint16) (string, *[]string) {
	t.Helper()
	cfg, err := ServerConfig(ServerFiles{
		SignCert: filepath.Join(dir, TestPKI.SignCert), SignKey: filepath.Join(dir, TestPKI.SignKey),
		EncCert: filepath.Join(dir, TestPKI.EncCert), EncKey: filepath.Join(dir, TestPKI.EncKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	if suites != nil {
		cfg.CipherSuites = suites
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(inner, cfg)
	var mu sync.Mutex
	var errs []string
	ln.OnError = func(remote string, err error) {
		mu.Lock()
		errs = append(errs, err.Error())
		mu.Unlock()
	}
	srv := &http.Server{
		ConnContext: ConnContext,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, ok := StateFrom(r.Context())
			fmt.Fprintf(w, "%v %#04x %#04x", ok, st.Version, st.CipherSuite)
		}),
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return inner.Addr().String(), &errs
}

func gmGet(addr string, cfg *gmtls.Config) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialTLSContext: func(ctx context.Context, network, a string) (net.Conn, error) { return Dial(ctx, a, cfg) },
	}}
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestGMTLSServesAndSurvivesECDHEClients(t *testing.T) {
	dir := t.TempDir()
	if err := WriteTestPKI(dir, []string{"localhost", "127.0.0.1"}, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, TestPKI.CACert)
	for _, tc := range []struct {
		name   string
		server []uint16 // nil: riskd's configuration
	}{
		{"riskd config", nil},
		// A server that (wrongly) offers 0xE011 reaches gmtls' bare panic:
		// the listener must turn it into a failed handshake.
		{"server offering ECDHE", []uint16{SuiteECDHESM4SM3, SuiteECCSM4SM3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, errs := gmServer(t, dir, tc.server)
			good, err := ClientConfig(ca, "localhost", nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := gmGet(addr, good)
			if err != nil || body != "true 0x0101 0xe013" {
				t.Fatalf("GM client: %q, %v", body, err)
			}
			ecdhe, _ := ClientConfig(ca, "localhost", []uint16{SuiteECDHESM4SM3})
			if _, err := gmGet(addr, ecdhe); err == nil {
				t.Fatal("a client offering only 0xE011 got an answer")
			}
			// The server is still up and serving.
			body, err = gmGet(addr, good)
			if err != nil || body != "true 0x0101 0xe013" {
				t.Fatalf("after the ECDHE client: %q, %v", body, err)
			}
			time.Sleep(50 * time.Millisecond)
			if len(*errs) == 0 {
				t.Fatal("the failed handshake was not reported")
			}
			if tc.server != nil && !strings.Contains(strings.Join(*errs, "\n"), "panicked") {
				t.Fatalf("want the gmtls panic reported, got %q", *errs)
			}
		})
	}
}
