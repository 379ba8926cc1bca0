package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
)

// echoHandler is the ceiling riskd is compared with: the least a net/http
// JSON service can do. "raw" reads the body and writes it back as the
// JSON response; "json" also parses it and encodes it again with
// encoding/json.
func echoHandler(mode string) http.Handler {
	pool := sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
	ct := []string{"application/json"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bp := pool.Get().(*[]byte)
		defer pool.Put(bp)
		buf := (*bp)[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := r.Body.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if len(buf) > 1<<20 {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
		}
		*bp = buf
		out := buf
		if mode == "json" {
			var v any
			if err := json.Unmarshal(buf, &v); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			var err error
			if out, err = json.Marshal(v); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		h := w.Header()
		h["Content-Type"] = ct
		h["Content-Length"] = []string{strconv.Itoa(len(out))}
		w.Write(out)
	})
}

// serveEcho listens on addr and prints "listening ADDR" on stdout.
func serveEcho(addr, mode string, stdout io.Writer) error {
	if mode != "raw" && mode != "json" {
		return fmt.Errorf("--mode must be raw or json, not %q", mode)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	return http.Serve(ln, echoHandler(mode))
}

// serveEchoDebug serves /debug/pprof on addr in the background; nothing
// when addr is empty. Only loopback addresses are taken: profiles show
// the process's command line and memory.
func serveEchoDebug(addr string, stderr io.Writer) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		ln.Close()
		return fmt.Errorf("--debug-addr %s is not a loopback address", addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	fmt.Fprintf(stderr, "pprof on %s\n", ln.Addr())
	go http.Serve(ln, mux)
	return nil
}
