// Package connwatch gives a plain HTTP/1.1 net/http server the header,
// read, write and idle timeouts of http.Server's own fields without arming
// a timer per request.
//
// With those fields set, net/http moves each connection's read and write
// deadlines four or five times per request. Each move re-arms a runtime
// timer and can wake the network poller or an idle P; under riskd's load
// (`make load`) that cost about 6% of its throughput. A Watcher instead
// records, per connection, which phase of a request it is in and since
// when (two atomic stores per phase, on a clock that one goroutine
// advances every tick), and one goroutine checks every connection once a
// tick. Only a connection over its time gets a deadline, set in the past,
// so the read or write it is blocked in fails exactly as net/http's own
// deadline would have failed it: the handler's body read returns a
// timeout error, a header or idle read ends the connection, a write
// fails.
//
// A timeout fires between its length and two ticks after it, never
// before. The Watcher handles HTTP/1.1 only: an HTTP/2 connection's
// phases are its streams', which ConnState does not show, so servers
// that speak it (TLS) keep http.Server's own fields.
package connwatch

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Timeouts are the limits a Watcher enforces, with the meaning of the
// http.Server fields of the same names. A zero field is no limit.
type Timeouts struct {
	// ReadHeader bounds the time from a request's first byte (for a
	// connection's first request: from its accept) to the end of its
	// header.
	ReadHeader time.Duration
	// Read bounds the same start to the end of every read of the request,
	// its body included (and net/http's read that watches for the client
	// going away while the handler runs).
	Read time.Duration
	// Write bounds the time from the end of a request's header to the end
	// of its response.
	Write time.Duration
	// Idle bounds the time from the end of a response to the next
	// request's first byte.
	Idle time.Duration
}

// Watcher enforces Timeouts on the connections of the listeners it wraps.
// Set the server's ConnState to its ConnState, serve a listener wrapped by
// Listener, run Run, and leave http.Server's own timeout fields zero
// (IdleTimeout negative, or it falls back to ReadTimeout).
type Watcher struct {
	t    Timeouts
	tick time.Duration
	base time.Time
	now  atomic.Int64 // nanoseconds since base, advanced every tick

	mu    sync.Mutex
	conns map[*Conn]struct{}
	scan  []*Conn // reused by check
}

// New returns a Watcher for t that checks its connections every tick (0:
// a twentieth of the shortest timeout, between 10 and 250 ms).
func New(t Timeouts, tick time.Duration) *Watcher {
	if tick <= 0 {
		tick = defaultTick(t)
	}
	return &Watcher{t: t, tick: tick, base: time.Now(), conns: map[*Conn]struct{}{}}
}

func defaultTick(t Timeouts) time.Duration {
	shortest := min0(min0(t.ReadHeader, t.Read), min0(t.Write, t.Idle))
	return min(max(shortest/20, 10*time.Millisecond), 250*time.Millisecond)
}

// Tick is the interval between two checks.
func (w *Watcher) Tick() time.Duration { return w.tick }

// Run checks the connections every tick until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	tk := time.NewTicker(w.tick)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			w.check(int64(time.Since(w.base)))
		}
	}
}

// Len is the number of connections watched.
func (w *Watcher) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.conns)
}

// Listener returns ln whose accepted connections w watches.
func (w *Watcher) Listener(ln net.Listener) net.Listener { return &listener{ln, w} }

type listener struct {
	net.Listener
	w *Watcher
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &Conn{Conn: nc, w: l.w} // in phaseHeader, the zero state
	c.readAt.Store(l.w.clock())
	l.w.mu.Lock()
	l.w.conns[c] = struct{}{}
	l.w.mu.Unlock()
	return c, nil
}

// ConnState is the http.Server ConnState hook that tells w where each
// connection is: a request header read (StateActive), its response
// written (StateIdle), the connection gone (StateHijacked, StateClosed).
func (w *Watcher) ConnState(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*Conn)
	if !ok || c.w != w {
		return
	}
	switch s {
	case http.StateActive:
		at := w.clock()
		if phaseOf(c.state.Load()) != phaseHeader {
			// The request was already buffered: it began now.
			c.readAt.Store(at)
		}
		c.writeAt.Store(at)
		c.enter(phaseActive)
	case http.StateIdle:
		c.idleAt.Store(w.clock())
		c.enter(phaseIdle)
	case http.StateHijacked, http.StateClosed:
		c.enter(phaseGone)
		w.forget(c)
	}
}

func (w *Watcher) forget(c *Conn) {
	w.mu.Lock()
	delete(w.conns, c)
	w.mu.Unlock()
}

// clock is the coarse time: nanoseconds since base at the last tick.
func (w *Watcher) clock() int64 { return w.now.Load() }

// check advances the clock to now (nanoseconds since base) and puts a
// past deadline on every connection over its time.
func (w *Watcher) check(now int64) {
	w.now.Store(now)
	w.mu.Lock()
	w.scan = w.scan[:0]
	for c := range w.conns {
		w.scan = append(w.scan, c)
	}
	scan := w.scan
	w.mu.Unlock()
	// A phase start is read from the clock, which lags the true time by
	// up to a tick; one more tick of grace means never early.
	grace := int64(w.tick)
	for _, c := range scan {
		s := c.state.Load()
		var due uint32
		switch phaseOf(s) {
		case phaseHeader:
			due = dueIf(over(now-c.readAt.Load(), min0(w.t.ReadHeader, w.t.Read), grace), firedRead)
		case phaseActive:
			due = dueIf(over(now-c.readAt.Load(), w.t.Read, grace), firedRead) |
				dueIf(over(now-c.writeAt.Load(), w.t.Write, grace), firedWrite)
		case phaseIdle:
			due = dueIf(over(now-c.idleAt.Load(), w.t.Idle, grace), firedRead)
		}
		if due &^= c.fired.Load(); due != 0 {
			c.fire(s, due)
		}
	}
	clear(scan)
}

// over reports whether elapsed passes limit d (0: none) by more than grace.
func over(elapsed int64, d time.Duration, grace int64) bool {
	return d > 0 && elapsed > int64(d)+grace
}

// Which past deadlines are in force on a connection (Conn.fired).
const (
	firedRead uint32 = 1 << iota
	firedWrite
)

func dueIf(ok bool, bit uint32) uint32 {
	if ok {
		return bit
	}
	return 0
}

// min0 is the smaller of two limits where 0 is none.
func min0(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

type phase uint8

const (
	phaseHeader phase = iota // reading a request's header
	phaseActive              // reading its body, handling it, writing the response
	phaseIdle                // between a response and the next request's first byte
	phaseGone                // closed or hijacked
)

// Conn is a connection a Watcher watches.
type Conn struct {
	net.Conn
	w *Watcher
	// state is the phase in its low byte and, above it, a count of phase
	// changes, so fire can tell whether the phase it judged is still on.
	state                   atomic.Uint64
	readAt, writeAt, idleAt atomic.Int64 // phase starts on the watcher's clock
	// fired holds the past deadlines fire put that are in force
	// (firedRead, firedWrite); the next phase change takes them away
	// again (under mu), as net/http's own per-request deadlines replace
	// the last request's.
	fired atomic.Uint32
	mu    sync.Mutex
}

func phaseOf(s uint64) phase { return phase(s) }

// enter moves c into phase p. Only the goroutine serving the connection
// calls it (net/http's reads and ConnState), one call at a time.
func (c *Conn) enter(p phase) {
	s := c.state.Load()
	c.state.Store((s>>8+1)<<8 | uint64(p))
	if c.fired.Load() != 0 {
		c.mu.Lock()
		if c.fired.Load() != 0 {
			c.Conn.SetDeadline(time.Time{})
			c.fired.Store(0)
		}
		c.mu.Unlock()
	}
}

// fire puts the past deadlines due (firedRead, firedWrite) on c if it is
// still in the phase state s was judged in. Marking them fired before
// looking at the state again pairs with enter, which changes the state
// before it looks at fired: a deadline either is not set or is seen and
// taken away.
func (c *Conn) fire(s uint64, due uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fired.Or(due)
	if c.state.Load() != s {
		c.fired.And(^due)
		return
	}
	past := time.Unix(1, 0)
	if due&firedRead != 0 {
		c.Conn.SetReadDeadline(past)
	}
	if due&firedWrite != 0 {
		c.Conn.SetWriteDeadline(past)
	}
}

// Read marks the first bytes of a request after an idle spell as the
// start of its header, then reads.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if s := c.state.Load(); phaseOf(s) == phaseIdle {
			c.readAt.Store(c.w.clock())
			c.enter(phaseHeader)
		}
	}
	return n, err
}

// Close closes the connection and stops watching it.
func (c *Conn) Close() error {
	c.w.forget(c)
	return c.Conn.Close()
}

// CloseWrite shuts the sending side down when the connection can, which
// net/http does before closing a connection it refused.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
