package audit

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/riskforge/riskforge/internal/gm"
)

// SyncPolicy says when appended records are made durable.
type SyncPolicy string

// Sync policies.
const (
	// SyncAlways syncs as soon as records are waiting (group commit:
	// records appended during one sync share the next).
	SyncAlways SyncPolicy = "always"
	// SyncBatch syncs at most once per BatchInterval (sooner once
	// BatchRecords wait): fewer syncs than always under light load, the
	// same group commit under heavy load.
	SyncBatch SyncPolicy = "batch"
	// SyncNone writes to the OS and never syncs: a crash of the machine
	// (not of riskd) can lose acknowledged records.
	SyncNone SyncPolicy = "none"
)

// ParseSyncPolicy checks a policy name.
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch p := SyncPolicy(s); p {
	case SyncAlways, SyncBatch, SyncNone:
		return p, nil
	case "":
		return SyncBatch, nil
	}
	return "", fmt.Errorf("sync policy %q is not one of always, batch, none", s)
}

// Options configure a Log. Zero values take the defaults noted.
type Options struct {
	Dir  string
	Sync SyncPolicy // default batch
	// BatchInterval is the shortest time between two syncs under the
	// batch policy (default 2ms), so the longest a record waits before its
	// sync starts; BatchRecords syncs earlier once that many records wait
	// (default 512).
	BatchInterval time.Duration
	BatchRecords  int
	// SegmentBytes starts a new segment once the current one is this
	// large (default 64 MiB).
	SegmentBytes int64
	// RetainAge and RetainBytes remove the oldest closed segments older
	// than the age, or beyond the total size; zero keeps everything.
	RetainAge   time.Duration
	RetainBytes int64
	// CheckpointInterval is how often a signed checkpoint is written when
	// records were added (default 1s). SigningKey signs them; without a
	// key no checkpoints are written.
	CheckpointInterval time.Duration
	SigningKey         *gm.PrivateKey
	// Keyring, when set, seals record bodies with SM4-GCM.
	Keyring *Keyring
	// FS defaults to OS.
	FS     FS
	Logger *slog.Logger
	// OnFatal is called once, from the log's goroutine, when a write or
	// sync fails, before any waiting append learns of it: the log then
	// refuses every append. It must not block.
	OnFatal func(error)
	// Now defaults to time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Sync == "" {
		o.Sync = SyncBatch
	}
	if o.BatchInterval <= 0 {
		o.BatchInterval = 2 * time.Millisecond
	}
	if o.BatchRecords <= 0 {
		o.BatchRecords = 512
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = time.Second
	}
	if o.FS == nil {
		o.FS = OS
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// ErrClosed is returned by appends after Close.
var ErrClosed = errors.New("audit log closed")

// batch is a group of records made durable by one sync.
type batch struct {
	done  chan struct{}
	err   error
	first time.Time // when its first record was appended
	n     int
}

// Log is an open audit log. Append is safe for concurrent use.
type Log struct {
	o       Options
	metrics *Metrics
	lock    io.Closer

	mu     sync.Mutex
	next   uint64 // index of the next record
	head   Hash   // hash of the last appended record
	buf    []byte // frames waiting for the writer
	cur    *batch
	failed error
	closed bool

	wake chan struct{} // a first record is waiting
	full chan struct{} // BatchRecords are waiting
	stop chan struct{}
	wg   sync.WaitGroup

	// Owned by the writer goroutine.
	seg     File
	segInfo Segment
	segSize int64
	spare   []byte

	// Durable state, for checkpoints.
	dmu     sync.Mutex
	durable Checkpoint

	fatalOnce sync.Once
	ckpt      File
	ckptMu    sync.Mutex
	lastCkpt  uint64
}

// Open opens (creating when needed) the log in o.Dir, recovers a torn tail
// and starts the writer. Damage before the tail is an error naming the
// segment and offset; the log is then not opened.
func Open(o Options) (*Log, error) {
	o.defaults()
	if _, err := ParseSyncPolicy(string(o.Sync)); err != nil {
		return nil, err
	}
	if err := o.FS.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	lk, err := o.FS.Lock(filepath.Join(o.Dir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("audit log %s is in use by another process (lock: %v)", o.Dir, err)
	}
	l := &Log{o: o, lock: lk, wake: make(chan struct{}, 1), full: make(chan struct{}, 1), stop: make(chan struct{}), metrics: newMetrics()}
	l.cur = &batch{done: make(chan struct{})}
	if err := l.recover(); err != nil {
		lk.Close()
		return nil, err
	}
	if o.SigningKey != nil {
		if err := l.openCheckpoints(); err != nil {
			l.seg.Close()
			lk.Close()
			return nil, err
		}
	}
	l.wg.Add(1)
	go l.writer()
	if o.SigningKey != nil {
		l.wg.Add(1)
		go l.checkpointer()
	}
	return l, nil
}

// Metrics returns the log's Prometheus collectors.
func (l *Log) Metrics() *Metrics { return l.metrics }

// Head returns the number of records appended and the hash of the last.
func (l *Log) Head() (uint64, Hash) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next, l.head
}

// Durable returns how many records, from index 0, are durable under the
// sync policy (written to the OS under none). A window snapshot waits for
// the records of the calls it holds before it is published.
func (l *Log) Durable() uint64 {
	l.dmu.Lock()
	defer l.dmu.Unlock()
	return l.durable.Count
}

// Err returns the error that failed the log, or nil.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

func failed(err error) func() error { return func() error { return err } }

// Append adds a record for requestID with body (JSON; sealed when the log
// has a keyring) and returns a function that waits until the record is
// durable under the sync policy. Every record the wait reports durable
// survives a crash; an error means the record must not be acknowledged.
func (l *Log) Append(requestID string, body []byte) (wait func() error) {
	if len(requestID) == 0 || len(requestID) > maxRequestID || !printable([]byte(requestID)) {
		return failed(fmt.Errorf("audit: request id %q is not 1 to %d printable ASCII characters", requestID, maxRequestID))
	}
	if len(body) == 0 || len(body) > MaxRecord/2 {
		return failed(fmt.Errorf("audit: record body of %d bytes (1 to %d allowed)", len(body), MaxRecord/2))
	}
	e := Envelope{RequestID: requestID, Time: l.o.Now()}
	if l.o.Keyring != nil {
		e.Sealed, e.KeyID = true, l.o.Keyring.seal.id
		if _, err := rand.Read(e.Nonce[:]); err != nil {
			return failed(err)
		}
	}
	l.mu.Lock()
	if l.failed != nil || l.closed {
		err := l.failed
		l.mu.Unlock()
		if err == nil {
			err = ErrClosed
		}
		return failed(err)
	}
	e.Index, e.Prev = l.next, l.head
	start := len(l.buf)
	l.buf = append(l.buf, make([]byte, frameHeader)...)
	l.buf = appendHeader(l.buf, &e)
	if e.Sealed {
		hdr := l.buf[start+frameHeader:]
		l.buf = l.o.Keyring.seal.aead.Seal(l.buf, e.Nonce[:], body, hdr)
	} else {
		l.buf = append(l.buf, body...)
	}
	payload := l.buf[start+frameHeader:]
	binary.LittleEndian.PutUint32(l.buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(l.buf[start+4:], crc32.Checksum(payload, castagnoli))
	l.head = chain(e.Prev, payload)
	for range padded(len(payload)) - len(payload) {
		l.buf = append(l.buf, 0)
	}
	l.next++
	b := l.cur
	if b.n == 0 {
		b.first = e.Time
	}
	b.n++
	n := b.n
	l.mu.Unlock()
	if n == 1 {
		signal(l.wake)
	}
	if n == l.o.BatchRecords {
		signal(l.full)
	}
	return func() error { <-b.done; return b.err }
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// writer writes and syncs batches until Close, or until a write or sync
// fails.
func (l *Log) writer() {
	defer l.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var lastSync time.Time
	for {
		select {
		case <-l.wake:
		case <-l.stop:
			l.flush()
			return
		}
		// batch: at most one sync per BatchInterval. Records that arrive
		// while a sync runs wait for the next; a sync that would come
		// sooner than BatchInterval after the last one waits for the rest
		// of the interval or for BatchRecords records.
		if wait := l.o.BatchInterval - time.Since(lastSync); l.o.Sync == SyncBatch && wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-l.full:
				timer.Stop()
			case <-l.stop:
				timer.Stop()
			}
		}
		lastSync = time.Now()
		if !l.flush() {
			return
		}
	}
}

// flush writes and syncs what is waiting; false when the log failed.
func (l *Log) flush() bool {
	l.mu.Lock()
	if l.failed != nil {
		l.mu.Unlock()
		return false
	}
	buf, b, next, head := l.buf, l.cur, l.next, l.head
	if b.n == 0 {
		l.mu.Unlock()
		return true
	}
	l.buf, l.spare = l.spare[:0], nil
	l.cur = &batch{done: make(chan struct{})}
	// The full signal belongs to the batch just taken.
	select {
	case <-l.full:
	default:
	}
	l.mu.Unlock()

	first := next - uint64(b.n)
	err := l.write(buf, first)
	if err == nil && l.o.Sync != SyncNone {
		t0 := time.Now()
		err = l.seg.Sync()
		l.metrics.syncSeconds.Observe(time.Since(t0).Seconds())
		if err != nil {
			err = fmt.Errorf("fdatasync %s: %w", l.segInfo.path(l.o.Dir), err)
		}
	}
	if err != nil {
		l.fail(err, b)
		return false
	}
	l.dmu.Lock()
	l.durable = Checkpoint{SegSeq: l.segInfo.Seq, SegFirst: l.segInfo.First, Offset: uint64(l.segSize), Count: next, Head: head}
	l.dmu.Unlock()
	close(b.done)
	l.metrics.records.Add(float64(b.n))
	l.metrics.bytes.Add(float64(len(buf)))
	l.metrics.batchRecords.Observe(float64(b.n))
	l.metrics.commitSeconds.Observe(l.o.Now().Sub(b.first).Seconds())
	l.spare = buf[:0]
	return true
}

// write appends buf (records from index first) to the current segment,
// starting a new one first when the current is full.
func (l *Log) write(buf []byte, first uint64) error {
	if l.segSize > 0 && l.segSize+int64(len(buf)) > l.o.SegmentBytes {
		if err := l.rotate(first); err != nil {
			return err
		}
	}
	n, err := l.seg.Write(buf)
	l.segSize += int64(n)
	if err != nil {
		return fmt.Errorf("write %s: %w", l.segInfo.path(l.o.Dir), err)
	}
	return nil
}

// rotate syncs and closes the current segment and starts the next.
func (l *Log) rotate(first uint64) error {
	if err := l.seg.Sync(); err != nil {
		return fmt.Errorf("fdatasync %s: %w", l.segInfo.path(l.o.Dir), err)
	}
	if err := l.seg.Close(); err != nil {
		return fmt.Errorf("close %s: %w", l.segInfo.path(l.o.Dir), err)
	}
	next := Segment{Seq: l.segInfo.Seq + 1, First: first}
	next.Name = segmentName(next.Seq, next.First)
	f, err := l.o.FS.OpenFile(next.path(l.o.Dir), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("new segment: %w", err)
	}
	if err := l.o.FS.SyncDir(l.o.Dir); err != nil {
		f.Close()
		return fmt.Errorf("fsync directory %s: %w", l.o.Dir, err)
	}
	l.seg, l.segInfo, l.segSize = f, next, 0
	l.metrics.segments.Inc()
	l.o.Logger.Info("audit: new segment", "segment", next.Name)
	l.retain()
	return nil
}

// retain removes the oldest closed segments beyond the age or size limit.
func (l *Log) retain() {
	if l.o.RetainAge <= 0 && l.o.RetainBytes <= 0 {
		return
	}
	segs, err := listSegments(l.o.FS, l.o.Dir)
	if err != nil {
		l.o.Logger.Warn("audit: retention skipped", "err", err.Error())
		return
	}
	type info struct {
		s    Segment
		size int64
		mod  time.Time
	}
	var infos []info
	var total int64
	for _, s := range segs {
		f, err := l.o.FS.OpenFile(s.path(l.o.Dir), os.O_RDONLY, 0)
		if err != nil {
			continue
		}
		st, err := f.Stat()
		f.Close()
		if err != nil {
			continue
		}
		infos = append(infos, info{s, st.Size(), st.ModTime()})
		total += st.Size()
	}
	now := l.o.Now()
	removed := 0
	for _, in := range infos {
		if in.s.Seq >= l.segInfo.Seq {
			break // never the current segment
		}
		old := l.o.RetainAge > 0 && now.Sub(in.mod) > l.o.RetainAge
		big := l.o.RetainBytes > 0 && total > l.o.RetainBytes
		if !old && !big {
			break // keep the log contiguous: remove only from the start
		}
		if err := l.o.FS.Remove(in.s.path(l.o.Dir)); err != nil {
			l.o.Logger.Warn("audit: retention could not remove a segment", "segment", in.s.Name, "err", err.Error())
			break
		}
		total -= in.size
		removed++
		l.metrics.segments.Dec()
		l.o.Logger.Info("audit: segment removed by retention", "segment", in.s.Name, "bytes", in.size, "older_than_age", old)
	}
	if removed > 0 {
		l.o.FS.SyncDir(l.o.Dir)
	}
}

// fail stops the log for good after a write or sync error: the batch in
// flight and every later append get the error, and OnFatal is told.
func (l *Log) fail(err error, inflight *batch) {
	err = fmt.Errorf("audit log failed, no decision is acknowledged any more: %w", err)
	l.mu.Lock()
	l.failed = err
	pending := l.cur
	l.cur = &batch{done: make(chan struct{})}
	l.mu.Unlock()
	l.metrics.failed.Set(1)
	l.o.Logger.Error("audit log failed; refusing to acknowledge decisions (no retry: a failed fsync may have lost data)", "err", err.Error())
	l.fatalOnce.Do(func() {
		if l.o.OnFatal != nil {
			l.o.OnFatal(err)
		}
	})
	inflight.err = err
	close(inflight.done)
	pending.err = err
	close(pending.done)
}

// Close makes every appended record durable, writes a last checkpoint and
// closes the files. It returns the log's failure, if any.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.failed
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	l.wg.Wait()
	var errs []error
	if l.Err() == nil && l.ckpt != nil {
		errs = append(errs, l.writeCheckpoint())
	}
	if l.ckpt != nil {
		errs = append(errs, l.ckpt.Close())
	}
	errs = append(errs, l.seg.Close(), l.lock.Close())
	if err := l.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// dirName is for messages.
func (l *Log) dirName(name string) string {
	return strings.TrimPrefix(filepath.Join(l.o.Dir, name), "./")
}
