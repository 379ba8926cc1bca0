package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ExportRange is a slice of a topic: the offsets the brokers' time index
// gives for Since (inclusive) and Until (exclusive) in every partition.
// Zero times mean the start and the end of the topic (the end as it is
// when the export starts, so an export always finishes).
type ExportRange struct {
	Topic        string
	Since, Until time.Time
	// MaxRecords bounds the export (records are sorted in memory).
	MaxRecords int
}

// ExportStats says what an export wrote and skipped.
type ExportStats struct {
	Written, Skipped int
	FirstSkip        string // topic/partition/offset: why
}

// Export writes the events of a topic range as JSON Lines, one
// POST /v1/decide body per line, for `riskc eval --data` — the replay of
// what `riskd consume` decided. Lines are in record-timestamp order
// (then partition, offset) so windows see events in time order. Records
// whose value is not a JSON object are skipped and counted.
func Export(ctx context.Context, opts []kgo.Opt, r ExportRange, w io.Writer) (ExportStats, error) {
	var st ExportStats
	cl, err := kgo.NewClient(append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		return st, err
	}
	defer cl.Close()
	parts, err := partitions(ctx, cl, r.Topic)
	if err != nil {
		return st, err
	}
	start, err := offsetsAt(ctx, cl, r.Topic, parts, r.Since, -2)
	if err != nil {
		return st, err
	}
	end, err := offsetsAt(ctx, cl, r.Topic, parts, r.Until, -1)
	if err != nil {
		return st, err
	}
	want := map[int32]kgo.Offset{}
	left := 0
	for _, p := range parts {
		if start[p] < end[p] {
			want[p] = kgo.NewOffset().At(start[p])
			left++
		}
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{r.Topic: want})
	var recs []*kgo.Record
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return st, fmt.Errorf("kafka: fetching %s/%d: %w", errs[0].Topic, errs[0].Partition, errs[0].Err)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			e := end[rec.Partition]
			if rec.Offset >= e {
				return
			}
			recs = append(recs, rec)
			if rec.Offset == e-1 {
				left--
			}
		})
		if r.MaxRecords > 0 && len(recs) > r.MaxRecords {
			return st, fmt.Errorf("the range holds more than %d records (--max-records); narrow --since/--until", r.MaxRecords)
		}
	}
	sort.SliceStable(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if !a.Timestamp.Equal(b.Timestamp) {
			return a.Timestamp.Before(b.Timestamp)
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Offset < b.Offset
	})
	var line bytes.Buffer
	for _, rec := range recs {
		line.Reset()
		err := json.Compact(&line, rec.Value)
		if err == nil && (line.Len() == 0 || line.Bytes()[0] != '{') {
			err = fmt.Errorf("not a JSON object")
		}
		if err != nil {
			if st.Skipped == 0 {
				st.FirstSkip = fmt.Sprintf("%s/%d/%d: %v", rec.Topic, rec.Partition, rec.Offset, err)
			}
			st.Skipped++
			continue
		}
		line.WriteByte('\n')
		if _, err := w.Write(line.Bytes()); err != nil {
			return st, err
		}
		st.Written++
	}
	return st, nil
}

// partitions lists the partitions of topic.
func partitions(ctx context.Context, cl *kgo.Client, topic string) ([]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("kafka: metadata: %w", err)
	}
	if len(resp.Topics) != 1 {
		return nil, fmt.Errorf("kafka: no metadata for topic %s", topic)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return nil, fmt.Errorf("kafka: topic %s: %w", topic, err)
	}
	var ps []int32
	for _, p := range resp.Topics[0].Partitions {
		ps = append(ps, p.Partition)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps, nil
}

// offsetsAt returns, per partition, the first offset whose timestamp is
// at or after at; a zero time asks for def (-2 the start, -1 the end).
// A time past the last record gives the end.
func offsetsAt(ctx context.Context, cl *kgo.Client, topic string, parts []int32, at time.Time, def int64) (map[int32]int64, error) {
	ask := func(ts int64) (map[int32]int64, error) {
		req := kmsg.NewPtrListOffsetsRequest()
		req.IsolationLevel = 1 // read committed
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, p := range parts {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, ts
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, fmt.Errorf("kafka: list offsets: %w", err)
		}
		out := map[int32]int64{}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("kafka: list offsets %s/%d: %w", topic, p.Partition, err)
				}
				out[p.Partition] = p.Offset
			}
		}
		return out, nil
	}
	if at.IsZero() {
		return ask(def)
	}
	got, err := ask(at.UnixMilli())
	if err != nil {
		return nil, err
	}
	ends, err := ask(-1)
	if err != nil {
		return nil, err
	}
	for p, o := range got {
		if o < 0 {
			got[p] = ends[p]
		}
	}
	return got, nil
}
