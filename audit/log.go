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
	"sync/atomic"
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
	// SyncBatch syncs at most once per BatchInterval, sooner once
	// BatchRecords wait or (with Options.Reservations) once no
	// reservation is open: a group then waits only while records that
	// will join it are still being made.
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
	// (default 512), and so does the release of the last open
	// reservation (Reserve) with Reservations.
	BatchInterval time.Duration
	BatchRecords  int
	// Reservations says that the log's appenders announce their records
	// with Reserve before they append them. The batch policy then syncs a
	// group as soon as no reservation is open instead of waiting out
	// BatchInterval (see Reserve). Without it Reserve and Release change
	// nothing: a group waits for the interval, since the log cannot know
	// whether more records are coming.
	Reservations bool
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
	// wait is what Append returns for each of the batch's records: one
	// function per batch rather than a closure per record, which was an
	// allocation on every decision.
	wait func() error
}

// newBatch starts an empty batch.
func newBatch() *batch {
	b := &batch{done: make(chan struct{})}
	b.wait = func() error { <-b.done; return b.err }
	return b
}

// pending is a record appended but not yet framed: the writer goroutine
// frames, seals, checksums and chains a batch of them at a time, so the
// appending goroutine (a request) only copies its body.
type pending struct {
	index  uint64
	time   int64 // Unix nanoseconds
	rid    string
	dict   *Dict // a dictionary record of dict (the body is dict.Body())
	ref    uint64
	hasRef bool
	off, n int  // the body in raw (not a dictionary record)
	rotate bool // start a new segment before this record
}

// Log is an open audit log. Append is safe for concurrent use.
type Log struct {
	o       Options
	metrics *Metrics
	lock    io.Closer

	mu       sync.Mutex
	next     uint64    // index of the next record
	pend     []pending // records waiting for the writer
	raw      []byte    // their bodies
	segBytes int64     // size of the current segment once pend is written
	dicts    map[*Dict]uint64
	cur      *batch
	failed   error
	closed   bool

	wake chan struct{} // a first record is waiting
	full chan struct{} // BatchRecords are waiting
	// reserved counts the appends announced by Reserve and not yet
	// released; idle is signalled when it falls to zero.
	reserved atomic.Int64
	idle     chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup

	// Owned by the writer goroutine.
	seg       File
	segInfo   Segment
	segSize   int64
	head      Hash // hash of the last record framed
	out       []byte
	sparePend []pending
	spareRaw  []byte
	nonces    []byte
	hashBuf   []byte
	syncs     []*syncing // running syncs, oldest first

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
	l := &Log{o: o, lock: lk, wake: make(chan struct{}, 1), full: make(chan struct{}, 1), idle: make(chan struct{}, 1), stop: make(chan struct{}), metrics: newMetrics(), dicts: map[*Dict]uint64{}}
	l.cur = newBatch()
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
	l.segBytes = l.segSize
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

// Head returns the number of records appended and the hash of the last
// one made durable.
func (l *Log) Head() (uint64, Hash) {
	l.mu.Lock()
	n := l.next
	l.mu.Unlock()
	l.dmu.Lock()
	defer l.dmu.Unlock()
	return n, l.durable.Head
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

// Append adds a record for requestID with body (sealed when the log has
// a keyring) and returns a function that waits until the record is
// durable under the sync policy. Every record the wait reports durable
// survives a crash; an error means the record must not be acknowledged.
// The log copies body: the caller may reuse it once Append returns.
func (l *Log) Append(requestID string, body []byte) (wait func() error) {
	return l.AppendRef(requestID, nil, body)
}

// AppendRef is Append for a record that refers to dict (nil: none): the
// log writes dict's record first when it is not yet in the current
// segment.
func (l *Log) AppendRef(requestID string, dict *Dict, body []byte) (wait func() error) {
	if len(requestID) == 0 || len(requestID) > maxRequestID || !printable(requestID) {
		return failed(fmt.Errorf("audit: request id %q is not 1 to %d printable ASCII characters", requestID, maxRequestID))
	}
	if len(body) == 0 || len(body) > MaxRecord/2 {
		return failed(fmt.Errorf("audit: record body of %d bytes (1 to %d allowed)", len(body), MaxRecord/2))
	}
	if dict != nil && (len(dict.Body()) == 0 || len(dict.Body()) > MaxRecord/2) {
		return failed(fmt.Errorf("audit: dictionary of %d bytes (1 to %d allowed)", len(dict.Body()), MaxRecord/2))
	}
	now := l.o.Now()
	sealed := l.o.Keyring != nil
	l.mu.Lock()
	if l.failed != nil || l.closed {
		err := l.failed
		l.mu.Unlock()
		if err == nil {
			err = ErrClosed
		}
		return failed(err)
	}
	size := int64(l.frameLen(len(requestID), dict != nil, sealed, len(body)))
	ref, have := uint64(0), false
	if dict != nil {
		ref, have = l.dicts[dict]
	}
	dsize := int64(0)
	if dict != nil {
		dsize = int64(l.frameLen(0, false, sealed, len(dict.Body())))
	}
	need := size
	if dict != nil && !have {
		need += dsize
	}
	// Segments are cut here, where the sizes are known, so that every
	// segment holds the dictionaries its records refer to.
	rotate := l.segBytes > 0 && l.segBytes+need > l.o.SegmentBytes
	if rotate {
		l.segBytes = 0
		clear(l.dicts)
		have = false
	}
	b := l.cur
	wasEmpty := b.n == 0
	if wasEmpty {
		b.first = now
	}
	if dict != nil && !have {
		ref = l.next
		l.dicts[dict] = ref
		l.pend = append(l.pend, pending{index: ref, time: now.UnixNano(), dict: dict, rotate: rotate})
		l.segBytes += dsize
		l.next++
		b.n++
		rotate = false
	}
	l.pend = append(l.pend, pending{index: l.next, time: now.UnixNano(), rid: requestID, ref: ref, hasRef: dict != nil, off: len(l.raw), n: len(body), rotate: rotate})
	l.raw = append(l.raw, body...)
	l.segBytes += size
	l.next++
	b.n++
	n := b.n
	l.mu.Unlock()
	if wasEmpty {
		signal(l.wake)
	}
	if n >= l.o.BatchRecords {
		signal(l.full)
	}
	return b.wait
}

// Reserve announces a record that will be appended soon: a decision
// being evaluated. With Options.Reservations, under the batch policy, a
// group whose BatchInterval has not run out is synced as soon as no
// reservation is open: no record is then about to join it, and waiting
// longer would only delay the records already in it. While reservations
// are open it waits, at most until BatchInterval (or BatchRecords).
// Every Reserve must be matched by one Release, after the record is
// appended (or when it will not be). A reservation that is never
// released costs latency (groups wait out the interval, as without
// reservations), never durability. Safe for concurrent use; it neither
// allocates nor blocks.
func (l *Log) Reserve() { l.reserved.Add(1) }

// Release ends a reservation (see Reserve); the last one to end wakes
// the writer, which then syncs the waiting group at once.
func (l *Log) Release() {
	if l.reserved.Add(-1) <= 0 {
		signal(l.idle)
	}
}

// busy reports whether records are announced that have not been appended.
func (l *Log) busy() bool { return !l.o.Reservations || l.reserved.Load() > 0 }

// frameLen is the bytes a record takes on disk.
func (l *Log) frameLen(ridLen int, ref, sealed bool, bodyLen int) int {
	n := headerLen(ridLen, ref, sealed) + bodyLen
	if sealed {
		n += tagSize
	}
	return frameSize(n)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// maxSyncs is how many fdatasyncs may run at once. A batch is written
// while the sync of the one before is still running and gets a sync of
// its own, so a record waits for one sync, not for the rest of the
// running one as well; acknowledgements still go in log order, and a
// failed sync fails every batch after it too (a later sync's success
// says nothing about the bytes an earlier, failed one lost).
const maxSyncs = 2

// syncing is a written batch whose fdatasync is running.
type syncing struct {
	b       *batch
	done    chan error
	ck      Checkpoint // the log's state once the batch is durable
	written int
	t0      time.Time
	seg     Segment // for the message when the sync fails
}

// writer frames, writes and syncs batches until Close, or until a write
// or sync fails.
func (l *Log) writer() {
	defer l.wg.Done()
	defer l.abandon()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var lastSync time.Time
	for {
		select {
		case <-l.wake:
		case err := <-l.headDone():
			if !l.complete(err) {
				return
			}
			continue
		case <-l.stop:
			l.finish()
			return
		}
		// batch: a sync that would start sooner than BatchInterval after
		// the last one waits for the rest of the interval, for
		// BatchRecords records, or until no reserved record is still to
		// come (Reserve): then nothing more will join the group soon.
		if wait := l.o.BatchInterval - time.Since(lastSync); l.o.Sync == SyncBatch && wait > 0 {
			if !l.gather(timer, wait) {
				return
			}
		}
		for len(l.syncs) >= maxSyncs {
			if !l.complete(<-l.syncs[0].done) {
				return
			}
		}
		lastSync = time.Now()
		if !l.start() {
			return
		}
	}
}

// gather waits, under the batch policy, until the group may be synced:
// wait has passed, BatchRecords wait, no reservation is open, or the log
// is closing. It completes running syncs meanwhile; false when one failed.
func (l *Log) gather(timer *time.Timer, wait time.Duration) bool {
	if !l.busy() {
		l.metrics.idleSyncs.Inc()
		return true
	}
	timer.Reset(wait)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return true
		case <-l.full:
			return true
		case <-l.stop:
			return true
		case <-l.idle:
			// A signal can be stale (a release that fell to zero before
			// this group's reservations were made): look again.
			if !l.busy() {
				l.metrics.idleSyncs.Inc()
				return true
			}
		case err := <-l.headDone():
			if !l.complete(err) {
				return false
			}
		}
	}
}

// headDone is the completion of the oldest running sync (nil: none).
func (l *Log) headDone() chan error {
	if len(l.syncs) == 0 {
		return nil
	}
	return l.syncs[0].done
}

// complete handles the end of the oldest running sync; false when it
// failed (the log has then failed).
func (l *Log) complete(err error) bool {
	s := l.syncs[0]
	l.syncs = l.syncs[1:]
	l.metrics.syncSeconds.Observe(time.Since(s.t0).Seconds())
	if err != nil {
		l.fail(fmt.Errorf("fdatasync %s: %w", s.seg.path(l.o.Dir), err), s.b)
		return false
	}
	l.durableDone(s)
	return true
}

// drain waits for every running sync; false when one failed.
func (l *Log) drain() bool {
	for len(l.syncs) > 0 {
		if !l.complete(<-l.syncs[0].done) {
			return false
		}
	}
	return true
}

// finish makes everything appended durable (at Close).
func (l *Log) finish() {
	if l.drain() && l.start() {
		l.drain()
	}
}

// durableDone acknowledges a batch: its records are durable.
func (l *Log) durableDone(s *syncing) {
	l.dmu.Lock()
	l.durable = s.ck
	l.dmu.Unlock()
	close(s.b.done)
	l.metrics.records.Add(float64(s.b.n))
	l.metrics.bytes.Add(float64(s.written))
	l.metrics.batchRecords.Observe(float64(s.b.n))
	l.metrics.commitSeconds.Observe(l.o.Now().Sub(s.b.first).Seconds())
}

// start takes the waiting records, frames and writes them and starts
// their sync (under none they are acknowledged at once); false when the
// log failed.
func (l *Log) start() bool {
	l.mu.Lock()
	if l.failed != nil {
		l.mu.Unlock()
		return false
	}
	pend, raw, b, next := l.pend, l.raw, l.cur, l.next
	if b.n == 0 {
		l.mu.Unlock()
		return true
	}
	l.pend, l.raw = l.sparePend[:0], l.spareRaw[:0]
	l.sparePend, l.spareRaw = nil, nil
	l.cur = newBatch()
	// The full signal belongs to the batch just taken.
	select {
	case <-l.full:
	default:
	}
	l.mu.Unlock()

	written, err := l.frameAndWrite(pend, raw)
	l.sparePend, l.spareRaw = pend[:0], raw[:0]
	if err != nil {
		l.fail(err, b)
		return false
	}
	s := &syncing{b: b, done: make(chan error, 1), written: written, t0: time.Now(), seg: l.segInfo,
		ck: Checkpoint{SegSeq: l.segInfo.Seq, SegFirst: l.segInfo.First, Offset: uint64(l.segSize), Count: next, Head: l.head}}
	if l.o.Sync == SyncNone {
		l.durableDone(s)
		return true
	}
	f := l.seg
	go func() { s.done <- f.Sync() }()
	l.syncs = append(l.syncs, s)
	return true
}

// frameAndWrite frames the pending records (header, sealing, CRC-32C,
// chain hash) and writes them, starting new segments where Append cut
// them. It returns the bytes written.
func (l *Log) frameAndWrite(pend []pending, raw []byte) (int, error) {
	var nonces []byte
	if l.o.Keyring != nil {
		if cap(l.nonces) < len(pend)*nonceSize {
			l.nonces = make([]byte, len(pend)*nonceSize)
		}
		nonces = l.nonces[:len(pend)*nonceSize]
		if _, err := rand.Read(nonces); err != nil {
			return 0, fmt.Errorf("nonces: %w", err)
		}
	}
	out := l.out[:0]
	written := 0
	for i := range pend {
		p := &pend[i]
		if p.rotate {
			if err := l.write(out); err != nil {
				return written, err
			}
			written += len(out)
			out = out[:0]
			if !l.drain() {
				return written, l.Err()
			}
			if err := l.rotate(p.index); err != nil {
				return written, err
			}
		}
		e := Envelope{Index: p.index, Time: time.Unix(0, p.time), Prev: l.head, RequestID: p.rid, HasRef: p.hasRef, Ref: p.ref}
		body := raw[p.off : p.off+p.n]
		if p.dict != nil {
			e.IsDict, body = true, p.dict.Body()
		}
		var nonce []byte
		if nonces != nil {
			// The nonce is passed to Seal from nonces, not from e: an
			// interface call makes its arguments escape, and e with them
			// was an allocation per record.
			nonce = nonces[i*nonceSize : (i+1)*nonceSize]
			e.Sealed, e.KeyID = true, l.o.Keyring.seal.id
			copy(e.Nonce[:], nonce)
		}
		start := len(out)
		out = append(out, zeros[:frameHeader]...)
		out = appendHeader(out, &e)
		if e.Sealed {
			out = l.o.Keyring.seal.aead.Seal(out, nonce, body, out[start+frameHeader:])
		} else {
			out = append(out, body...)
		}
		payload := out[start+frameHeader:]
		binary.LittleEndian.PutUint32(out[start:], uint32(len(payload)))
		binary.LittleEndian.PutUint32(out[start+4:], crc32.Checksum(payload, castagnoli))
		// One contiguous write into the hash: tjfoc's SM3 copies what
		// each Write is given, so prev || payload goes in at once.
		l.hashBuf = append(append(l.hashBuf[:0], l.head[:]...), payload...)
		l.head = Hash(gm.SM3(l.hashBuf))
		out = append(out, zeros[:padded(len(payload))-len(payload)]...)
	}
	err := l.write(out)
	written += len(out)
	l.out = out[:0]
	return written, err
}

// zeros is the frame header's placeholder and the padding.
var zeros [frameHeader]byte

// write appends buf to the current segment.
func (l *Log) write(buf []byte) error {
	if len(buf) == 0 {
		return nil
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
// flight, every batch whose sync is running and every later append get
// the error, and OnFatal is told.
func (l *Log) fail(err error, inflight *batch) {
	err = l.markFailed(err)
	inflight.err = err
	close(inflight.done)
	for _, s := range l.syncs {
		<-s.done // the file stays open until its syncs return
		s.b.err = err
		close(s.b.done)
	}
	l.syncs = nil
}

// markFailed fails the log (the first error stays) and the batch being
// gathered, and returns the log's error. The writer, which owns the
// running syncs, fails those itself.
func (l *Log) markFailed(err error) error {
	l.mu.Lock()
	first := l.failed == nil
	if first {
		l.failed = fmt.Errorf("audit log failed, no decision is acknowledged any more: %w", err)
	}
	err = l.failed
	pending := l.cur
	l.cur = newBatch()
	l.mu.Unlock()
	if first {
		l.metrics.failed.Set(1)
		l.o.Logger.Error("audit log failed; refusing to acknowledge decisions (no retry: a failed fsync may have lost data)", "err", err.Error())
		l.fatalOnce.Do(func() {
			if l.o.OnFatal != nil {
				l.o.OnFatal(err)
			}
		})
	}
	pending.err = err
	close(pending.done)
	return err
}

// abandon fails the batches whose sync is still running when the writer
// stops because the log failed elsewhere (a checkpoint write), so that
// no append waits for ever.
func (l *Log) abandon() {
	err := l.Err()
	if err == nil {
		err = ErrClosed
	}
	for _, s := range l.syncs {
		<-s.done // the file stays open until the sync returns
		s.b.err = err
		close(s.b.done)
	}
	l.syncs = nil
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
