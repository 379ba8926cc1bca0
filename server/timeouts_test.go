package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeTimeoutsPlainHTTP: riskd serving plain HTTP enforces
// limits.request_timeout through its connection watcher (package
// connwatch) as it did through http.Server's fields: a body sent too
// slowly gets the 408 of the docs, a header sent too slowly ends the
// connection, and a keep-alive connection serves on across requests that
// together take longer than the limit.
func TestServeTimeoutsPlainHTTP(t *testing.T) {
	const limit = 300 * time.Millisecond
	const slack = time.Second
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	s, _ := newTestServer(t, fmt.Sprintf("policies:\n  - path: %s\nlimits:\n  request_timeout: %s\n  drain_period: 0s\n", pdir, limit))
	addr, _ := serveLoopbackAddr(t, s)
	waitUntil(t, "serving", func() bool { return s.serving.Load() })
	dial := func(t *testing.T) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	within := func(t *testing.T, what string, d time.Duration) {
		if d < limit || d > limit+slack {
			t.Errorf("%s after %v, want between %v and %v", what, d.Round(time.Millisecond), limit, limit+slack)
		}
	}
	body := pay("u-1", 10)

	t.Run("slow body", func(t *testing.T) {
		c, br := dial(t)
		start := time.Now()
		fmt.Fprintf(c, "POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:5])
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		msg, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(msg), "not received within the request timeout") {
			t.Errorf("got %d %s, want the 408 of a slow body", resp.StatusCode, msg)
		}
		within(t, "answered", time.Since(start))
	})
	t.Run("slow header", func(t *testing.T) {
		c, br := dial(t)
		start := time.Now()
		io.WriteString(c, "POST /v1/decide HTTP/1.1\r\nHost: x\r\n")
		if _, err := io.Copy(io.Discard, br); err != nil {
			t.Fatalf("connection not closed by the server: %v", err)
		}
		within(t, "closed", time.Since(start))
	})
	t.Run("keep-alive", func(t *testing.T) {
		c, br := dial(t)
		end := time.Now().Add(3 * limit)
		for n := 0; time.Now().Before(end); n++ {
			fmt.Fprintf(c, "POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", n, err)
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: status %d", n, resp.StatusCode)
			}
			time.Sleep(limit / 10)
		}
	})
}
