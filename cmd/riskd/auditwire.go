package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskforge/riskforge/audit"
	"github.com/riskforge/riskforge/internal/gm"
	"github.com/riskforge/riskforge/server"
	"github.com/riskforge/riskforge/server/config"
)

// openAudit opens the audit log and loads the keys cfg.Audit names. It
// returns a nil log when auditing is off. onFatal is called (once, without
// blocking) when the log fails.
func openAudit(c config.Audit, log *slog.Logger, onFatal func(error)) (*audit.Log, server.Audit, error) {
	var sa server.Audit
	var signKey *gm.PrivateKey
	if c.SigningKey != "" {
		k, err := gm.LoadPrivateKey(c.SigningKey)
		if err != nil {
			return nil, sa, fmt.Errorf("audit.signing_key: %w", err)
		}
		signKey = k
		if c.SignDecisions {
			sa.SigningKey = k
		}
	}
	for _, f := range c.ClientKeys {
		k, err := gm.LoadPublicKey(f)
		if err != nil {
			return nil, sa, fmt.Errorf("audit.client_keys: %w", err)
		}
		sa.ClientKeys = append(sa.ClientKeys, k)
	}
	if c.Dir == "" {
		return nil, sa, nil
	}
	var kr *audit.Keyring
	if len(c.EncryptionKeys) > 0 {
		var keys []gm.SM4Key
		for _, f := range c.EncryptionKeys {
			k, err := gm.LoadSM4Key(f)
			if err != nil {
				return nil, sa, fmt.Errorf("audit.encryption_keys: %w", err)
			}
			keys = append(keys, k)
		}
		var err error
		if kr, err = audit.NewKeyring(keys...); err != nil {
			return nil, sa, fmt.Errorf("audit.encryption_keys: %w", err)
		}
	}
	pol, err := audit.ParseSyncPolicy(c.Sync)
	if err != nil {
		return nil, sa, fmt.Errorf("audit.sync: %w", err)
	}
	if signKey == nil {
		log.Warn("audit: no audit.signing_key, so no signed checkpoints: cutting records off the end of the log cannot be detected")
	}
	fsys, err := failpoint()
	if err != nil {
		return nil, sa, err
	}
	l, err := audit.Open(audit.Options{
		FS:  fsys,
		Dir: c.Dir, Sync: pol, BatchInterval: c.BatchInterval.D(), BatchRecords: c.BatchRecords,
		// The server reserves each decision's record while it is evaluated
		// (server.RecordReserver), so a group commit waits only for those.
		Reservations: true,
		SegmentBytes: int64(c.SegmentSize), RetainAge: c.RetainAge.D(), RetainBytes: int64(c.RetainSize),
		CheckpointInterval: c.CheckpointEvery.D(), SigningKey: signKey, Keyring: kr,
		Logger: log, OnFatal: onFatal,
	})
	if err != nil {
		return nil, sa, err
	}
	prometheus.MustRegister(l.Metrics().Collectors()...)
	sa.Recorder, sa.Features, sa.Mask = l, c.RecordFeatures, c.MaskFeatures
	return l, sa, nil
}

// closeAudit closes the audit log (nil: off) and turns its failure into
// riskd's exit: 1 with the reason on stderr.
func closeAudit(alog *audit.Log, log *slog.Logger, stderr io.Writer) int {
	if alog == nil {
		return exitOK
	}
	if err := alog.Close(); err != nil {
		log.Error("riskd stops: the audit log failed, so no decision can be acknowledged", "err", err.Error())
		fmt.Fprintf(stderr, "riskd: stopped because the audit log failed: %v\n", err)
		return exitError
	}
	return exitOK
}

// listenGM opens the GM TLS listener of cfg.Server.GMTLS (nil when not
// configured). gmtls prints handshake errors to stdout; they are routed
// to the log.
func listenGM(g config.GMTLS, log *slog.Logger) (net.Listener, error) {
	if g.Addr == "" {
		return nil, nil
	}
	cfg, err := gm.ServerConfig(gm.ServerFiles{SignCert: g.SignCert, SignKey: g.SignKey, EncCert: g.EncCert, EncKey: g.EncKey})
	if err != nil {
		return nil, fmt.Errorf("server.gm_tls: %w", err)
	}
	if err := gm.RouteStdout(func(line string) {
		log.Debug("gmtls library output", "line", strings.TrimSpace(line))
	}); err != nil {
		return nil, err
	}
	inner, err := net.Listen("tcp", g.Addr)
	if err != nil {
		return nil, fmt.Errorf("server.gm_tls.addr: %w", err)
	}
	ln := gm.NewListener(inner, cfg)
	ln.OnError = func(remote string, err error) {
		log.Warn("GM TLS handshake failed", "remote", remote, "err", err.Error())
	}
	return ln, nil
}

// failpoint reads RISKD_AUDIT_FAILPOINT: "fsync-after=N" makes every
// fdatasync of the audit log after the first N fail, to exercise (and
// demonstrate) the failure path end to end. Unset: the real file system.
func failpoint() (audit.FS, error) {
	v := os.Getenv("RISKD_AUDIT_FAILPOINT")
	if v == "" {
		return audit.OS, nil
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(v, "fsync-after="), 10, 64)
	if err != nil || !strings.HasPrefix(v, "fsync-after=") || n < 0 {
		return nil, fmt.Errorf("RISKD_AUDIT_FAILPOINT=%q: the only failpoint is fsync-after=N", v)
	}
	return &audit.FaultFS{FS: audit.OS, SyncsOK: n}, nil
}

// windowLog is the audit log as window state uses it: snapshots record
// its position, and a start replays the records after the snapshot.
type windowLog struct{ l *audit.Log }

func (w windowLog) Next() uint64 {
	n, _ := w.l.Head()
	return n
}

func (w windowLog) Durable() uint64 { return w.l.Durable() }

// WaitDurable polls: a snapshot waits for the records of the calls it
// holds, which the log's writer makes durable within a batch interval.
func (w windowLog) WaitDurable(n uint64) error {
	deadline := time.Now().Add(30 * time.Second)
	for w.l.Durable() < n {
		if err := w.l.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("audit records below %d not durable after 30s (durable: %d)", n, w.l.Durable())
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// Records hands the window state each decision record as the JSON of its
// full view (format 1 bodies are that JSON; format 2 compact bodies are
// expanded with their segment's dictionary). Dictionary records are not
// decisions and are left out; a sealed record no key opens is passed as
// nil, which stops the replay.
func (w windowLog) Records(from uint64, fn func(uint64, []byte) error) error {
	return w.l.ScanFrom(from, func(it *audit.Item) error {
		if it.IsDict {
			return nil
		}
		if it.Body == nil {
			return fn(it.Index, nil)
		}
		d, err := it.Decision()
		if err != nil {
			return fmt.Errorf("audit record %d: %w", it.Index, err)
		}
		body, err := json.Marshal(d)
		if err != nil {
			return err
		}
		return fn(it.Index, body)
	})
}
