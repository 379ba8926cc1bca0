package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// target is an HTTP endpoint on a loopback address.
type target struct {
	name string
	host string // host:port
	path string
}

// parseTarget checks that a URL is plain http on a loopback address: the
// load generator never sends traffic anywhere else.
func parseTarget(name, raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, err
	}
	if u.Scheme != "http" {
		return target{}, fmt.Errorf("%s: only http:// URLs are supported", raw)
	}
	host := u.Hostname()
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return target{}, fmt.Errorf("%s: cannot resolve %s", raw, host)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return target{}, fmt.Errorf("%s: %s is not a loopback address; riskload only drives local servers", raw, host)
		}
	}
	path := u.RequestURI()
	if path == "" {
		path = "/"
	}
	return target{name: name, host: u.Host, path: path}, nil
}

// result is what one run measured.
type result struct {
	name      string
	requests  int
	errors    int
	statuses  map[int]int
	firstErr  string
	elapsed   time.Duration
	latencies []time.Duration // sorted
	cpu       time.Duration   // server CPU time over the measured interval, when known
	rss       int64           // server resident set size at the end of the measured interval, bytes, when known
	peakRSS   int64           // server peak resident set size, bytes, when known
	reads     int64           // server read system calls over the measured interval, when known
}

// readsPerReq is the server's read system calls per request (0: unknown).
func (r *result) readsPerReq() float64 {
	if r.requests == 0 {
		return 0
	}
	return float64(r.reads) / float64(r.requests)
}

func (r *result) cpuPerReq() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.requests)
}

func (r *result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r *result) pct(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.latencies))*p/100+0.5) - 1
	return r.latencies[max(0, min(i, len(r.latencies)-1))]
}

// drive runs a closed loop: conns keep-alive connections, each sending
// the next request as soon as the previous response has been read, for
// warmup (not measured) and then duration. Each request is rendered as
// it is sent (bodySet.render).
func drive(t target, bodies *bodySet, conns int, warmup, duration time.Duration) (*result, error) {
	reqs := make([][]byte, bodies.len())
	for i, b := range bodies.raw {
		reqs[i] = buildRequest(t, b)
	}
	type worker struct {
		lat      []time.Duration
		errors   int
		statuses map[int]int
		firstErr string
	}
	ws := make([]*worker, conns)
	start := time.Now()
	measureFrom := start.Add(warmup)
	stop := measureFrom.Add(duration)
	var wg sync.WaitGroup
	var dialErr error
	var once sync.Once
	for i := range ws {
		w := &worker{lat: make([]time.Duration, 0, 1<<16), statuses: map[int]int{}}
		ws[i] = w
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var c *client
			var buf []byte
			var stamp timeStamp
			next := i * len(reqs) / conns
			for {
				now := time.Now()
				if now.After(stop) {
					break
				}
				if c == nil {
					var err error
					if c, err = dial(t.host); err != nil {
						once.Do(func() { dialErr = err })
						return
					}
				}
				req := bodies.render(&buf, reqs[next], next, &stamp, now)
				if next++; next == len(reqs) {
					next = 0
				}
				t0 := time.Now()
				status, body, err := c.do(req)
				lat := time.Since(t0)
				if t0.Before(measureFrom) {
					if err != nil {
						c.close()
						c = nil
					}
					continue
				}
				if err != nil || status != 200 {
					w.errors++
					if w.firstErr == "" {
						if err != nil {
							w.firstErr = err.Error()
						} else {
							w.firstErr = fmt.Sprintf("status %d: %s", status, truncate(body, 300))
						}
					}
					if err != nil {
						c.close()
						c = nil
						continue
					}
				}
				w.statuses[status]++
				w.lat = append(w.lat, lat)
			}
			if c != nil {
				c.close()
			}
		}(i)
	}
	wg.Wait()
	if dialErr != nil {
		return nil, fmt.Errorf("%s: %w", t.name, dialErr)
	}
	r := &result{name: t.name, elapsed: duration, statuses: map[int]int{}}
	for _, w := range ws {
		r.latencies = append(r.latencies, w.lat...)
		r.errors += w.errors
		for k, v := range w.statuses {
			r.statuses[k] += v
		}
		if r.firstErr == "" {
			r.firstErr = w.firstErr
		}
	}
	r.requests = len(r.latencies)
	slices.Sort(r.latencies)
	return r, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

func buildRequest(t target, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", t.path, t.host, len(body))
	b.Write(body)
	return b.Bytes()
}

// client is one keep-alive HTTP/1.1 connection with a minimal response
// parser (status, Content-Length or chunked body), so the generator
// spends as little CPU as possible and leaves the machine to the server.
type client struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	rb []byte
}

func dial(host string) (*client, error) {
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return &client{c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 16<<10)}, nil
}

func (c *client) close() { c.c.Close() }

var errProtocol = errors.New("malformed HTTP response")

func (c *client) do(req []byte) (int, []byte, error) {
	c.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.bw.Write(req); err != nil {
		return 0, nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return 0, nil, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, errProtocol
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, errProtocol
	}
	length, chunked, closeConn := -1, false, false
	for {
		line, err = c.br.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		if len(line) <= 2 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, nil, errProtocol
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(v)); err != nil {
				return 0, nil, errProtocol
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			closeConn = bytes.EqualFold(v, []byte("close"))
		}
	}
	c.rb = c.rb[:0]
	switch {
	case length >= 0:
		if cap(c.rb) < length {
			c.rb = make([]byte, length)
		}
		c.rb = c.rb[:length]
		if _, err := io.ReadFull(c.br, c.rb); err != nil {
			return 0, nil, err
		}
	case chunked:
		for {
			line, err = c.br.ReadSlice('\n')
			if err != nil {
				return 0, nil, err
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
			if err != nil {
				return 0, nil, errProtocol
			}
			if n == 0 {
				if _, err := c.br.ReadSlice('\n'); err != nil {
					return 0, nil, err
				}
				break
			}
			start := len(c.rb)
			c.rb = append(c.rb, make([]byte, n)...)
			if _, err := io.ReadFull(c.br, c.rb[start:]); err != nil {
				return 0, nil, err
			}
			if _, err := c.br.Discard(2); err != nil {
				return 0, nil, err
			}
		}
	default:
		return 0, nil, errors.New("response without Content-Length")
	}
	if closeConn {
		return status, c.rb, errors.New("server closed the connection")
	}
	return status, c.rb, nil
}
