package audit

import (
	"testing"
	"time"
)

// The reservation tests use a batch interval of a minute: a record made
// durable within the test's generous bound was synced by the reservation
// rule, never by the clock, and "not yet durable" after 50 ms cannot be
// the clock either. They never assert how fast something happens, only
// which of the two it was.
const (
	longInterval = time.Minute
	notYet       = 50 * time.Millisecond
	surely       = 20 * time.Second
)

// reservingLog opens a batch log with a long interval and syncs one
// record, so that the next group falls within the interval (the first
// sync after Open never waits).
func reservingLog(t *testing.T, reservations bool) *Log {
	t.Helper()
	l := mustOpen(t, Options{Dir: t.TempDir(), Sync: SyncBatch, BatchInterval: longInterval, Reservations: reservations})
	t.Cleanup(func() { l.Close() })
	if err := l.Append("warm", body(0))(); err != nil {
		t.Fatal(err)
	}
	return l
}

// waiting runs wait in the background and reports its result.
func waiting(wait func() error) <-chan error {
	c := make(chan error, 1)
	go func() { c <- wait() }()
	return c
}

func mustNotBeDurable(t *testing.T, c <-chan error, what string) {
	t.Helper()
	select {
	case err := <-c:
		t.Fatalf("%s was durable (err %v) while the group should still wait", what, err)
	case <-time.After(notYet):
	}
}

func mustBeDurable(t *testing.T, c <-chan error, what string) {
	t.Helper()
	select {
	case err := <-c:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(surely):
		t.Fatalf("%s was not durable after %v", what, surely)
	}
}

// TestUnreservedAppendSyncsAtOnce: with no reservation open nothing is
// about to join the group, so a lone record does not wait out the
// interval; without Options.Reservations it does (the log cannot know).
func TestUnreservedAppendSyncsAtOnce(t *testing.T) {
	l := reservingLog(t, true)
	mustBeDurable(t, waiting(l.Append("lone", body(1))), "a lone record")
	if got := l.Durable(); got != 2 {
		t.Fatalf("durable %d, want 2", got)
	}

	plain := reservingLog(t, false)
	plain.Reserve()
	plain.Release()
	mustNotBeDurable(t, waiting(plain.Append("lone", body(1))), "a record of a log without Reservations")
}

// TestGroupWaitsForOpenReservations: a record is not synced while another
// reserved decision is still to append; the last release syncs the group
// at once, both records in it.
func TestGroupWaitsForOpenReservations(t *testing.T) {
	l := reservingLog(t, true)
	l.Reserve()
	l.Reserve()
	first := waiting(l.Append("a", body(1)))
	l.Release()
	mustNotBeDurable(t, first, "the first record, with a reservation still open")
	second := waiting(l.Append("b", body(2)))
	mustNotBeDurable(t, second, "the second record, before its release")
	l.Release()
	mustBeDurable(t, first, "the first record")
	mustBeDurable(t, second, "the second record")
	if got := l.Durable(); got != 3 {
		t.Fatalf("durable %d, want 3", got)
	}
}

// TestStaleReleaseDoesNotEndTheWait: a release that reached zero while no
// group waited leaves a signal behind; a later group must look at the
// count again rather than take that signal for its own.
func TestStaleReleaseDoesNotEndTheWait(t *testing.T) {
	l := reservingLog(t, true)
	l.Reserve()
	l.Release() // nothing waits: the signal stays
	l.Reserve()
	c := waiting(l.Append("a", body(1)))
	mustNotBeDurable(t, c, "a record whose reservation is open")
	l.Release()
	mustBeDurable(t, c, "the record after its release")
}

// TestForgottenReservationCostsOnlyTheInterval: a reservation never
// released makes a group wait for the interval, as without reservations;
// it never keeps a record from becoming durable.
func TestForgottenReservationCostsOnlyTheInterval(t *testing.T) {
	l := mustOpen(t, Options{Dir: t.TempDir(), Sync: SyncBatch, BatchInterval: 20 * time.Millisecond, Reservations: true})
	defer l.Close()
	l.Reserve()
	for i := range 3 {
		mustBeDurable(t, waiting(l.Append("r", body(i))), "a record under a forgotten reservation")
	}
}

// TestReservationsLeaveAlwaysAlone: the rule is the batch policy's; under
// always records are synced as they come whatever is reserved.
func TestReservationsLeaveAlwaysAlone(t *testing.T) {
	l := mustOpen(t, Options{Dir: t.TempDir(), Sync: SyncAlways, BatchInterval: longInterval, Reservations: true})
	defer l.Close()
	l.Reserve()
	defer l.Release()
	for i := range 3 {
		mustBeDurable(t, waiting(l.Append("r", body(i))), "a record under always")
	}
}

// TestReserveAllocs: a reservation is a counter, taken and ended on every
// decision: no allocation.
func TestReserveAllocs(t *testing.T) {
	l := reservingLog(t, true)
	if n := testing.AllocsPerRun(1000, func() { l.Reserve(); l.Release() }); n != 0 {
		t.Fatalf("%.1f allocations per reservation", n)
	}
}
