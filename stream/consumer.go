// Package stream decides events from Kafka: a consumer group (franz-go)
// reads the configured topics, decides every record with the server's
// own decision path (server.Server.Decide, exactly what POST /v1/decide
// runs) and produces the decision to the output topic, keyed like the
// event. Records that cannot be decided go to a dead-letter topic with
// the error in their headers and never stop their partition.
//
// Delivery: offsets are marked for commit only once every decision of a
// polled batch has been acknowledged by the brokers (idempotent
// producer, acks=all), so a crash replays at most the uncommitted tail:
// at least once. With kafka.exactly_once the decisions and the offsets
// commit in one Kafka transaction, so consumers reading the output with
// isolation.level=read_committed see each decision exactly once; the
// in-memory velocity windows are not part of that transaction (see
// docs/OPERATIONS.md). With riskd's audit log on, every decision is
// recorded (endpoint kafka) and produced only once its record is durable
// (one wait per partition and batch, so a group commit covers many
// events); a record that cannot be made durable stops the consumer
// without producing the rest, dead-lettering or committing the batch.
// Each partition is decided in offset order by one
// goroutine, so with events keyed by customer the windows see every
// customer's events in order; partitions spread over riskd instances in
// the same group.
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskforge/riskforge/server"
	"github.com/riskforge/riskforge/server/config"
)

// Decider decides one request; *server.Server implements it.
type Decider interface {
	Decide(ctx context.Context, r server.DecideRequest, out []byte) ([]byte, error)
}

// Options configure a Consumer.
type Options struct {
	Kafka   config.Kafka
	Decider Decider
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Metrics registers the consumer's collectors; nil uses the
	// Prometheus default registry (which riskd's /metrics serves).
	Metrics prometheus.Registerer
	// ClientOpts are added to the client options (tests).
	ClientOpts []kgo.Opt
}

// Consumer is a running consumer-group member. Create it with New, then
// Run it.
type Consumer struct {
	k   config.Kafka
	dec Decider
	log *slog.Logger
	cl  *kgo.Client
	txn *kgo.GroupTransactSession // exactly once; nil: at least once
	m   *metrics

	mu       sync.Mutex
	prodErr  error // first produce failure of the batch
	auditErr error // a decision's audit record failed: stop
}

// held is a decision waiting for its audit record to be durable.
type held struct {
	out   *kgo.Record
	wait  func() error
	topic string
}

// Header names the consumer reads from events and writes on the records
// it produces.
const (
	HeaderPolicy        = "policy"         // event: the policy to decide with
	HeaderPolicyVersion = "policy-version" // event: pin a loaded version
	HeaderError         = "riskforge-error"
	HeaderErrorField    = "riskforge-error-field"
	HeaderStatus        = "riskforge-status"
	HeaderSource        = "riskforge-source" // topic/partition/offset of the event
)

// New connects the consumer (it joins the group when Run polls).
func New(o Options) (*Consumer, error) {
	k := o.Kafka
	if err := k.CheckKafka(); err != nil {
		return nil, err
	}
	if o.Decider == nil {
		return nil, errors.New("stream: no decider")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := o.Metrics
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	c := &Consumer{k: k, dec: o.Decider, log: log, m: m}
	opts, err := ConnOpts(k)
	if err != nil {
		return nil, err
	}
	start := kgo.NewOffset().AtStart()
	if k.Start == "latest" {
		start = kgo.NewOffset().AtEnd()
	}
	opts = append(opts,
		kgo.ConsumerGroup(k.Group), kgo.ConsumeTopics(k.Topics...), kgo.ConsumeResetOffset(start),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.MaxBufferedRecords(k.MaxBufferedRecords),
		kgo.OnPartitionsRevoked(c.forget), kgo.OnPartitionsLost(c.forget),
	)
	if k.ExactlyOnce {
		opts = append(opts, kgo.TransactionalID(k.TransactionalID)) // stable fetch offsets are always on (KIP-447)
		opts = append(opts, o.ClientOpts...)
		c.txn, err = kgo.NewGroupTransactSession(opts...)
		if err == nil {
			c.cl = c.txn.Client()
		}
	} else {
		// Offsets are committed (every commit_interval, and on revoke
		// and shutdown) only once marked, and a batch is marked only
		// after all its decisions are acknowledged. Blocking rebalances
		// while a batch is in hand keeps a revoke from committing past it.
		opts = append(opts, kgo.AutoCommitMarks(), kgo.AutoCommitInterval(k.CommitInterval.D()), kgo.BlockRebalanceOnPoll())
		opts = append(opts, o.ClientOpts...)
		c.cl, err = kgo.NewClient(opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return c, nil
}

// Run consumes until ctx is cancelled (then it finishes the batch in
// hand, commits and leaves the group: nil) or producing fails (the
// error; the batch is not committed and will be decided again).
func (c *Consumer) Run(ctx context.Context) error {
	defer c.close()
	c.log.Info("kafka consumer started", "group", c.k.Group, "topics", c.k.Topics, "output", c.k.OutputTopic,
		"dead_letter", c.k.DeadLetterTopic, "exactly_once", c.k.ExactlyOnce)
	// The batch in hand is finished even when ctx ends: its decisions
	// have been made and must be produced and committed.
	work := context.WithoutCancel(ctx)
	for {
		if c.txn != nil {
			if err := c.txn.Begin(); err != nil {
				return fmt.Errorf("kafka: begin transaction: %w", err)
			}
		}
		fs := c.poll(ctx)
		if fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				c.log.Error("kafka fetch error", "topic", topic, "partition", p, "err", err.Error())
				c.m.fetchErrors.Inc()
			}
		})
		c.batch(work, fs)
		err := c.finish(work, fs)
		c.allowRebalance()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (c *Consumer) poll(ctx context.Context) kgo.Fetches {
	if c.txn != nil {
		return c.txn.PollRecords(ctx, c.k.MaxBufferedRecords)
	}
	return c.cl.PollRecords(ctx, c.k.MaxBufferedRecords)
}

func (c *Consumer) allowRebalance() {
	if c.txn != nil {
		c.txn.AllowRebalance()
		return
	}
	c.cl.AllowRebalance()
}

// batch decides every record of fs: partitions in parallel, each in
// offset order.
func (c *Consumer) batch(ctx context.Context, fs kgo.Fetches) {
	var wg sync.WaitGroup
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			hold, ok := c.decideAll(ctx, p.Records)
			if !ok {
				return
			}
			// Produce in offset order once the records are durable.
			for _, h := range hold {
				if err := h.wait(); err != nil {
					c.stopForAudit(err)
					return
				}
				c.produce(ctx, h.out, "decided", h.topic)
			}
			last := p.Records[len(p.Records)-1]
			c.m.lag.WithLabelValues(p.Topic, strconv.Itoa(int(p.Partition))).Set(float64(max(0, p.HighWatermark-last.Offset-1)))
		}()
	})
	wg.Wait()
}

// finish makes the batch durable: at least once, flush and mark its
// offsets; exactly once, end the transaction.
func (c *Consumer) finish(ctx context.Context, fs kgo.Fetches) error {
	if err := c.auditError(); err != nil {
		if c.txn != nil {
			if _, aerr := c.txn.End(ctx, kgo.TryAbort); aerr != nil {
				c.log.Error("kafka: aborting the transaction failed", "err", aerr.Error())
			}
		}
		return fmt.Errorf("kafka: a decision could not be recorded in the audit log, so the batch's remaining decisions are not produced and its offsets are not committed (it will be decided again after a restart): %w", err)
	}
	if c.txn != nil {
		committed, err := c.txn.End(ctx, kgo.TryCommit)
		if err != nil {
			return fmt.Errorf("kafka: end transaction: %w", err)
		}
		if !committed {
			c.m.aborted.Inc()
			c.log.Warn("kafka transaction aborted (the group rebalanced); the batch will be decided again")
			return nil
		}
		c.m.commits.Inc()
		return nil
	}
	if err := c.cl.Flush(ctx); err != nil {
		return fmt.Errorf("kafka: flush: %w", err)
	}
	c.mu.Lock()
	perr := c.prodErr
	c.prodErr = nil
	c.mu.Unlock()
	if perr != nil {
		return fmt.Errorf("kafka: producing decisions failed; the batch's offsets are not committed and will be decided again after a restart: %w", perr)
	}
	c.cl.MarkCommitRecords(fs.Records()...)
	c.m.commits.Inc()
	return nil
}

// auditFailed reports whether a decision's record failed.
func (c *Consumer) auditFailed() bool { return c.auditError() != nil }

func (c *Consumer) auditError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.auditErr
}

// stopForAudit notes that a decision's audit record failed: nothing more
// of the batch is decided, produced or committed.
func (c *Consumer) stopForAudit(err error) {
	c.mu.Lock()
	first := c.auditErr == nil
	if first {
		c.auditErr = err
	}
	c.mu.Unlock()
	if first {
		c.log.Error("kafka consumer stops: a decision could not be recorded in the audit log", "err", err.Error())
	}
}

// recordHolder is a Decider that can hold the audit log's group commit
// open while a run of decisions is made (server.Server).
type recordHolder interface {
	HoldRecords()
	ReleaseRecords()
}

// decideAll decides recs in order; false when a record failed to be
// recorded (nothing more is decided). With the audit log on, their
// records are held together: the log's group commit waits for the last
// one rather than syncing each as it comes (the hold ends before the
// caller waits for them).
func (c *Consumer) decideAll(ctx context.Context, recs []*kgo.Record) ([]held, bool) {
	if h, ok := c.dec.(recordHolder); ok {
		h.HoldRecords()
		defer h.ReleaseRecords()
	}
	var hold []held
	for _, r := range recs {
		if c.auditFailed() {
			return nil, false
		}
		c.decide(ctx, r, &hold)
	}
	return hold, true
}

// decide decides one record and produces its decision (or, with the
// audit log on, adds it to hold until its record is durable), or its copy
// to the dead-letter topic.
func (c *Consumer) decide(ctx context.Context, r *kgo.Record, hold *[]held) {
	hdr := func(k string) string {
		for _, h := range r.Headers {
			if strings.EqualFold(h.Key, k) {
				return string(h.Value)
			}
		}
		return ""
	}
	policy := hdr(HeaderPolicy)
	if policy == "" {
		policy = c.k.Policy
	}
	src := r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)
	out := &kgo.Record{Topic: c.k.OutputTopic, Key: r.Key, Headers: []kgo.RecordHeader{{Key: HeaderSource, Value: []byte(src)}}}
	var wait func() error
	body, err := c.dec.Decide(ctx, server.DecideRequest{
		Policy: policy, Version: hdr(HeaderPolicyVersion), FallbackID: src, Body: r.Value,
		Source: "kafka", Header: hdr,
		SetHeader: func(k, v string) { out.Headers = append(out.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) },
		OnRecord:  func(w func() error) { wait = w },
	}, nil)
	if errors.Is(err, server.ErrNotRecorded) {
		c.stopForAudit(err) // not the event's fault: never dead-lettered
		return
	}
	if err != nil {
		c.deadLetter(ctx, r, src, err)
		return
	}
	out.Value = body
	if wait != nil {
		*hold = append(*hold, held{out: out, wait: wait, topic: r.Topic})
		return
	}
	c.produce(ctx, out, "decided", r.Topic)
}

// deadLetter sends an event that cannot be decided, unchanged, to the
// dead-letter topic with the reason in its headers.
func (c *Consumer) deadLetter(ctx context.Context, r *kgo.Record, src string, err error) {
	status, field, msg := 500, "", err.Error()
	var re *server.RequestError
	if errors.As(err, &re) {
		status, field, msg = re.Status, re.Field, re.Msg
	}
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	c.log.Log(ctx, level, "kafka event sent to the dead-letter topic", "source", src, "status", status, "field", field, "error", msg)
	h := append([]kgo.RecordHeader(nil), r.Headers...)
	h = append(h,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(msg)},
		kgo.RecordHeader{Key: HeaderErrorField, Value: []byte(field)},
		kgo.RecordHeader{Key: HeaderStatus, Value: []byte(strconv.Itoa(status))},
		kgo.RecordHeader{Key: HeaderSource, Value: []byte(src)})
	c.produce(ctx, &kgo.Record{Topic: c.k.DeadLetterTopic, Key: r.Key, Value: r.Value, Headers: h, Timestamp: r.Timestamp}, "dead_letter", r.Topic)
}

// produce sends rec; a full producer buffer (max_buffered_records)
// blocks here, which holds back the next poll.
func (c *Consumer) produce(ctx context.Context, rec *kgo.Record, result, topic string) {
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			c.m.produceErrors.Inc()
			c.mu.Lock()
			if c.prodErr == nil {
				c.prodErr = err
			}
			c.mu.Unlock()
			return
		}
		c.m.records.WithLabelValues(topic, result).Inc()
	}
	if c.txn != nil {
		c.txn.Produce(ctx, rec, promise)
		return
	}
	c.cl.Produce(ctx, rec, promise)
}

// forget drops the lag series of partitions this member no longer owns.
func (c *Consumer) forget(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	for t, ps := range parts {
		for _, p := range ps {
			c.m.lag.DeleteLabelValues(t, strconv.Itoa(int(p)))
		}
	}
}

// close commits what is marked and leaves the group.
func (c *Consumer) close() {
	if c.txn != nil {
		c.txn.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.cl.CommitMarkedOffsets(ctx); err != nil {
		c.log.Error("kafka: final offset commit failed; the last batch will be decided again", "err", err.Error())
	}
	c.cl.Close()
	c.log.Info("kafka consumer stopped")
}
