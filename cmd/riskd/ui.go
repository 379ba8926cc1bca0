package main

import (
	"log/slog"
	"net"
	"net/http"

	"github.com/riskforge/riskforge/playground"
	"github.com/riskforge/riskforge/server"
	"github.com/riskforge/riskforge/server/config"
)

// uiMounts returns the playground's handler for /ui and /ui/. It is
// mounted even when the UI is off, so its endpoints answer with a clear
// refusal (404, how to turn it on) rather than riskd's generic not-found.
// sources is called per request, after the server exists.
func uiMounts(cfg *config.Config, log *slog.Logger, sources func() []server.Source) map[string]http.Handler {
	h := playground.New(playground.Options{
		Enabled:      cfg.UI.Enabled,
		Policies:     func() []playground.Policy { return playgroundPolicies(sources()) },
		MaxBodyBytes: int64(cfg.Limits.MaxBodyBytes),
		Rate:         cfg.UI.RatePerSecond,
		Logger:       log,
	})
	if cfg.UI.Enabled {
		host, _, _ := net.SplitHostPort(cfg.Server.Addr)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			log.Warn("the playground (/ui) shows the source of every served policy, thresholds included, to anyone who can reach this address", "addr", cfg.Server.Addr)
		}
		log.Info("playground on", "path", playground.Prefix+"/")
	}
	return map[string]http.Handler{playground.Prefix: h, playground.Prefix + "/": h}
}

// playgroundPolicies lists the served versions as the page may load them.
func playgroundPolicies(src []server.Source) []playground.Policy {
	out := make([]playground.Policy, 0, len(src))
	for _, s := range src {
		out = append(out, playground.FromProgram(s.Policy, s.Version, s.Path, s.Prog))
	}
	return out
}
