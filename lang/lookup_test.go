package lang

import (
	"strings"
	"testing"
)

// TestLookupParsePrint: a lookup declaration parses into its parts,
// LOOKUP.FIELD is one identifier, and the printer lays it out canonically
// and idempotently (options keep their source order, as in model blocks).
func TestLookupParsePrint(t *testing.T) {
	src := `policy p version "1"
input { user_id string }
lookup profile = redis "profile:{user_id}" { ttl 5m fields [segment string,limit float] timeout 5ms on_error absent }
rule r when exists(profile.limit) and profile.limit > 1 emit score 1 reason "x"
decide { otherwise approve }
`
	f, err := Parse("p.risk", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var l *LookupDecl
	for _, d := range f.Decls {
		if d, ok := d.(*LookupDecl); ok {
			l = d
		}
	}
	if l == nil || l.Name.Name != "profile" || l.Kind.Name != "redis" || l.Key.Value != "profile:{user_id}" ||
		len(l.Fields) != 2 || l.Fields[1].Name.Name != "limit" || l.Fields[1].Type.Name != "float" ||
		l.TTL.Seconds != 300 || l.Timeout.Seconds != 0.005 || l.OnError.Name != "absent" {
		t.Fatalf("parsed %+v", l)
	}
	out := string(Format(f))
	want := `lookup profile = redis "profile:{user_id}" {
  ttl      5m
  fields   [segment string, limit float]
  timeout  5ms
  on_error absent
}`
	if !strings.Contains(out, want) || !strings.Contains(out, "exists(profile.limit) and profile.limit > 1") {
		t.Errorf("formatted:\n%s", out)
	}
	f2, err := Parse("p.risk", []byte(out))
	if err != nil || string(Format(f2)) != out {
		t.Errorf("formatting is not idempotent: %v", err)
	}
	if _, err := Parse("p.risk", []byte(`policy p version "1"
lookup x = redis "k:{a}" { ttl 1m ttl 2m }
`)); err == nil || !strings.Contains(err.Error(), "duplicate ttl") {
		t.Errorf("duplicate option: %v", err)
	}
}
