package connwatch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// The limits of every test; apart by more than slack, so a test can tell
// which one fired. Write is longer than Read so that a handler can
// outlast Read and still answer (the slow-handler case).
var limits = Timeouts{ReadHeader: 200 * time.Millisecond, Read: 800 * time.Millisecond, Write: 1400 * time.Millisecond, Idle: 300 * time.Millisecond}

// slack is how late a limit may fire on a busy CI machine.
const slack = 500 * time.Millisecond

// arm is one way of enforcing limits: net/http's own fields, or a Watcher.
type arm struct {
	name  string
	watch bool
}

var arms = []arm{{"net/http", false}, {"watcher", true}}

// testServer serves the test handler with limits enforced by a, and
// returns its address and the channel on which /big reports the time its
// write failed.
func testServer(t *testing.T, a arm) (string, *Watcher, <-chan time.Time) {
	t.Helper()
	writeFailed := make(chan time.Time, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/body", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			var ne net.Error
			if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
				w.WriteHeader(http.StatusRequestTimeout)
				return
			}
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		time.Sleep(limits.Read + 200*time.Millisecond)
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for range 1 << 12 { // 256 MB: more than any socket buffers
			if _, err := w.Write(chunk); err != nil {
				writeFailed <- time.Now()
				return
			}
		}
	})
	srv := &http.Server{Handler: mux}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var w *Watcher
	if a.watch {
		w = New(limits, 10*time.Millisecond)
		srv.IdleTimeout = -1
		srv.ConnState = w.ConnState
		ln = w.Listener(ln)
		ctx, cancel := context.WithCancel(context.Background())
		go w.Run(ctx)
		t.Cleanup(cancel)
	} else {
		srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = limits.ReadHeader, limits.Read, limits.Write, limits.Idle
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), w, writeFailed
}

func dialT(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second)) // the test's own bound
	return c, bufio.NewReader(c)
}

func request(path, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
}

// roundTrip sends a whole request and reads its response's status.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, path string) int {
	t.Helper()
	if _, err := io.WriteString(c, request(path, "{}")); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitClosed reads until the server ends the connection and returns when.
func waitClosed(t *testing.T, br *bufio.Reader) time.Time {
	t.Helper()
	_, err := io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server never closed the connection")
	}
	return time.Now()
}

// within fails unless elapsed is at least limit and at most limit+slack.
func within(t *testing.T, what string, elapsed, limit time.Duration) {
	t.Helper()
	if elapsed < limit || elapsed > limit+slack {
		t.Errorf("%s after %v, want between %v and %v", what, elapsed.Round(time.Millisecond), limit, limit+slack)
	}
}

// TestLimitsAsNetHTTP runs each case against net/http's own timeout
// fields and against a Watcher, with the same expectations: the Watcher
// must be indistinguishable from them, apart from firing up to two ticks
// later.
func TestLimitsAsNetHTTP(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, addr string, writeFailed <-chan time.Time)
	}{
		{"a header sent too slowly ends the connection", func(t *testing.T, addr string, _ <-chan time.Time) {
			// From before the dial: the server's header clock starts when it
			// accepts the connection, which can be before dialT returns (a
			// fresh-clone make test saw "closed after 200ms", just under).
			start := time.Now()
			c, br := dialT(t, addr)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\n")
			within(t, "closed", waitClosed(t, br).Sub(start), limits.ReadHeader)
		}},
		{"a header sent too slowly after an idle spell ends the connection, counted from its first byte", func(t *testing.T, addr string, _ <-chan time.Time) {
			c, br := dialT(t, addr)
			if st := roundTrip(t, c, br, "/"); st != 200 {
				t.Fatalf("status %d", st)
			}
			time.Sleep(limits.Idle * 3 / 4)
			start := time.Now()
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\n")
			within(t, "closed", waitClosed(t, br).Sub(start), limits.ReadHeader)
		}},
		{"a body sent too slowly times the handler's read out", func(t *testing.T, addr string, _ <-chan time.Time) {
			start := time.Now() // before the dial, as above: the read clock starts at accept
			c, br := dialT(t, addr)
			io.WriteString(c, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Errorf("status %d, want 408", resp.StatusCode)
			}
			within(t, "answered", time.Since(start), limits.Read)
		}},
		{"an idle connection is closed", func(t *testing.T, addr string, _ <-chan time.Time) {
			c, br := dialT(t, addr)
			// Before the request: the server starts the idle clock once it
			// has written the answer, which can be a little before this
			// side has read it.
			start := time.Now()
			if st := roundTrip(t, c, br, "/"); st != 200 {
				t.Fatalf("status %d", st)
			}
			within(t, "closed", waitClosed(t, br).Sub(start), limits.Idle)
		}},
		{"a client that does not read fails the handler's write", func(t *testing.T, addr string, writeFailed <-chan time.Time) {
			c, _ := dialT(t, addr)
			start := time.Now()
			io.WriteString(c, request("/big", ""))
			select {
			case at := <-writeFailed:
				within(t, "write failed", at.Sub(start), limits.Write)
			case <-time.After(limits.Write + 5*time.Second):
				t.Fatal("the handler's write never failed")
			}
		}},
		{"a keep-alive connection outlives every limit", func(t *testing.T, addr string, _ <-chan time.Time) {
			c, br := dialT(t, addr)
			end := time.Now().Add(limits.Write + limits.Read)
			n := 0
			for ; time.Now().Before(end); n++ {
				if st := roundTrip(t, c, br, "/body"); st != 200 {
					t.Fatalf("request %d: status %d", n, st)
				}
				time.Sleep(limits.Idle / 6)
			}
			if n < 10 {
				t.Fatalf("only %d requests", n)
			}
		}},
		{"a handler slower than the read limit still answers, and the connection serves on", func(t *testing.T, addr string, _ <-chan time.Time) {
			c, br := dialT(t, addr)
			if st := roundTrip(t, c, br, "/sleep"); st != 200 {
				t.Fatalf("status %d", st)
			}
			if st := roundTrip(t, c, br, "/"); st != 200 {
				t.Fatalf("next request: status %d", st)
			}
		}},
	}
	for _, a := range arms {
		t.Run(a.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					addr, w, writeFailed := testServer(t, a)
					if w != nil {
						// Runs after the case's connections are closed.
						t.Cleanup(func() { waitForget(t, w) })
					}
					tc.run(t, addr, writeFailed)
				})
			}
		})
	}
}

// waitForget fails unless w soon watches no connection once the test's
// own are closed: the server closes its side, and a closed connection is
// forgotten.
func waitForget(t *testing.T, w *Watcher) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); w.Len() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Errorf("%d connections still watched after the clients closed theirs", w.Len())
			return
		}
	}
}

// TestPipelinedRequestStartsAtActive: a request read from the buffer
// without a read of its own (pipelined after the previous one) starts its
// limits when its header is parsed, not at the previous idle spell.
func TestPipelinedRequestStartsAtActive(t *testing.T) {
	w := New(limits, time.Millisecond)
	server, client := net.Pipe()
	defer client.Close()
	c := (&listener{Listener: oneConn{server}, w: w})
	nc, err := c.Accept()
	if err != nil {
		t.Fatal(err)
	}
	conn := nc.(*Conn)
	w.now.Store(1000)
	w.ConnState(conn, http.StateIdle)
	w.now.Store(5000)
	w.ConnState(conn, http.StateActive)
	if got := conn.readAt.Load(); got != 5000 {
		t.Errorf("readAt %d, want 5000", got)
	}
	if got := conn.writeAt.Load(); got != 5000 {
		t.Errorf("writeAt %d, want 5000", got)
	}
	conn.Close()
	if w.Len() != 0 {
		t.Errorf("%d connections watched after Close", w.Len())
	}
}

type oneConn struct{ c net.Conn }

func (o oneConn) Accept() (net.Conn, error) { return o.c, nil }
func (o oneConn) Close() error              { return nil }
func (o oneConn) Addr() net.Addr            { return o.c.LocalAddr() }

func TestDefaultTick(t *testing.T) {
	for _, tc := range []struct {
		t    Timeouts
		want time.Duration
	}{
		{Timeouts{}, 10 * time.Millisecond},
		{Timeouts{ReadHeader: 2 * time.Second, Read: 2 * time.Second, Write: 5 * time.Second, Idle: 2 * time.Minute}, 100 * time.Millisecond},
		{Timeouts{Idle: time.Hour}, 250 * time.Millisecond},
		{Timeouts{Read: 100 * time.Millisecond, Idle: time.Hour}, 10 * time.Millisecond},
	} {
		if got := New(tc.t, 0).Tick(); got != tc.want {
			t.Errorf("%+v: tick %v, want %v", tc.t, got, tc.want)
		}
	}
}

// deadlineConn records the deadlines set on it.
type deadlineConn struct {
	net.Conn
	read, write []time.Time
}

func (d *deadlineConn) SetDeadline(t time.Time) error {
	d.read, d.write = append(d.read, t), append(d.write, t)
	return nil
}
func (d *deadlineConn) SetReadDeadline(t time.Time) error  { d.read = append(d.read, t); return nil }
func (d *deadlineConn) SetWriteDeadline(t time.Time) error { d.write = append(d.write, t); return nil }

// TestFireAndPhaseChange pins the protocol between the checking goroutine
// (fire) and the serving one (enter), in the orders a race can produce.
func TestFireAndPhaseChange(t *testing.T) {
	newConn := func() (*Conn, *deadlineConn) {
		d := &deadlineConn{}
		w := New(limits, time.Millisecond)
		c := &Conn{Conn: d, w: w}
		w.conns[c] = struct{}{}
		return c, d
	}
	last := func(ts []time.Time) time.Time {
		if len(ts) == 0 {
			return time.Time{}
		}
		return ts[len(ts)-1]
	}

	t.Run("a deadline put on the phase judged is in force until the phase changes", func(t *testing.T) {
		c, d := newConn()
		c.enter(phaseActive)
		s := c.state.Load()
		c.fire(s, firedWrite)
		if last(d.write).IsZero() || len(d.read) != 0 {
			t.Fatalf("after fire: read %v write %v, want a past write deadline only", d.read, d.write)
		}
		if c.fired.Load() != firedWrite {
			t.Errorf("fired %b", c.fired.Load())
		}
		c.enter(phaseIdle)
		if !last(d.write).IsZero() || c.fired.Load() != 0 {
			t.Errorf("after the phase changed: write deadline %v, fired %b; want both cleared", last(d.write), c.fired.Load())
		}
	})
	t.Run("a phase that changed after it was judged gets no deadline", func(t *testing.T) {
		c, d := newConn()
		c.enter(phaseActive)
		s := c.state.Load()
		c.enter(phaseIdle)
		c.enter(phaseHeader)
		c.enter(phaseActive) // the same phase again, for another request
		c.fire(s, firedRead|firedWrite)
		if len(d.read)+len(d.write) != 0 || c.fired.Load() != 0 {
			t.Errorf("read %v write %v fired %b; want nothing set", d.read, d.write, c.fired.Load())
		}
	})
	t.Run("the check does not put a deadline twice, and puts the other one later", func(t *testing.T) {
		c, d := newConn()
		w := c.w
		c.readAt.Store(0)
		c.enter(phaseHeader)
		w.ConnState(c, http.StateActive)
		w.check(int64(limits.Read + 10*time.Millisecond))
		w.check(int64(limits.Read + 20*time.Millisecond))
		if len(d.read) != 1 || len(d.write) != 0 {
			t.Fatalf("read %v write %v; want one read deadline", d.read, d.write)
		}
		w.check(int64(limits.Write + 10*time.Millisecond))
		if len(d.read) != 1 || len(d.write) != 1 {
			t.Fatalf("read %v write %v; want one of each", d.read, d.write)
		}
	})
}

// TestCheckBoundaries pins when check puts a deadline, on an exact clock:
// a limit passed by more than one tick, counted from the start of the
// connection's current phase however late in the watcher's life, for the
// limit of that phase only; a zero limit never.
func TestCheckBoundaries(t *testing.T) {
	const tick = 10 * time.Millisecond
	const start = int64(time.Hour) // a phase that began late in the watcher's life
	type want struct{ read, write bool }
	cases := []struct {
		name   string
		phase  http.ConnState // StateNew: the header phase
		limits Timeouts
		after  time.Duration // since the phase began
		want   want
	}{
		{"header at its limit plus a tick", http.StateNew, limits, limits.ReadHeader + tick, want{}},
		{"header past it", http.StateNew, limits, limits.ReadHeader + tick + 1, want{read: true}},
		{"header bounded by Read when shorter", http.StateNew, Timeouts{ReadHeader: time.Second, Read: 100 * time.Millisecond}, 100*time.Millisecond + tick + 1, want{read: true}},
		{"header without limits", http.StateNew, Timeouts{}, 24 * time.Hour, want{}},
		{"active at the read limit plus a tick", http.StateActive, limits, limits.Read + tick, want{}},
		{"active past the read limit", http.StateActive, limits, limits.Read + tick + 1, want{read: true}},
		{"active past both", http.StateActive, limits, limits.Write + tick + 1, want{read: true, write: true}},
		{"active past the write limit only", http.StateActive, Timeouts{Write: time.Second}, time.Second + tick + 1, want{write: true}},
		{"active without limits", http.StateActive, Timeouts{}, 24 * time.Hour, want{}},
		{"idle at its limit plus a tick", http.StateIdle, limits, limits.Idle + tick, want{}},
		{"idle past it", http.StateIdle, limits, limits.Idle + tick + 1, want{read: true}},
		{"idle without a limit", http.StateIdle, Timeouts{ReadHeader: time.Millisecond, Read: time.Millisecond, Write: time.Millisecond}, 24 * time.Hour, want{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &deadlineConn{}
			w := New(tc.limits, tick)
			c := &Conn{Conn: d, w: w}
			w.conns[c] = struct{}{}
			w.now.Store(start)
			switch tc.phase {
			case http.StateNew:
				c.readAt.Store(start)
				c.enter(phaseHeader)
			default:
				w.ConnState(c, http.StateActive) // from the header phase: readAt stays 0
				c.readAt.Store(start)
				if tc.phase == http.StateIdle {
					w.ConnState(c, http.StateIdle)
				}
			}
			w.check(start + int64(tc.after))
			if got := (want{len(d.read) > 0, len(d.write) > 0}); got != tc.want {
				t.Errorf("deadlines put: %+v, want %+v", got, tc.want)
			}
		})
	}
}

// scriptConn returns the next of its reads.
type scriptConn struct {
	net.Conn
	reads []int
}

func (s *scriptConn) Read(p []byte) (int, error) {
	n := s.reads[0]
	s.reads = s.reads[1:]
	if n == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	return n, nil
}

// TestReadStartsHeader: bytes read after an idle spell start a request's
// header phase, on the watcher's clock; a failed read does not, and
// neither do bytes read in another phase (net/http's read while the
// handler runs).
func TestReadStartsHeader(t *testing.T) {
	w := New(limits, time.Millisecond)
	sc := &scriptConn{reads: []int{0, 5, 1}}
	c := &Conn{Conn: sc, w: w}
	w.ConnState(c, http.StateIdle)
	w.now.Store(7000)
	c.Read(make([]byte, 8))
	if phaseOf(c.state.Load()) != phaseIdle {
		t.Fatal("a failed read ended the idle phase")
	}
	c.Read(make([]byte, 8))
	if phaseOf(c.state.Load()) != phaseHeader || c.readAt.Load() != 7000 {
		t.Fatalf("after bytes: phase %d readAt %d, want the header phase from 7000", phaseOf(c.state.Load()), c.readAt.Load())
	}
	w.ConnState(c, http.StateActive)
	w.now.Store(9000)
	c.Read(make([]byte, 8))
	if phaseOf(c.state.Load()) != phaseActive || c.readAt.Load() != 7000 {
		t.Errorf("a read while active: phase %d readAt %d, want active from 7000", phaseOf(c.state.Load()), c.readAt.Load())
	}
}
