// Package redistest starts a real redis-server for tests, on a free
// loopback port, and stops it when the test ends. Tests that need Redis
// fail (never skip) when it cannot start: `make deps` installs it.
package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a running redis-server.
type Server struct {
	Addr string
	cmd  *exec.Cmd
	out  *bytes.Buffer
}

// Start starts redis-server for t, or fails t saying why.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (run `make deps`, which installs it with apt-get): %v", err)
	}
	port := freePort(t)
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), out: &bytes.Buffer{}}
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--protected-mode", "yes")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("redis-server could not start: %v", err)
	}
	t.Cleanup(s.Stop)
	if err := WaitReady(s.Addr); err != nil {
		t.Fatalf("%v\n%s", err, s.out.String())
	}
	return s
}

// WaitReady pings the Redis server at addr until it answers, for up to
// 10 s; riskload's Redis scenario shares it with the tests.
func WaitReady(addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not answer on %s within 10s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server (idempotent).
func (s *Server) Stop() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// Client returns a client for the server, closed when t ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("no free loopback port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// String describes the server for messages.
func (s *Server) String() string { return fmt.Sprintf("redis-server at %s", s.Addr) }
