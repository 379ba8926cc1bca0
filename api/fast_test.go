package api

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/internal/testpolicy"
	"github.com/riskforge/riskforge/vm"
)

const fastPolicy = `policy fast version "1"
events apply, topup
input {
  user_id  string
  note     string optional
  amount   float between 0 and 1000
  count    int default 3 >= 0
  flag     bool optional
  ts       time
}
rule big
  when amount > 500
  emit score 1 reason "big"
decide {
  bias 0
  reject when score >= 0.9
  otherwise approve
}
`

func compileString(t testing.TB, src string) *vm.Program {
	t.Helper()
	return testpolicy.Compile(t, "fast.risk", src)
}

// checkSame is the property: whenever the fast path accepts a body,
// the reference decoder DecodeRequest accepts it too and produces the
// same request. It reports whether the fast path accepted the body, so
// that callers can fail when it accepts nothing (a fast path that always
// gives up would satisfy the property while never running).
func checkSame(t testing.TB, prog *vm.Program, d *Decoder, body []byte) bool {
	t.Helper()
	fast, slow := prog.NewRequest(), prog.NewRequest()
	if !d.fast(body, fast) {
		return false
	}
	if err := DecodeRequest(prog, body, slow); err != nil {
		t.Fatalf("fast path accepted %q but DecodeRequest says %v", body, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast path and DecodeRequest differ on %q:\nfast %+v\nslow %+v", body, fast, slow)
	}
	return true
}

func TestFastDecodeMatchesDecodeRequest(t *testing.T) {
	prog := compileString(t, fastPolicy)
	d := NewDecoder(prog)
	valid := `{"event":"apply","request_id":"r1","features":{"user_id":"u1","amount":12.5,"count":2,"flag":true,"ts":"2026-01-02T03:04:05Z","other":[1,2]}}`
	cases := []string{
		valid,
		`{"event":"apply","features":{"user_id":"u1","amount":12.5,"ts":1700000000}}`,
		` {"features":{"ts":"2026-01-02T03:04:05Z","user_id":"ü","amount":0},"event":"topup"} `,
		`{"event":"apply","features":{"user_id":"u1","amount":12.5,"ts":1700000000,"note":null}}`,
		`{"event":"apply","features":{"user_id":"u1","amount":12.5,"ts":1700000000,"extra":"x","n":-1.5e3,"b":false,"z":null}}`,
	}
	for _, c := range cases {
		if !checkSame(t, prog, d, []byte(c)) && !strings.Contains(c, "[") {
			t.Errorf("fast path refused a plain request: %s", c)
		}
	}
	// Bodies the fast path must hand over (and that DecodeRequest judges).
	for _, c := range []string{
		`{"event":"apply","features":{"user_id":"u\"1","amount":1,"ts":1}}`,          // escape
		`{"event":"apply","features":{"user_id":"u1","amount":1,"ts":1,"amount":2}}`, // duplicate
		`{"Event":"apply","features":{"user_id":"u1","amount":1,"ts":1}}`,            // case-insensitive field
		`{"event":"apply","features":{"user_id":"u1","amount":01,"ts":1}}`,           // bad number
		`{"event":"apply","features":{"user_id":"u1","amount":1,"ts":1}} x`,          // trailing data
		`{"event":"nope","features":{"user_id":"u1","amount":1,"ts":1}}`,             // unknown event
		`{"event":"apply","features":{"user_id":"u1","amount":1e999,"ts":1}}`,        // overflow
		`{"event":"apply","features":{"user_id":"u1","amount":2000,"ts":1}}`,         // bound
		`{"event":"apply","features":{"user_id":1,"amount":1,"ts":1}}`,               // type
		"{\"event\":\"apply\",\"features\":{\"user_id\":\"\xff\",\"amount\":1,\"ts\":1}}",
		`{"event":"apply","features":{"user_id":"u1","amount":1,"ts":1,"note":null,"note":null}}`,      // duplicate null
		`{"event":"apply","features":{"user_id":"u1","amount":1,"ts":1,"x":1,"x":2}}`,                  // duplicate undeclared
		"{\"event\":\"apply\",\"features\":{\"user_id\":\"u1\",\"amount\":1,\"ts\":1,\"x\":\"\xfe\"}}", // invalid UTF-8, undeclared
	} {
		if checkSame(t, prog, d, []byte(c)) {
			t.Errorf("fast path accepted %s", c)
		}
	}
}

// TestFastDecodeRandomMutations mutates valid requests byte by byte and
// checks the property on each mutant.
func TestFastDecodeRandomMutations(t *testing.T) {
	prog := compileString(t, fastPolicy)
	d := NewDecoder(prog)
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]":,. -+eE0123456789tfnulrsaxüÿ\` + "\t\n")
	seeds := []string{
		`{"event":"apply","request_id":"r1","features":{"user_id":"u1","amount":12.5,"count":2,"flag":true,"ts":"2026-01-02T03:04:05Z"}}`,
		`{"event":"topup","features":{"user_id":"u2","amount":999,"note":"hi","ts":1700000000.5,"count":0,"flag":null}}`,
	}
	n := 200000
	if testing.Short() {
		n = 20000
	}
	accepted := 0
	for i := 0; i < n; i++ {
		b := []byte(seeds[r.IntN(len(seeds))])
		for k := r.IntN(3) + 1; k > 0; k-- {
			pos := r.IntN(len(b))
			switch r.IntN(3) {
			case 0:
				b[pos] = alphabet[r.IntN(len(alphabet))]
			case 1:
				b = append(b[:pos], b[pos+1:]...)
			default:
				b = append(b[:pos], append([]byte{alphabet[r.IntN(len(alphabet))]}, b[pos:]...)...)
			}
		}
		if checkSame(t, prog, d, b) {
			accepted++
		}
		checkFeature(t, b, "user_id")
	}
	// Many one-to-three byte mutants are still valid requests (a digit
	// changed, a space added); if the fast path took none of them it is
	// not being tested at all.
	if accepted < n/100 {
		t.Fatalf("the fast path accepted %d of %d mutants: it is not being exercised", accepted, n)
	}
	t.Logf("fast path accepted %d of %d mutants", accepted, n)
}

func FuzzFastDecode(f *testing.F) {
	prog := compileString(f, fastPolicy)
	d := NewDecoder(prog)
	for i := 0; i < 5; i++ {
		seed := []byte(fmt.Sprintf(`{"event":"apply","request_id":"r%d","features":{"user_id":"u1","amount":%d.5,"count":%d,"flag":true,"ts":"2026-01-02T03:04:05Z"}}`, i, i*100, i))
		// The valid seeds must take the fast path, or the fuzzer only
		// ever compares the reference decoder with itself.
		if !checkSame(f, prog, d, seed) {
			f.Fatalf("the fast path refused the valid seed %s", seed)
		}
		f.Add(seed)
	}
	f.Add([]byte(`{"event":"apply","features":{"user_id":"u1","amount":1,"ts":1,"note":null,"note":null,"x":1,"x":2}}`))
	f.Add([]byte("{\"event\":\"apply\",\"features\":{\"user_id\":\"u\xff1\",\"amount\":1,\"ts\":1}}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSame(t, prog, d, body)
	})
}

// checkFeature: whenever Feature's fast path is sure of a body, it finds
// what encoding/json finds.
func checkFeature(t testing.TB, body []byte, name string) {
	t.Helper()
	raw, ok, sure := featureFast(body, name)
	if !sure {
		return
	}
	var w struct {
		Features map[string]json.RawMessage `json:"features"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatalf("Feature's fast path read %q, which encoding/json refuses: %v", body, err)
	}
	want, wantOK := w.Features[name]
	if wantOK && string(want) == "null" {
		want, wantOK = nil, false
	}
	if ok != wantOK || string(raw) != string(want) {
		t.Fatalf("Feature(%q) = %q, %v; encoding/json finds %q, %v", body, raw, ok, want, wantOK)
	}
}

// BenchmarkDecode decodes a plain request with the fast path.
func BenchmarkDecode(b *testing.B) {
	prog := compileString(b, fastPolicy)
	d := NewDecoder(prog)
	body := []byte(`{"event":"apply","request_id":"r1","features":{"user_id":"u1","amount":12.5,"count":2,"flag":true,"ts":"2026-01-02T03:04:05Z","other":"x"}}`)
	req := prog.NewRequest()
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(body, req); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFeature: the rollout key is read from plain bodies by the fast
// path and from unusual ones by encoding/json, null counting as absent.
func TestFeature(t *testing.T) {
	for _, c := range []struct {
		body, want string
		ok         bool
	}{
		{`{"event":"a","features":{"user_id":"u1"}}`, `"u1"`, true},
		{`{"features":{"x\u0031":1,"user_id":"u\u0031"}}`, `"u\u0031"`, true}, // escapes: encoding/json
		{`{"features":{"x\u0031":1,"user_id":null}}`, ``, false},
		{`{"features":{"user_id":null}}`, ``, false},
		{`{"features":{"user_id":7}}`, `7`, true},
		{`{"features":{"other":1}}`, ``, false},
		{`{"features":{"user_id":"u1"`, ``, false}, // truncated
		{`[1]`, ``, false},
	} {
		raw, ok := Feature([]byte(c.body), "user_id")
		if ok != c.ok || string(raw) != c.want {
			t.Errorf("Feature(%s) = %s, %v; want %s, %v", c.body, raw, ok, c.want, c.ok)
		}
	}
}

// TestDecoderInputGuess: input finds every input after every previous
// one, whether the guess (the next in declaration or name order) is right
// or not, and finds nothing for undeclared keys, including prefixes and
// extensions of declared names.
func TestDecoderInputGuess(t *testing.T) {
	prog := compileString(t, fastPolicy)
	d := NewDecoder(prog)
	for prev := -1; prev < len(prog.Inputs); prev++ {
		for want, in := range prog.Inputs {
			if got, ok := d.input([]byte(in.Name), prev); !ok || got != want {
				t.Errorf("input(%q, prev %d) = %d, %v; want %d", in.Name, prev, got, ok, want)
			}
		}
		for _, k := range []string{"", "user", "user_id2", "ts ", "Amount", "other"} {
			if got, ok := d.input([]byte(k), prev); ok {
				t.Errorf("input(%q, prev %d) = %d, true; want not found", k, prev, got)
			}
		}
	}
	// The guess alone: right for the next input in either order (and
	// for the first), wrong for any other.
	decl := []string{"user_id", "note", "amount", "count", "flag", "ts"}
	byName := []string{"amount", "count", "flag", "note", "ts", "user_id"}
	for _, order := range [][]string{decl, byName} {
		prev := -1
		for _, name := range order {
			i, ok := d.guess([]byte(name), prev)
			if !ok || prog.Inputs[i].Name != name {
				t.Errorf("guess(%q, prev %d) = %d, %v; want the input %s", name, prev, i, ok, name)
				break
			}
			prev = i
		}
	}
	if i, ok := d.guess([]byte("flag"), 1); ok {
		t.Errorf("guess(flag after note) = %d, true; want false (neither order puts it there)", i)
	}
	c := d.nextByName[0]
	for i, name := range byName {
		if c < 0 || prog.Inputs[c].Name != name {
			t.Fatalf("input %d by name is %d, want %s", i, c, name)
		}
		c = d.nextByName[c+1]
	}
	if c != -1 {
		t.Errorf("an input after the last by name: %d", c)
	}
}

// TestFastDecodeAnyFeatureOrder: the same features in declaration order,
// name order, reversed and with undeclared keys between them decode
// alike, by the fast path, and as DecodeRequest decodes them.
func TestFastDecodeAnyFeatureOrder(t *testing.T) {
	prog := compileString(t, fastPolicy)
	d := NewDecoder(prog)
	fields := map[string]string{"user_id": `"u1"`, "note": `"n"`, "amount": `12.5`, "count": `2`, "flag": `true`, "ts": `"2026-01-02T03:04:05Z"`}
	orders := [][]string{
		{"user_id", "note", "amount", "count", "flag", "ts"},
		{"amount", "count", "flag", "note", "ts", "user_id"},
		{"ts", "flag", "count", "amount", "note", "user_id"},
		{"x", "user_id", "y", "amount", "note", "z", "ts", "count", "flag"},
	}
	var first *vm.Request
	for _, order := range orders {
		var b strings.Builder
		b.WriteString(`{"event":"apply","features":{`)
		for i, k := range order {
			if i > 0 {
				b.WriteString(",")
			}
			v, ok := fields[k]
			if !ok {
				v = `"undeclared"`
			}
			fmt.Fprintf(&b, "%q:%s", k, v)
		}
		b.WriteString("}}")
		if !checkSame(t, prog, d, []byte(b.String())) {
			t.Fatalf("fast path refused %s", b.String())
		}
		req := prog.NewRequest()
		if err := d.Decode([]byte(b.String()), req); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = req
		} else if !reflect.DeepEqual(req, first) {
			t.Errorf("order %v decodes to %+v, declaration order to %+v", order, req, first)
		}
	}
}

// TestSmallIntMatchesParseFloat: the integer fast path gives exactly
// ParseFloat's value (sign of zero included) for every integer it takes,
// and leaves fractions, exponents and integers of more than 15 digits
// to ParseFloat.
// TestSmallNumberMatchesParseFloat: the numbers smallNumber takes (at most
// 15 digits, an optional fraction, no exponent) get ParseFloat's value bit
// for bit, every other form is left to ParseFloat.
func TestSmallNumberMatchesParseFloat(t *testing.T) {
	cases := []string{"0", "-0", "7", "-7", "007", "42", "999999999999999", "-999999999999999",
		"123456789012345", "1000000000000000", "9007199254740993", "1.5", "1e3", "-", "", "12a",
		"0.0", "-0.0", "0.1", "-0.6", "1234.56", "0.30000000000000004", "12345678901234.5", "1.23456789012345",
		"0.000000000000001", "99999999999999.9", "1.", ".5", "-.5", "1..2", "1.2.3", "1.5e2", "1.5E-2", "+1"}
	for n := int64(1); n < 1e15; n = n*7 + 3 {
		cases = append(cases, strconv.FormatInt(n, 10), strconv.FormatInt(-n, 10))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		digits := 1 + r.IntN(16)
		m := strconv.FormatInt(r.Int64N(int64(math.Pow10(digits))), 10)
		if p := r.IntN(len(m) + 1); p > 0 && p < len(m) {
			m = m[:p] + "." + m[p:]
		}
		if r.IntN(2) == 0 {
			m = "-" + m
		}
		cases = append(cases, m)
	}
	form := regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	for _, c := range cases {
		x, ok := smallNumber([]byte(c))
		wantOK := form.MatchString(c) && len(strings.NewReplacer("-", "", ".", "").Replace(c)) <= 15
		if ok != wantOK {
			t.Errorf("smallNumber(%q): ok %v, want %v", c, ok, wantOK)
			continue
		}
		if !ok {
			continue
		}
		want, err := strconv.ParseFloat(c, 64)
		if err != nil || math.Float64bits(x) != math.Float64bits(want) {
			t.Errorf("smallNumber(%q) = %v (%x), ParseFloat gives %v (%x), %v", c, x, math.Float64bits(x), want, math.Float64bits(want), err)
		}
	}
}

// BenchmarkNumber times one decimal amount read by smallNumber against the
// path it replaced (vm.Program.SetText: TrimSpace, ParseFloat, a check for
// hex and underscores), for docs/OPERATIONS.md §15.
func BenchmarkNumber(b *testing.B) {
	prog := compileString(b, fastPolicy)
	req := prog.NewRequest()
	in := -1
	for i, x := range prog.Inputs {
		if x.Name == "amount" {
			in = i
		}
	}
	v := []byte("734.56")
	b.Run("smallNumber", func(b *testing.B) {
		for b.Loop() {
			x, _ := smallNumber(v)
			if err := prog.SetNumber(req, in, x); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SetText", func(b *testing.B) {
		for b.Loop() {
			if err := prog.SetText(req, in, string(v)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
