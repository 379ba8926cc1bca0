package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/riskforge/riskforge/server/config"
	"github.com/riskforge/riskforge/stream"
)

func exportCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("export", `Write the events of a Kafka topic range as JSON Lines (one /v1/decide body per
line, in record-timestamp order) for a backtest: riskc eval --data FILE.jsonl.
The range is by the brokers' time index: from the first record at or after
--since to the last before --until, in every partition; without them, the
whole topic as it is now. Connection settings (TLS, SASL) come from the
config's kafka section, or --brokers for a plain connection.`, stderr)
	cfgFile := fs.String("config", "", "configuration `file` whose kafka section connects to the brokers")
	brokers := fs.String("brokers", "", "comma-separated `host:port` list (instead of --config)")
	topic := fs.String("topic", "", "`topic` to export (default: the config's first kafka.topics entry)")
	since := fs.String("since", "", "start `time` (RFC 3339), inclusive")
	until := fs.String("until", "", "end `time` (RFC 3339), exclusive")
	out := fs.String("o", "", "output `file` (default stdout)")
	maxRecs := fs.Int("max-records", 1000000, "refuse ranges holding more records (they are sorted in memory)")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "riskd export: "+format+"\n", a...)
		return exitUsage
	}
	k := config.Default().Kafka
	if *cfgFile != "" {
		cfg, err := config.Load(*cfgFile)
		if err != nil {
			fmt.Fprintf(stderr, "riskd: %v\n", err)
			return exitError
		}
		k = cfg.Kafka
	}
	if *brokers != "" {
		k.Brokers = strings.Split(*brokers, ",")
	}
	if *topic == "" && len(k.Topics) > 0 {
		*topic = k.Topics[0]
	}
	if len(k.Brokers) == 0 || *topic == "" {
		return usage("give --config FILE (with kafka.brokers and kafka.topics) or --brokers and --topic")
	}
	r := stream.ExportRange{Topic: *topic, MaxRecords: *maxRecs}
	for _, x := range []struct {
		flag, v string
		t       *time.Time
	}{{"--since", *since, &r.Since}, {"--until", *until, &r.Until}} {
		if x.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, x.v)
		if err != nil {
			return usage("%s: %q is not an RFC 3339 time such as 2026-03-01T00:00:00Z", x.flag, x.v)
		}
		*x.t = t
	}
	if !r.Since.IsZero() && !r.Until.IsZero() && !r.Until.After(r.Since) {
		return usage("--until must be after --since")
	}
	opts, err := stream.ConnOpts(k)
	if err != nil {
		fmt.Fprintf(stderr, "riskd: %v\n", err)
		return exitError
	}
	w := stdout
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			fmt.Fprintf(stderr, "riskd: %v\n", err)
			return exitError
		}
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := stream.Export(ctx, opts, r, bw)
	if err == nil {
		err = bw.Flush()
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "riskd export: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stderr, "riskd export: %d events written from %s", st.Written, *topic)
	if st.Skipped > 0 {
		fmt.Fprintf(stderr, "; %d records skipped (first %s)", st.Skipped, st.FirstSkip)
	}
	fmt.Fprintln(stderr)
	return exitOK
}
