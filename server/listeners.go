package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
)

// extraListener is another listener serving the same endpoints (the GM
// TLS one), added before Serve.
type extraListener struct {
	ln      net.Listener
	name    string
	connCtx func(context.Context, net.Conn) context.Context
}

// AddListener makes Serve also serve ln (already speaking its protocol,
// e.g. a GM TLS listener) with the same handler, limits and graceful
// shutdown. connContext, when not nil, is the http.Server's ConnContext
// (GM TLS carries its connection state that way: r.TLS is nil there).
// Call it before Serve.
func (s *Server) AddListener(ln net.Listener, name string, connContext func(context.Context, net.Conn) context.Context) {
	s.extra = append(s.extra, extraListener{ln, name, connContext})
}

// serveExtra starts the added listeners; a listener that stops with an
// error stops Serve through errc.
func (s *Server) serveExtra(errc chan<- error) []*http.Server {
	var out []*http.Server
	for _, x := range s.extra {
		srv := s.httpServer()
		srv.ConnContext = x.connCtx
		out = append(out, srv)
		go func() {
			if err := srv.Serve(x.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				select {
				case errc <- fmt.Errorf("%s listener: %w", x.name, err):
				default:
				}
			}
		}()
		s.log.Info("listening", "addr", x.ln.Addr().String(), "scheme", x.name)
	}
	return out
}
