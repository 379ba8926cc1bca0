// Package server is riskd's HTTP decision service: it loads policies
// (source or artifacts), serves decisions on /v1/decide and
// /v1/decide/batch, rolls versions out (champion, challengers, pin,
// shadow), reloads without dropping a request, and exports Prometheus
// metrics. docs/OPERATIONS.md is the operator's guide.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/state"

	"github.com/riskforge/riskforge/server/config"
	"github.com/riskforge/riskforge/server/connwatch"
)

// Options configure a Server.
type Options struct {
	// Config is the configuration to start with.
	Config *config.Config
	// LoadConfig reads the configuration again for a reload (the config
	// file may have changed). Nil reloads with Config.
	LoadConfig func() (*config.Config, error)
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Models loads a version's ONNX models. Nil: model calls use the
	// policy's on_error values and decisions are marked degraded.
	Models ModelLoader
	// Mounts adds handlers under their ServeMux patterns (riskd mounts
	// the playground at /ui and /ui/). They share the server's listener
	// and timeouts and own their limits.
	Mounts map[string]http.Handler
	// Audit records and signs decisions (off when zero).
	Audit Audit
	// Tracer traces decisions (OpenTelemetry, see package telemetry);
	// nil traces nothing.
	Tracer Tracer
	// WindowLog is the audit log that window snapshots cut against and
	// that a start replays after the last snapshot (docs/STATE.md); nil:
	// none.
	WindowLog state.Log
}

// Server serves decisions. Create it with New, then Serve.
type Server struct {
	log         *slog.Logger
	loadConfig  func() (*config.Config, error)
	modelLoader ModelLoader
	tracer      Tracer
	metrics     *metrics
	start       *config.Config // server, limits and log settings are fixed at start
	lim         config.Limits
	adminToken  string
	retryAfter  []string

	snap        atomic.Pointer[snapshot]
	gen         atomic.Uint64
	inflight    atomic.Int64
	serving     atomic.Bool // listening and not shutting down
	draining    atomic.Bool // shutting down: close connections after each response
	reloadMu    sync.Mutex
	lastReload  atomic.Pointer[ReloadStatus]
	watchHealth atomic.Pointer[watchHealth] // nil: not watching
	bg          sync.WaitGroup
	work        sync.Pool // *work, per-request scratch buffers (body.go)
	handler     http.Handler
	mounts      map[string]http.Handler
	rejects     rateLog
	stopOnce    sync.Once
	stop        chan struct{}
	endDrain    chan struct{} // closed by EndDrain
	endOnce     sync.Once
	audit       auditState
	extra       []extraListener
	state       *state.Backend // velocity windows; fixed at start (see state.go)
}

// ReloadStatus describes the last reload attempt (api.ReloadStatus).
type ReloadStatus = api.ReloadStatus

// New loads the configured policies and returns a server ready to Serve.
// It fails when the policies do not load: riskd never starts without a
// working version of every configured policy.
func New(opts Options) (*Server, error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, errors.New("server: no configuration")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tok, err := cfg.AdminTokenValue()
	if err != nil {
		return nil, err
	}
	s := &Server{
		log: log, loadConfig: opts.LoadConfig, modelLoader: opts.Models, tracer: opts.Tracer,
		start: cfg, lim: cfg.Limits, adminToken: tok,
		retryAfter: []string{strconv.Itoa(int((cfg.Limits.RetryAfter.D() + time.Second - 1) / time.Second))},
		stop:       make(chan struct{}),
		mounts:     opts.Mounts,
		endDrain:   make(chan struct{}),
	}
	if s.state, err = state.Open(cfg.State, log); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(s)
	if err := s.setupAudit(opts.Audit); err != nil {
		return nil, err
	}
	s.registerStateMetrics()
	sn, err := s.build(cfg, nil, buildOptions{})
	if err != nil {
		return nil, err
	}
	s.install(sn, nil)
	if opts.WindowLog != nil {
		s.state.SetLog(opts.WindowLog)
	}
	s.state.Restore(s.replayResolver(sn))
	s.countReplay()
	debug.FreeOSMemory() // compiling took memory the loaded versions do not keep
	s.logLoaded(sn, "start")
	s.lastReload.Store(&ReloadStatus{At: sn.loadedAt, Trigger: "start", Result: "success", Generation: sn.gen})
	s.handler = s.routes()
	return s, nil
}

// Handler returns the HTTP handler (every endpoint).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve accepts connections on ln until ctx is cancelled, then shuts
// down gracefully: readiness turns false, requests are still served for
// limits.drain_period (so load balancers see the 503 and stop sending),
// then the listener closes, in-flight requests finish (up to
// limits.shutdown_timeout) and models are closed. It also runs the file
// watcher and the window sweeper.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	cfg := s.start
	srv := s.httpServer()
	bgCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Reload.Watching() {
		// Watches are registered before the listener serves, so a file
		// written right after riskd is ready is never missed.
		if wt := s.startWatch(); wt != nil {
			s.bg.Add(1)
			go func() { defer s.bg.Done(); wt.run(bgCtx) }()
		}
	}
	s.bg.Add(1)
	go func() { defer s.bg.Done(); s.runState(bgCtx) }()
	if cfg.Server.DebugAddr != "" {
		s.serveDebug(bgCtx, cfg.Server.DebugAddr)
	}

	errc := make(chan error, 1+len(s.extra))
	serve := func() error { return srv.ServeTLS(ln, cfg.Server.TLS.Cert, cfg.Server.TLS.Key) }
	if cfg.Server.TLS.Cert == "" {
		plain := s.watchPlain(bgCtx, srv, ln)
		serve = func() error { return srv.Serve(plain) }
	}
	go func() { errc <- serve() }()
	s.serving.Store(true)
	scheme := "http"
	if cfg.Server.TLS.Cert != "" {
		scheme = "https"
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "scheme", scheme)
	extra := s.serveExtra(errc)
	select {
	case err := <-errc:
		s.serving.Store(false)
		for _, x := range extra {
			x.Close()
		}
		cancel()
		s.Close()
		return err
	case <-ctx.Done():
	}
	s.serving.Store(false)
	if err := s.drain(errc); err != nil {
		for _, x := range extra {
			x.Close()
		}
		cancel()
		s.Close()
		return err
	}
	s.log.Info("shutting down: finishing in-flight requests", "timeout", s.lim.ShutdownTimeout.String(), "inflight", s.inflight.Load())
	sctx, scancel := context.WithTimeout(context.Background(), s.lim.ShutdownTimeout.D())
	defer scancel()
	for _, x := range extra {
		go x.Shutdown(sctx)
	}
	err := srv.Shutdown(sctx)
	if err != nil {
		s.log.Error("shutdown did not finish in time; closing connections", "err", err)
		srv.Close()
	}
	for _, x := range extra {
		x.Close()
	}
	cancel()
	s.Close()
	s.log.Info("stopped")
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// debugListenAddr is where pprof listens: a port alone (":6060") means
// loopback; exposed reports a host that is not loopback (used as given,
// with a warning: profiles and the command line leak from there).
func debugListenAddr(addr string) (listen string, exposed bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, false // net.Listen reports it
	}
	if host == "" {
		return net.JoinHostPort("127.0.0.1", port), false
	}
	if host == "localhost" {
		return addr, false
	}
	ip := net.ParseIP(host)
	return addr, ip == nil || !ip.IsLoopback()
}

// drain keeps serving for limits.drain_period while /readyz answers 503.
// Responses meanwhile carry Connection: close, so clients open new
// connections (which a load balancer sends elsewhere) rather than reuse
// this one. (http.Server.SetKeepAlivesEnabled(false) would close idle
// connections at once, under a client that is just sending on one.)
func (s *Server) drain(errc <-chan error) error {
	d := s.lim.DrainPeriod.D()
	if d <= 0 {
		return nil
	}
	s.draining.Store(true)
	s.log.Info("draining: /readyz answers 503 and requests are still served", "drain_period", d.String(), "inflight", s.inflight.Load())
	select {
	case <-time.After(d):
		return nil
	case <-s.endDrain:
		return nil
	case err := <-errc:
		return err
	}
}

// EndDrain ends the drain period of a shutdown now (riskd calls it on a
// second SIGINT or SIGTERM); a later shutdown does not drain at all.
func (s *Server) EndDrain() { s.endOnce.Do(func() { close(s.endDrain) }) }

// timeouts are the connection limits of the decision endpoints.
func (s *Server) timeouts() connwatch.Timeouts {
	return connwatch.Timeouts{
		ReadHeader: min(5*time.Second, s.lim.RequestTimeout.D()),
		Read:       s.lim.RequestTimeout.D(),
		Write:      2*s.lim.RequestTimeout.D() + time.Second,
		Idle:       2 * time.Minute,
	}
}

// httpServer returns an http.Server for the decision endpoints with the
// configured limits.
func (s *Server) httpServer() *http.Server {
	t := s.timeouts()
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// watchPlain moves the timeouts of srv, which serves plain HTTP/1.1, from
// its fields to a connwatch.Watcher run until ctx ends, and returns the
// listener to serve: the same limits, without a timer armed per request
// (see package connwatch for what that saves). TLS listeners keep the
// fields: they may speak HTTP/2, whose streams the Watcher cannot see.
func (s *Server) watchPlain(ctx context.Context, srv *http.Server, ln net.Listener) net.Listener {
	w := connwatch.New(s.timeouts(), 0)
	srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = 0, 0, 0, -1
	srv.ConnState = w.ConnState
	s.bg.Add(1)
	go func() { defer s.bg.Done(); w.Run(ctx) }()
	return w.Listener(ln)
}

// serveDebug serves /debug/pprof on addr until ctx ends.
func (s *Server) serveDebug(ctx context.Context, addr string) {
	addr, exposed := debugListenAddr(addr)
	if exposed {
		s.log.Warn("server.debug_addr is not a loopback address: anyone who reaches it can read profiles and the command line", "addr", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.log.Error("debug listener not started", "addr", addr, "err", err.Error())
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	go func() { <-ctx.Done(); srv.Close() }()
	s.log.Info("debug listener (pprof)", "addr", ln.Addr().String())
}

// Close stops background work and closes the models of every loaded
// version. Call it after the last request (Serve does).
func (s *Server) Close() {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.bg.Wait()
		if sn := s.snap.Load(); sn != nil {
			for _, v := range sn.versions {
				v.close()
			}
		}
		s.closeState()
	})
}

// cfg returns the configuration of the current snapshot.
func (s *Server) cfg() *config.Config { return s.snap.Load().cfg }

// Reload builds a new snapshot from the configuration and swaps it in.
// A configuration or policy that does not load is rejected (logged,
// counted, returned) and the current snapshot keeps serving.
func (s *Server) Reload(trigger string) (ReloadStatus, error) {
	return s.reload(trigger, buildOptions{})
}

func (s *Server) reload(trigger string, opts buildOptions) (ReloadStatus, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	st := ReloadStatus{At: time.Now(), Trigger: trigger}
	fail := func(err error) (ReloadStatus, error) {
		st.Result, st.Error, st.Generation = "failure", err.Error(), s.gen.Load()
		s.lastReload.Store(&st)
		s.metrics.reloads.WithLabelValues("failure").Inc()
		s.metrics.reloadTime.WithLabelValues("failure").SetToCurrentTime()
		s.log.Error("reload rejected; the loaded versions keep serving", "trigger", trigger, "err", clip(err.Error(), 16<<10))
		// A rejected policy can have taken a lot of memory to compile;
		// give it back now rather than keep it as heap for minutes.
		debug.FreeOSMemory()
		return st, err
	}
	cfg := s.start
	if s.loadConfig != nil {
		c, err := s.loadConfig()
		if err != nil {
			return fail(err)
		}
		cfg = c
		s.warnRestartOnly(cfg)
	}
	old := s.snap.Load()
	sn, err := s.build(cfg, old, opts)
	if err != nil {
		return fail(err)
	}
	if sameShape(old, sn) {
		st.Result, st.Generation = "unchanged", old.gen
		s.lastReload.Store(&st)
		s.metrics.reloads.WithLabelValues("unchanged").Inc()
		s.metrics.reloadTime.WithLabelValues("unchanged").SetToCurrentTime()
		s.log.Info("reload: nothing changed", "trigger", trigger)
		return st, nil
	}
	s.warnSameVersionChanged(old, sn)
	s.install(sn, old)
	debug.FreeOSMemory() // compiling took memory the new versions do not keep
	st.Result, st.Generation = "success", sn.gen
	s.lastReload.Store(&st)
	s.metrics.reloads.WithLabelValues("success").Inc()
	s.metrics.reloadTime.WithLabelValues("success").SetToCurrentTime()
	s.logLoaded(sn, trigger)
	return st, nil
}

// warnRestartOnly logs settings a reload cannot apply.
func (s *Server) warnRestartOnly(cfg *config.Config) {
	a, b := cfg.Server, s.start.Server
	a.DefaultPolicy, b.DefaultPolicy = "", "" // applied by the reload
	var changed []string
	for _, sec := range []struct {
		name string
		same bool
	}{
		{"server", reflect.DeepEqual(a, b)},
		{"reload.debounce", cfg.Reload.Debounce == s.start.Reload.Debounce},
		{"limits", reflect.DeepEqual(cfg.Limits, s.start.Limits)},
		{"log", reflect.DeepEqual(cfg.Log, s.start.Log)},
		{"reload.watch", cfg.Reload.Watching() == s.start.Reload.Watching()},
		{"models", reflect.DeepEqual(cfg.Models, s.start.Models)},
		{"runtime", reflect.DeepEqual(cfg.Runtime, s.start.Runtime)},
		{"audit", reflect.DeepEqual(cfg.Audit, s.start.Audit)},
		{"tracing", reflect.DeepEqual(cfg.Tracing, s.start.Tracing)},
		{"kafka", reflect.DeepEqual(cfg.Kafka, s.start.Kafka)},
		{"lookups (for versions already loaded)", reflect.DeepEqual(cfg.Lookups, s.start.Lookups)},
	} {
		if !sec.same {
			changed = append(changed, sec.name)
		}
	}
	if len(changed) > 0 {
		s.log.Warn("config sections changed that apply only at restart; ignored until then", "sections", changed)
	}
}

// sameShape reports whether two snapshots serve the same versions with
// the same rollout.
func sameShape(a, b *snapshot) bool {
	if a == nil || len(a.names) != len(b.names) || (a.def == nil) != (b.def == nil) {
		return false
	}
	if a.def != nil && a.def.name != b.def.name {
		return false
	}
	if !reflect.DeepEqual(a.cfg.State, b.cfg.State) {
		return false
	}
	for i, name := range a.names {
		pa, pb := a.policies[name], b.policies[b.names[i]]
		if pb == nil || pa.key != pb.key || pa.seed != pb.seed || len(pa.order) != len(pb.order) {
			return false
		}
		for j, ea := range pa.order {
			eb := pb.order[j]
			if ea.v != eb.v || ea.role != eb.role || ea.percent != eb.percent {
				return false
			}
		}
	}
	return true
}

func (s *Server) logLoaded(sn *snapshot, trigger string) {
	for _, name := range sn.names {
		for _, e := range sn.policies[name].order {
			v := e.v
			s.log.Info("policy version loaded", "trigger", trigger, "generation", sn.gen, "policy", name, "version", v.Version,
				"role", e.role.String(), "percent", e.percent, "path", v.Path, "kind", v.Kind, "digest", v.Digest)
			for _, w := range v.Warnings {
				s.log.Warn("policy warning", "policy", name, "version", v.Version, "warning", w)
			}
			if v.modelErr != "" {
				s.log.Warn("models not loaded", "policy", name, "version", v.Version, "reason", v.modelErr)
			}
		}
	}
}

// check is one line of the readiness report.
type check = api.Check

// readiness reports whether the server should receive traffic: policies
// loaded, their models loaded, the window store usable, not shutting down.
func (s *Server) readiness() (bool, []check) {
	sn := s.snap.Load()
	var checks []check
	if sn == nil || len(sn.names) == 0 {
		return false, []check{{Name: "policies", Detail: "none loaded"}}
	}
	nv := len(sn.versions)
	checks = append(checks, check{Name: "policies", OK: true, Detail: fmt.Sprintf("%d %s, %d %s (generation %d)", len(sn.names), plural(len(sn.names), "policy", "policies"), nv, plural(nv, "version", "versions"), sn.gen)})
	mc := check{Name: "models", OK: true}
	declared, loadedN := 0, 0
	for _, v := range sn.versions {
		if len(v.Prog.Models) == 0 {
			continue
		}
		declared += len(v.Prog.Models)
		if v.models != nil {
			loadedN += len(v.Prog.Models)
		} else {
			mc.OK = false
			mc.Detail = fmt.Sprintf("%s: %s", v, v.modelErr)
		}
	}
	if mc.OK {
		if declared == 0 {
			mc.Detail = "no models declared"
		} else {
			mc.Detail = fmt.Sprintf("%d of %d loaded", loadedN, declared)
		}
	}
	checks = append(checks, mc)
	var lk []string
	for _, v := range sn.versions {
		if v.lookups != nil {
			lk = append(lk, v.String()+": "+v.lookups.report())
		}
	}
	if len(lk) > 0 {
		checks = append(checks, check{Name: "lookups", OK: true, Detail: strings.Join(lk, "; ")})
	}
	checks = append(checks, s.stateCheck())
	if wh := s.watchHealth.Load(); wh != nil {
		checks = append(checks, check{Name: "watch", OK: wh.ok, Detail: wh.detail})
	}
	sv := check{Name: "serving", OK: s.serving.Load(), Detail: "accepting requests"}
	if !sv.OK {
		sv.Detail = "not listening or shutting down"
	}
	checks = append(checks, sv)
	ok := true
	for _, c := range checks {
		ok = ok && c.OK
	}
	return ok, checks
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// rateLog logs an event at most once per second, with the count since.
type rateLog struct {
	mu    sync.Mutex
	last  time.Time
	count int
}

func (r *rateLog) hit(now time.Time) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count++
	if now.Sub(r.last) < time.Second {
		return 0, false
	}
	n := r.count
	r.count, r.last = 0, now
	return n, true
}
