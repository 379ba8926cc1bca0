package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/riskforge/riskforge/server"
	"github.com/riskforge/riskforge/server/config"
	"github.com/riskforge/riskforge/telemetry"
)

// startTracing builds the OpenTelemetry tracer the environment and the
// tracing section ask for. It returns a nil Tracer when tracing is off;
// stop flushes buffered spans (at most 5s).
func startTracing(cfg *config.Config, log *slog.Logger) (tr server.Tracer, stop func(), err error) {
	version := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	t, err := telemetry.FromEnv(context.Background(), cfg.Tracing, version)
	if err != nil || t == nil {
		return nil, func() {}, err
	}
	log.Info("tracing on", "exporter", t.String())
	return t, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := t.Shutdown(ctx); err != nil {
			log.Warn("tracing: spans not flushed at shutdown", "err", err.Error())
		}
	}, nil
}
