package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/riskforge/riskforge/audit"
	"github.com/riskforge/riskforge/internal/gm"
	"github.com/riskforge/riskforge/server"
	"github.com/riskforge/riskforge/server/config"
)

// serveFlags are the flags of riskd serve; set ones override the config.
type serveFlags struct {
	config, policy, addr string
	tlsCert, tlsKey      string
	logLevel, logFormat  string
	adminToken           string
	watch                string
	ui                   bool
	drainPeriod          time.Duration
	auditDir, auditSync  string
	auditBatchInterval   time.Duration
	set                  map[string]bool
}

func serveCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve", `Serve decisions over HTTP. Give a config file, or --policy for the simple case;
flags override the config. SIGINT or SIGTERM shuts down gracefully: /readyz
turns 503, requests are served for the drain period (a second signal ends
it), then in-flight requests finish. The admin token can also come from $RISKD_ADMIN_TOKEN.`, stderr)
	var f serveFlags
	fs.StringVar(&f.config, "config", "", "configuration `file` (YAML, see docs/OPERATIONS.md)")
	fs.StringVar(&f.policy, "policy", "", "policy `path`: a .risk or .rbc file, or a directory of them (replaces the config's policies)")
	fs.StringVar(&f.addr, "addr", "", "listen address `host:port` (default 127.0.0.1:8080)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate `file` (PEM); with --tls-key serves HTTPS")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS private key `file` (PEM)")
	fs.StringVar(&f.logLevel, "log-level", "", "log `level`: debug (one line per decision), info, warn, error")
	fs.StringVar(&f.logFormat, "log-format", "", "log `format`: json or text")
	fs.StringVar(&f.adminToken, "admin-token", "", "bearer `token` for POST /v1/admin/reload (prefer $RISKD_ADMIN_TOKEN or the config)")
	fs.StringVar(&f.watch, "watch", "", "reload on file change: `true|false` (default true, or the config's reload.watch)")
	fs.BoolVar(&f.ui, "ui", false, "serve the policy playground at /ui (default off; or the config's ui.enabled)")
	fs.DurationVar(&f.drainPeriod, "drain-period", 0, "after SIGTERM, keep serving this `long` while /readyz answers 503 (default 5s, or the config's limits.drain_period)")
	fs.StringVar(&f.auditDir, "audit-dir", "", "record every decision in the audit log in `dir` (overrides audit.dir; docs/AUDIT.md)")
	fs.StringVar(&f.auditSync, "audit-sync", "", "audit log sync `policy`: always, batch or none (overrides audit.sync; default batch)")
	fs.DurationVar(&f.auditBatchInterval, "audit-batch-interval", 0, "under the batch sync policy, the shortest `time` between two syncs (overrides audit.batch_interval; docs/AUDIT.md)")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if f.config == "" && f.policy == "" {
		fmt.Fprintln(stderr, "riskd serve: give --config FILE or --policy DIR")
		return exitUsage
	}
	if f.watch != "" && f.watch != "true" && f.watch != "false" {
		fmt.Fprintf(stderr, "riskd serve: --watch must be true or false, not %q\n", f.watch)
		return exitUsage
	}
	if f.adminToken == "" {
		f.adminToken = os.Getenv("RISKD_ADMIN_TOKEN")
	}
	cfg, err := f.load()
	if err != nil {
		fmt.Fprintf(stderr, "riskd: %v\n", err)
		return exitError
	}
	log := newLogger(cfg.Log, stderr)
	tuneRuntime(cfg.Runtime, log)
	// fail ends serving when the audit log fails (serveWith handles the
	// signals).
	ctx, fail := context.WithCancelCause(context.Background())
	defer fail(nil)
	alog, sa, err := openAudit(cfg.Audit, log, func(err error) { fail(err) })
	if err != nil {
		log.Error("audit log did not open; not starting", "err", err.Error())
		fmt.Fprintf(stderr, "riskd: %v\n", err)
		return exitError
	}
	tracer, stopTracing, err := startTracing(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "riskd: %v\n", err)
		return exitError
	}
	defer stopTracing()
	code := serveWith(ctx, cfg, &f, log, sa, alog, tracer, stderr)
	if alog != nil {
		if err := alog.Close(); err != nil {
			log.Error("riskd stops: the audit log failed, so no decision can be acknowledged", "err", err.Error())
			fmt.Fprintf(stderr, "riskd: stopped because the audit log failed: %v\n", err)
			return exitError
		}
	}
	return code
}

// serveWith builds the server and serves until ctx ends.
func serveWith(ctx context.Context, cfg *config.Config, f *serveFlags, log *slog.Logger, sa server.Audit, alog *audit.Log, tracer server.Tracer, stderr io.Writer) int {
	var srv *server.Server
	mounts := uiMounts(cfg, log, func() []server.Source { return srv.Sources() })
	opts := server.Options{Config: cfg, LoadConfig: f.load, Logger: log, Models: modelLoader(cfg, log), Mounts: mounts, Audit: sa, Tracer: tracer}
	if alog != nil {
		// Window snapshots cut against the audit log, and a start replays
		// the records after the last one (docs/STATE.md).
		opts.WindowLog = windowLog{alog}
	}
	srv, err := server.New(opts)
	if err != nil {
		log.Error("policies did not load; not starting", "err", err.Error())
		fmt.Fprintf(stderr, "riskd: %v\n", err)
		return exitError
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		srv.Close()
		log.Error("cannot listen", "addr", cfg.Server.Addr, "err", err.Error())
		fmt.Fprintf(stderr, "riskd: %s\n", listenError(cfg.Server.Addr, err))
		return exitError
	}
	gln, err := listenGM(cfg.Server.GMTLS, log)
	if err != nil {
		ln.Close()
		srv.Close()
		log.Error("GM TLS listener not started; not starting", "err", err.Error())
		fmt.Fprintf(stderr, "riskd: %v\n", err)
		return exitError
	}
	if gln != nil {
		srv.AddListener(gln, "gmtls", gm.ConnContext)
	}
	// The first SIGINT/SIGTERM starts the graceful shutdown (drain, then
	// close); a second one ends the drain period at once.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	auditFailed := ctx
	ctx, cancel := context.WithCancel(ctx) // also ended when the audit log fails
	defer cancel()
	go func() {
		// Nothing can be acknowledged any more: no drain period.
		<-auditFailed.Done()
		if context.Cause(auditFailed) != context.Canceled {
			srv.EndDrain()
		}
	}()
	go func() {
		<-sigs
		cancel()
		<-sigs
		log.Info("second signal: ending the drain period now")
		srv.EndDrain()
	}()
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error("server stopped with an error", "err", err.Error())
		return exitError
	}
	return exitOK
}

// listenError words a failure to listen for the operator.
func listenError(addr string, err error) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Sprintf("cannot listen on %s: the address is in use (another riskd or program holds the port); stop it or choose another with --addr or server.addr", addr)
	case errors.Is(err, syscall.EACCES):
		return fmt.Sprintf("cannot listen on %s: permission denied (ports below 1024 need privileges); choose a port above 1023 with --addr or server.addr", addr)
	}
	return fmt.Sprintf("cannot listen on %s: %v", addr, err)
}

// load reads the config file (if any) and applies the flags; it runs at
// start and again on every reload.
func (f *serveFlags) load() (*config.Config, error) {
	cfg := config.Default()
	if f.config != "" {
		c, err := config.Load(f.config)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	if f.policy != "" {
		cfg.Policies = []config.Policy{{Path: f.policy}}
	}
	if f.set["addr"] {
		cfg.Server.Addr = f.addr
	}
	if f.set["tls-cert"] {
		cfg.Server.TLS.Cert = f.tlsCert
	}
	if f.set["tls-key"] {
		cfg.Server.TLS.Key = f.tlsKey
	}
	if f.set["log-level"] {
		cfg.Log.Level = f.logLevel
	}
	if f.set["log-format"] {
		cfg.Log.Format = f.logFormat
	}
	if f.adminToken != "" {
		cfg.Server.AdminToken, cfg.Server.AdminTokenFile = f.adminToken, ""
	}
	if f.set["ui"] {
		cfg.UI.Enabled = f.ui
	}
	if f.set["drain-period"] {
		cfg.Limits.DrainPeriod = config.Duration(f.drainPeriod)
	}
	if f.auditDir != "" {
		cfg.Audit.Dir = f.auditDir
	}
	if f.auditSync != "" {
		cfg.Audit.Sync = f.auditSync
	}
	if f.auditBatchInterval != 0 {
		cfg.Audit.BatchInterval = config.Duration(f.auditBatchInterval)
	}
	if f.watch != "" {
		on := f.watch == "true"
		cfg.Reload.Watch = &on
	}
	if err := cfg.Validate(); err != nil {
		where := "flags"
		if f.config != "" {
			where = f.config
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return cfg, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// tuneRuntime applies the runtime section unless GOGC / GOMEMLIMIT /
// GOMAXPROCS are set. It runs before the models load, whose sessions
// default to GOMAXPROCS.
func tuneRuntime(rt config.Runtime, log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(rt.GCPercent)
	}
	if rt.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(rt.MemoryLimit))
	}
	goDefault := runtime.GOMAXPROCS(0)
	if n := rt.Procs(goDefault, runtime.NumCPU()); os.Getenv("GOMAXPROCS") == "" && n != goDefault {
		runtime.GOMAXPROCS(n)
	}
	log.Info("go runtime", "gomaxprocs", runtime.GOMAXPROCS(0), "cpus", runtime.NumCPU(), "go_default_gomaxprocs", goDefault,
		"gogc", os.Getenv("GOGC"), "gc_percent", rt.GCPercent, "memory_limit", int64(rt.MemoryLimit))
}
