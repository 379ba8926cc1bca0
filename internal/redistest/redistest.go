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
	"path/filepath"
	"strconv"
	"strings"
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
	return start(t)
}

func start(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (run `make deps`, which installs it with apt-get): %v", err)
	}
	port := freePort(t)
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), out: &bytes.Buffer{}}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--protected-mode", "yes"}, extra...)
	s.cmd = exec.Command(bin, args...)
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

// Cluster is a running Redis Cluster of three masters (no replicas).
type Cluster struct {
	Nodes []*Server
}

// Addrs returns the nodes' addresses joined by commas, as
// state.redis.addr takes them with cluster: true.
func (c *Cluster) Addrs() string {
	var a []string
	for _, n := range c.Nodes {
		a = append(a, n.Addr)
	}
	return strings.Join(a, ",")
}

// StartCluster starts three cluster-enabled redis-servers on free
// loopback ports (and free cluster bus ports), joins them with
// `redis-cli --cluster create` and waits until every node reports
// cluster_state:ok, or fails t saying why.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli is not installed (run `make deps`, which installs redis-tools with apt-get): %v", err)
	}
	c := &Cluster{}
	for i := 0; i < 3; i++ {
		conf := filepath.Join(t.TempDir(), "nodes.conf")
		c.Nodes = append(c.Nodes, start(t, "--cluster-enabled", "yes", "--cluster-config-file", conf,
			"--cluster-port", strconv.Itoa(freePort(t)), "--cluster-node-timeout", "5000"))
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.Nodes {
		rc := redis.NewClient(&redis.Options{Addr: n.Addr})
		for {
			info, err := rc.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				rc.Close()
				t.Fatalf("Redis Cluster node %s not ok within 20s: %v\n%s", n.Addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		rc.Close()
	}
	return c
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
