package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

// Reading a request body within its limits and checking its JSON
// nesting before any decoder sees it.

// work is the per-request scratch space, pooled.
type work struct {
	in, out []byte
}

func (s *Server) getWork() *work {
	wk, _ := s.work.Get().(*work)
	if wk == nil {
		wk = &work{in: make([]byte, 0, 2048), out: make([]byte, 0, 2048)}
	}
	return wk
}

func (s *Server) putWork(wk *work) {
	if cap(wk.in) > 1<<20 || cap(wk.out) > 1<<20 {
		return // let a batch-sized buffer go
	}
	wk.in, wk.out = wk.in[:0], wk.out[:0]
	s.work.Put(wk)
}

// readBody reads at most limit bytes of the body into buf.
func (s *Server) readBody(r *http.Request, buf []byte, limit int64) ([]byte, *httpError) {
	tooLarge := func() *httpError {
		return &httpError{status: http.StatusRequestEntityTooLarge, field: "body", msg: fmt.Sprintf("larger than the limit of %d bytes", limit)}
	}
	if r.ContentLength > limit {
		return buf, tooLarge()
	}
	// Preallocate for the declared length only up to 64 KiB: beyond, the
	// buffer grows as bytes arrive, so a client declaring a large body and
	// sending nothing costs nothing.
	if n := min(r.ContentLength+1, 64<<10); r.ContentLength > 0 && int64(cap(buf)) < n {
		buf = make([]byte, 0, n)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, tooLarge()
		}
		if err == io.EOF {
			// Closing the fully read body spares net/http its own check
			// for unread bytes when the response header is written (an
			// io.CopyN into io.Discard and an allocation per request).
			r.Body.Close()
			return buf, nil
		}
		if err != nil {
			var ne net.Error
			if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
				return buf, &httpError{status: http.StatusRequestTimeout, field: "body", msg: fmt.Sprintf("not received within the request timeout (%s)", s.lim.RequestTimeout)}
			}
			return buf, badRequest("body", "could not be read: %v", err)
		}
	}
}

// checkBody refuses empty bodies and JSON nested deeper than maxDepth.
// It runs on every request before any decoder, so it skips what cannot
// change the depth quickly: bytes outside strings through a table,
// string contents by searching for their closing quote.
func checkBody(body []byte, maxDepth int) *httpError {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("body", `empty; send a JSON object such as {"event": "...", "features": {...}}`)
	}
	depth := 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !depthByte[c] {
			continue
		}
		switch c {
		case '"':
			i = stringEnd(body, i+1)
		case '{', '[':
			if depth++; depth > maxDepth {
				return badRequest("body", "JSON nests deeper than %d levels (limits.max_json_depth)", maxDepth)
			}
		default: // '}' or ']'
			// Never below zero: in JSON Lines a line of closing brackets
			// must not buy depth for the lines after it.
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}

// depthByte marks the bytes outside strings that checkBody acts on.
var depthByte = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}

// stringEnd returns the index of the quote that closes the string whose
// contents start at i (len(b) when it is unterminated). A quote is escaped
// when an odd number of backslashes stands right before it: backslashes
// pair up from the left, and a run starts after the opening quote or
// after a character that is not a backslash.
func stringEnd(b []byte, i int) int {
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		q := i + j
		k := q
		for k > i && b[k-1] == '\\' {
			k--
		}
		if (q-k)%2 == 0 {
			return q
		}
		i = q + 1
	}
}

// readChecked reads the body into the work buffer (kept for reuse) and
// checks its JSON nesting.
func (s *Server) readChecked(r *http.Request, wk *work, limit int64, depth int) ([]byte, *httpError) {
	body, herr := s.readBody(r, wk.in, limit)
	wk.in = body
	if herr == nil {
		herr = checkBody(body, depth)
	}
	return body, herr
}
