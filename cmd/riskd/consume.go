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
	"syscall"

	"github.com/riskforge/riskforge/server"
	"github.com/riskforge/riskforge/server/config"
	"github.com/riskforge/riskforge/stream"
)

func consumeCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("consume", `Decide events from Kafka: join the consumer group of the config's kafka section,
decide every event of its topics with the same code as POST /v1/decide, and
produce the decisions to kafka.output_topic (events that cannot be decided go
to kafka.dead_letter_topic). The HTTP listener of server.addr stays up for
/metrics, /readyz and decisions. SIGINT or SIGTERM finishes the batch in hand,
commits and leaves the group. The SASL password can come from
$RISKD_KAFKA_PASSWORD. With the audit log on (--audit-dir or the config's
audit section) every decision is recorded and produced only once its record
is durable; if the log fails, the consumer stops without committing the
batch in hand and riskd exits 1.`, stderr)
	var f serveFlags
	fs.StringVar(&f.config, "config", "", "configuration `file` with a kafka section (see docs/OPERATIONS.md)")
	fs.StringVar(&f.addr, "addr", "", "HTTP listen address `host:port` for metrics and health")
	fs.StringVar(&f.logLevel, "log-level", "", "log `level`: debug, info, warn, error")
	fs.StringVar(&f.logFormat, "log-format", "", "log `format`: json or text")
	fs.StringVar(&f.auditDir, "audit-dir", "", "record every decision in the audit log in `dir` (overrides audit.dir; docs/AUDIT.md)")
	fs.StringVar(&f.auditSync, "audit-sync", "", "audit log sync `policy`: always, batch or none (overrides audit.sync; default batch)")
	fs.DurationVar(&f.auditBatchInterval, "audit-batch-interval", 0, "under the batch sync policy, the shortest `time` between two syncs (overrides audit.batch_interval; docs/AUDIT.md)")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if f.config == "" {
		fmt.Fprintln(stderr, "riskd consume: give --config FILE (its kafka section names the brokers and topics)")
		return exitUsage
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	cfg, err := f.load()
	if err == nil {
		err = cfg.Kafka.CheckKafka()
	}
	if err != nil {
		fmt.Fprintf(stderr, "riskd: %v\n", err)
		return exitError
	}
	log := newLogger(cfg.Log, stderr)
	tuneRuntime(cfg.Runtime, log)
	// A failed audit log ends consuming: the batch in hand is not
	// committed (the consumer sees its records fail), and an idle
	// consumer stops too.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, auditFailed := context.WithCancelCause(ctx)
	defer auditFailed(nil)
	alog, sa, err := openAudit(cfg.Audit, log, func(err error) { auditFailed(err) })
	if err != nil {
		log.Error("audit log did not open; not starting", "err", err.Error())
		fmt.Fprintf(stderr, "riskd: %v\n", err)
		return exitError
	}
	code := consumeWith(ctx, cfg, &f, log, sa, stderr)
	if c := closeAudit(alog, log, stderr); c != exitOK {
		return c
	}
	return code
}

// consumeWith builds the server and the consumer and runs them until ctx
// ends or the consumer fails.
func consumeWith(ctx context.Context, cfg *config.Config, f *serveFlags, log *slog.Logger, sa server.Audit, stderr io.Writer) int {
	tracer, stopTracing, err := startTracing(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "riskd: %v\n", err)
		return exitError
	}
	defer stopTracing()
	srv, err := server.New(server.Options{Config: cfg, LoadConfig: f.load, Logger: log, Models: modelLoader(cfg, log), Tracer: tracer, Audit: sa})
	if err != nil {
		fmt.Fprintf(stderr, "riskd: %v\n", err)
		return exitError
	}
	cons, err := stream.New(stream.Options{Kafka: cfg.Kafka, Decider: srv, Logger: log})
	if err != nil {
		srv.Close()
		fmt.Fprintf(stderr, "riskd: %v\n", err)
		return exitError
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		srv.Close()
		log.Error("cannot listen", "addr", cfg.Server.Addr, "err", err.Error())
		return exitError
	}
	httpCtx, stopHTTP := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(httpCtx, ln) }()
	runErr := cons.Run(ctx)
	stopHTTP() // after the consumer: decisions in hand still need the server
	serveErr := <-served
	if err := errors.Join(runErr, serveErr); err != nil {
		log.Error("riskd consume stopped with an error", "err", err.Error())
		return exitError
	}
	return exitOK
}
