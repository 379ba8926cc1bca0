package dataset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHeaderByteOrderMark checks the one header-cell rule: a byte order
// mark and spaces around a name are trimmed, by Reader (which then finds
// the event and label columns and the inputs) and by ReadTable alike.
func TestHeaderByteOrderMark(t *testing.T) {
	data := "\ufeffevent , user,amount, ts,bad \npay,u1,150,2026-01-01T00:00:00Z,1\nrefund,u2,5,2026-01-01T00:01:00Z,0\n"
	if got := HeaderCell("\ufeff event "); got != "event" {
		t.Errorf("HeaderCell = %q", got)
	}
	prog := program(t)
	// A message quotes the names as matched, without the mark.
	_, err := NewReader(strings.NewReader("\ufeffevent , user\n"), "b.csv", prog, Options{})
	if err == nil || !strings.Contains(err.Error(), "its columns are event, user") {
		t.Errorf("header error %v", err)
	}
	r, err := NewReader(strings.NewReader(data), "b.csv", prog, Options{Label: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	reqs, labels, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || reqs[0].Event != "pay" || reqs[1].Event != "refund" || labels[0] != 1 || labels[1] != 0 {
		t.Fatalf("rows %d, events %q %q, labels %v", len(reqs), reqs[0].Event, reqs[1].Event, labels)
	}
	if amount := prog.Inputs[prog.InputIndex("amount")].Slot; reqs[0].Num[amount] != 150 {
		t.Errorf("amount %v, want 150", reqs[0].Num[amount])
	}
	path := filepath.Join(t.TempDir(), "b.csv")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	tab, err := ReadTable(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tab.Header, "|"); got != "event|user|amount|ts|bad" {
		t.Errorf("ReadTable header %q", got)
	}
}
