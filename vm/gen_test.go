package vm_test

// A seeded random policy and request generator for the differential
// (oracle) tests and the benchmarks. Policies are emitted as .risk source
// over one fixed input schema, checked with compiler.CheckSource and
// compiled; every rule condition is regenerated until it checks without
// errors, so generated policies are always valid.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

// genField is one input of the fixed schema.
type genField struct {
	name     string
	typ      vm.Type
	optional bool
	def      any     // default value (float64, bool or string), nil when none
	lo, hi   float64 // inclusive bounds for generated values
	decl     string  // declaration text after the name
}

var genFields = []genField{
	{name: "amount", typ: vm.TFloat, lo: 0, hi: math.MaxFloat64, decl: "float >= 0"},
	{name: "income", typ: vm.TFloat, def: 0.0, lo: -math.MaxFloat64, hi: math.MaxFloat64, decl: "float default 0"},
	{name: "rate", typ: vm.TFloat, lo: -math.MaxFloat64, hi: math.MaxFloat64, decl: "float"},
	{name: "age", typ: vm.TInt, lo: 0, hi: 150, decl: "int between 0 and 150"},
	{name: "cnt", typ: vm.TInt, lo: -1 << 53, hi: 1 << 53, decl: "int"},
	{name: "tz", typ: vm.TInt, def: 0.0, lo: -720, hi: 840, decl: "int default 0 between -720 and 840"},
	{name: "flag", typ: vm.TBool, decl: "bool"},
	{name: "vip", typ: vm.TBool, def: false, decl: "bool default false"},
	{name: "country", typ: vm.TString, decl: "string"},
	{name: "device", typ: vm.TString, decl: "string"},
	{name: "note", typ: vm.TString, def: "n/a", decl: `string default "n/a"`},
	{name: "email", typ: vm.TString, optional: true, decl: "string optional"},
	{name: "bonus", typ: vm.TFloat, optional: true, lo: -math.MaxFloat64, hi: math.MaxFloat64, decl: "float optional"},
	{name: "ts", typ: vm.TTime, decl: "time"},
	{name: "opened", typ: vm.TTime, decl: "time"},
}

// genBlocked is the content of the file-backed list `blocked`.
var genBlocked = []string{"dev-1", "dev-2", "Straße", "x@mailinator.com", "ÉCOLE"}

// genListFile is what CompileOptions.ReadFile returns for blocked.txt.
var genListFile = "# blocked devices\n" + strings.Join(genBlocked, "\n") + "\n\n"

// genCodes and genLangs are the inline declared lists.
var (
	genCodes = []float64{1, 2, 3.5, -4, 0}
	genLangs = []string{"de", "en", "Straße", ""}
)

const genEvents = "pay, login"

var genEventNames = []string{"pay", "login"}

// String values shared by requests and literals, so that equality, `in`
// and the substring tests hit as well as miss. Non-ASCII text exercises
// len (code points) and the Unicode-aware lower/upper.
var genStrings = []string{
	"", "DE", "de", "FR", "US", "dev-1", "dev-2", "dev-3", "Straße", "STRASSE", "ÉCOLE", "école",
	"x@mailinator.com", "bob@example.org", "crypto-btc", "BTC shop", "a", "ab", "abc", " spaced ", "n/a", "İstanbul",
}

// Float and int values that commonly break numeric code.
var (
	genEdgeFloats = []float64{
		0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 2.5, -2.5, 0.1, 1e-300, -1e-300, 5e-324,
		1e300, -1e300, math.MaxFloat64, -math.MaxFloat64, 1e15, 3, 7, 100,
	}
	genEdgeInts  = []float64{0, 1, -1, 2, 3, 7, -7, 10, 100, 1e12, -1e12, 1 << 53, -(1 << 53)}
	genEdgeTimes = []float64{
		0, -1, 1, 86399, 86400, -86400, -86401, 3599.5, 1e12, -1e12, 1e13, -1e13,
		1764078300, // 2025-11-25T13:45:00Z
		1795614300, // 2026-11-25T13:45:00Z, a Wednesday
	}
)

// genOptions shape a generated policy.
type genOptions struct {
	Rules   int
	Lets    int
	Depth   int  // maximum expression depth
	NoAlloc bool // leave out lower and upper, which allocate when they change a string
	Events  bool // declare events and give some rules `on` clauses
	Decide  bool // add a decide block
}

// genPolicy is a generated, checked and compiled policy.
type genPolicy struct {
	Src    string
	Policy *compiler.Policy
	Prog   *vm.Program
	// LetTypes maps let names to their checked type (for the expr env).
	LetTypes map[string]compiler.Type
}

// generator produces random source text. Every method returns an
// expression of one type; d is the remaining depth and gs the optional
// inputs guarded at this point.
type generator struct {
	r    *rand.Rand
	opts genOptions
	lets []genLet // lets declared so far, usable by later lets and rules
}

type genLet struct {
	name string
	typ  byte // 'n' number, 'b' bool, 's' string
}

type guardSet uint8

const (
	guardEmail guardSet = 1 << iota
	guardBonus
)

func newGenerator(seed uint64, opts genOptions) *generator {
	return &generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), opts: opts}
}

func (g *generator) chance(p float64) bool { return g.r.Float64() < p }

func (g *generator) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func genParen(s string) string { return "(" + s + ")" }

// fmtNum prints a number literal as the language lexes it: no leading
// minus inside the literal (negative numbers are written -(lit) or -lit).
func fmtNum(v float64, isInt bool) string {
	neg := v < 0
	v = math.Abs(v)
	var s string
	if isInt {
		s = strconv.FormatFloat(v, 'f', 0, 64)
	} else {
		s = strconv.FormatFloat(v, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
	}
	if neg {
		return "-" + s
	}
	return s
}

func (g *generator) intLit() string {
	vals := []float64{0, 1, 2, 3, 5, 7, 10, 30, 100, 150, -1, -3, -7, 1000}
	return fmtNum(vals[g.r.IntN(len(vals))], true)
}

func (g *generator) floatLit() string {
	vals := []float64{0.5, 1.5, 2.25, 0.1, 1e3, 1e-3, 2.5, 99.99, 1e300, 0}
	v := vals[g.r.IntN(len(vals))]
	if g.chance(0.3) {
		v = -v
	}
	if g.chance(0.3) {
		v = math.Round(g.r.NormFloat64()*10000) / 100
	}
	return fmtNum(v, false)
}

func (g *generator) numLit() string {
	s := g.intLit()
	if g.chance(0.5) {
		s = g.floatLit()
	}
	if g.chance(0.1) {
		s = "fixed " + s
	}
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "fixed") {
		return genParen(s)
	}
	return s
}

func (g *generator) strLit() string { return strconv.Quote(genStrings[g.r.IntN(len(genStrings))]) }

func (g *generator) durLit() string {
	return g.pick("500ms", "30s", "90s", "1m", "1h", "1h30m", "24h", "3d", "7d", "0s", "2h45m10s")
}

func (g *generator) letOf(typ byte) string {
	var names []string
	for _, l := range g.lets {
		if l.typ == typ {
			names = append(names, l.name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return names[g.r.IntN(len(names))]
}

// ---- numbers ----

func (g *generator) numLeaf(gs guardSet) string {
	switch n := g.r.IntN(12); {
	case n < 5:
		return g.pick("amount", "income", "rate", "age", "cnt", "tz")
	case n < 8:
		return g.numLit()
	case n < 9:
		if l := g.letOf('n'); l != "" {
			return l
		}
		return g.pick("amount", "cnt")
	case n < 10:
		if gs&guardBonus != 0 {
			return "bonus"
		}
		return "coalesce(bonus, " + g.pick("0", "1.5", "-2", "100") + ")"
	default:
		return g.pick("age", "tz", "cnt")
	}
}

func (g *generator) num(d int, gs guardSet) string {
	if d <= 0 || g.chance(0.3) {
		return g.numLeaf(gs)
	}
	d--
	switch g.r.IntN(16) {
	case 0, 1, 2, 3:
		return genParen(g.num(d, gs)) + " " + g.pick("+", "-", "*", "/", "%") + " " + genParen(g.num(d, gs))
	case 4:
		return "-" + genParen(g.num(d, gs))
	case 5:
		fn := g.pick("min", "max")
		args := []string{g.num(d, gs), g.num(d, gs)}
		for g.chance(0.35) && len(args) < 5 {
			args = append(args, g.num(d, gs))
		}
		return fn + "(" + strings.Join(args, ", ") + ")"
	case 6:
		return g.pick("abs", "round", "floor", "ceil") + "(" + g.num(d, gs) + ")"
	case 7:
		return g.pick("log", "exp", "sqrt") + "(" + g.num(d, gs) + ")"
	case 8:
		return "clamp(" + g.num(d, gs) + ", " + g.num(d, gs) + ", " + g.num(d, gs) + ")"
	case 9:
		return "len(" + g.str(d, gs) + ")"
	case 10:
		return g.pick("hour", "weekday") + "(" + g.time(d, gs) + ")"
	case 11:
		return "if(" + g.boolean(d, gs) + ", " + g.num(d, gs) + ", " + g.num(d, gs) + ")"
	case 12:
		return g.pick("days", "hours", "minutes", "seconds") + "(" + g.dur(d, gs) + ")"
	case 13:
		if g.chance(0.5) {
			return "if(exists(bonus), " + g.num(d, gs|guardBonus) + ", " + g.num(d, gs) + ")"
		}
		return "if(not exists(bonus), " + g.num(d, gs) + ", " + g.num(d, gs|guardBonus) + ")"
	case 14:
		return genParen(g.dur(d, gs)) + " / " + genParen(g.dur(d, gs))
	default:
		return g.numLeaf(gs)
	}
}

// ---- strings ----

func (g *generator) strLeaf(gs guardSet) string {
	switch n := g.r.IntN(10); {
	case n < 4:
		return g.pick("country", "device", "note")
	case n < 7:
		return g.strLit()
	case n < 8:
		if l := g.letOf('s'); l != "" {
			return l
		}
		return "device"
	default:
		if gs&guardEmail != 0 {
			return "email"
		}
		return "coalesce(email, " + g.pick(`""`, `"none"`, `"x@mailinator.com"`) + ")"
	}
}

func (g *generator) str(d int, gs guardSet) string {
	if d <= 0 || g.chance(0.4) {
		return g.strLeaf(gs)
	}
	d--
	switch g.r.IntN(4) {
	case 0:
		if !g.opts.NoAlloc {
			return g.pick("lower", "upper") + "(" + g.str(d, gs) + ")"
		}
		return g.strLeaf(gs)
	case 1:
		return "if(" + g.boolean(d, gs) + ", " + g.str(d, gs) + ", " + g.str(d, gs) + ")"
	case 2:
		return "if(exists(email), " + g.str(d, gs|guardEmail) + ", " + g.str(d, gs) + ")"
	default:
		return g.strLeaf(gs)
	}
}

// ---- times and durations ----
// Times stay within about ±1e14 seconds (durations are literals, scaled
// only by small ints), so hour and weekday have a well-defined answer in
// the time package that the oracle uses.

func (g *generator) time(d int, gs guardSet) string {
	if d <= 0 || g.chance(0.4) {
		return g.pick("ts", "opened")
	}
	d--
	switch g.r.IntN(3) {
	case 0:
		return genParen(g.time(d, gs)) + " + " + genParen(g.dur(d, gs))
	case 1:
		return genParen(g.time(d, gs)) + " - " + genParen(g.dur(d, gs))
	default:
		return genParen(g.dur(d, gs)) + " + " + genParen(g.time(d, gs))
	}
}

// smallNum is a number that keeps durations bounded when it scales them.
func (g *generator) smallNum() string {
	return g.pick("tz", "age", "2", "3", "0", "0.5", "(-1)", "1.5")
}

func (g *generator) dur(d int, gs guardSet) string {
	if d <= 0 || g.chance(0.35) {
		if g.chance(0.7) {
			s := g.durLit()
			if g.chance(0.1) {
				s = genParen("fixed " + s)
			}
			return s
		}
		return "ts - opened"
	}
	d--
	switch g.r.IntN(6) {
	case 0:
		return genParen(g.dur(d, gs)) + " + " + genParen(g.dur(d, gs))
	case 1:
		return genParen(g.dur(d, gs)) + " - " + genParen(g.dur(d, gs))
	case 2:
		return genParen(g.durLit()) + " * " + g.smallNum()
	case 3:
		return g.smallNum() + " * " + genParen(g.durLit())
	case 4:
		return genParen(g.dur(d, gs)) + " / " + g.smallNum()
	default:
		return "-" + genParen(g.dur(d, gs))
	}
}

// ---- bools ----

func (g *generator) boolLeaf(gs guardSet) string {
	switch n := g.r.IntN(10); {
	case n < 4:
		return g.pick("flag", "vip")
	case n < 5:
		if l := g.letOf('b'); l != "" {
			return l
		}
		return "flag"
	case n < 6:
		return g.pick("exists(email)", "exists(bonus)")
	case n < 7:
		return g.pick("true", "false")
	default:
		return g.cmp(0, gs)
	}
}

// cmp is a numeric comparison, usually against a literal (a threshold
// parameter).
func (g *generator) cmp(d int, gs guardSet) string {
	op := g.pick("<", "<=", ">", ">=", "==", "!=")
	switch g.r.IntN(5) {
	case 0, 1, 2:
		return genParen(g.num(d, gs)) + " " + op + " " + g.numLit()
	case 3:
		return g.numLit() + " " + op + " " + genParen(g.num(d, gs))
	default:
		return genParen(g.num(d, gs)) + " " + op + " " + genParen(g.num(d, gs))
	}
}

func (g *generator) numSet() string {
	n := 1 + g.r.IntN(4)
	items := make([]string, n)
	for i := range items {
		if g.chance(0.6) {
			items[i] = fmtNum(genEdgeInts[g.r.IntN(7)], true)
		} else {
			items[i] = fmtNum(genEdgeFloats[g.r.IntN(len(genEdgeFloats))], false)
		}
	}
	return "[" + strings.Join(items, ", ") + "]"
}

func (g *generator) strSet() string {
	n := 1 + g.r.IntN(4)
	items := make([]string, n)
	for i := range items {
		items[i] = g.strLit()
	}
	return "[" + strings.Join(items, ", ") + "]"
}

func (g *generator) boolean(d int, gs guardSet) string {
	if d <= 0 || g.chance(0.15) {
		return g.boolLeaf(gs)
	}
	d--
	switch g.r.IntN(22) {
	case 0, 1, 2:
		return genParen(g.boolean(d, gs)) + " and " + genParen(g.boolean(d, gs))
	case 3, 4:
		return genParen(g.boolean(d, gs)) + " or " + genParen(g.boolean(d, gs))
	case 5:
		return "not " + genParen(g.boolean(d, gs))
	case 6, 7, 8:
		return g.cmp(d, gs)
	case 9:
		return genParen(g.str(d, gs)) + " " + g.pick("==", "!=") + " " + genParen(g.pick(g.strLit(), g.str(d, gs)))
	case 10:
		switch g.r.IntN(4) {
		case 0:
			return genParen(g.num(d, gs)) + " between " + g.numLit() + " and " + g.numLit()
		case 1:
			return genParen(g.num(d, gs)) + " between " + genParen(g.num(d, gs)) + " and " + genParen(g.num(d, gs))
		case 2:
			return genParen(g.time(d, gs)) + " between " + genParen(g.time(d, gs)) + " and " + genParen(g.time(d, gs))
		default:
			return genParen(g.dur(d, gs)) + " between " + genParen(g.dur(d, gs)) + " and " + genParen(g.dur(d, gs))
		}
	case 11:
		if g.chance(0.5) {
			return genParen(g.num(d, gs)) + " " + g.pick("in", "not in") + " " + g.numSet()
		}
		return genParen(g.str(d, gs)) + " " + g.pick("in", "not in") + " " + g.strSet()
	case 12:
		switch g.r.IntN(3) {
		case 0:
			return genParen(g.str(d, gs)) + " " + g.pick("in", "not in") + " blocked"
		case 1:
			return genParen(g.str(d, gs)) + " " + g.pick("in", "not in") + " langs"
		default:
			return genParen(g.num(d, gs)) + " " + g.pick("in", "not in") + " codes"
		}
	case 13:
		arg := g.pick(g.strLit(), g.str(d, gs))
		return g.pick("contains", "starts_with", "ends_with") + "(" + g.str(d, gs) + ", " + arg + ")"
	case 14:
		return "exists(email) and " + genParen(g.boolean(d, gs|guardEmail))
	case 15:
		return "not exists(email) or " + genParen(g.boolean(d, gs|guardEmail))
	case 16:
		return "exists(bonus) and " + genParen(g.boolean(d, gs|guardBonus))
	case 17:
		return "if(exists(email), " + g.boolean(d, gs|guardEmail) + ", " + g.boolean(d, gs) + ")"
	case 18:
		if g.chance(0.5) {
			return genParen(g.time(d, gs)) + " " + g.pick("<", "<=", ">", ">=", "==", "!=") + " " + genParen(g.time(d, gs))
		}
		return genParen(g.dur(d, gs)) + " " + g.pick("<", "<=", ">", ">=", "==", "!=") + " " + genParen(g.dur(d, gs))
	case 19:
		return genParen(g.boolean(d, gs)) + " " + g.pick("==", "!=") + " " + genParen(g.boolean(d, gs))
	case 20:
		return "if(" + g.boolean(d, gs) + ", " + g.boolean(d, gs) + ", " + g.boolean(d, gs) + ")"
	default:
		return g.boolLeaf(gs)
	}
}

// ---- policies ----

func genHeader(name string, events bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy %s version \"1\"\n", name)
	if events {
		b.WriteString("events " + genEvents + "\n")
	}
	b.WriteString("input {\n")
	for _, f := range genFields {
		fmt.Fprintf(&b, "  %s %s\n", f.name, f.decl)
	}
	b.WriteString("}\n")
	b.WriteString("list blocked = file \"blocked.txt\"\n")
	b.WriteString("list codes = [1, 2, 3.5, -4, 0]\n")
	b.WriteString("list langs = [\"de\", \"en\", \"Straße\", \"\"]\n")
	return b.String()
}

func genReadFile(path string) ([]byte, error) {
	if strings.HasSuffix(path, "blocked.txt") {
		return []byte(genListFile), nil
	}
	return nil, errors.New("no such file: " + path)
}

// checks reports whether src checks without errors. A probe rule is
// added because a policy without rules does not check, and lets are
// generated before any rule.
func genChecks(src string) bool {
	src += "rule gen_probe_rule\n  when true\n  emit score 0 reason \"probe\"\n"
	_, errs := compiler.CheckSource("gen.risk", []byte(src), compiler.Options{})
	return errs.Err() == nil
}

// generatePolicy builds a random policy from seed.
func generatePolicy(tb testing.TB, seed uint64, opts genOptions) *genPolicy {
	tb.Helper()
	g := newGenerator(seed, opts)
	header := genHeader(fmt.Sprintf("gen_%d", seed), opts.Events)
	var decls []string
	// Lets: each may use the lets before it; they are declared in shuffled
	// order, which the checker must sort out.
	for i := 0; i < opts.Lets; i++ {
		typ := "nbs"[g.r.IntN(3)]
		name := fmt.Sprintf("l%d", i)
		var decl string
		for try := 0; ; try++ {
			var e string
			switch typ {
			case 'n':
				e = g.num(2, 0)
			case 'b':
				e = g.boolean(2, 0)
			default:
				e = g.str(2, 0)
			}
			decl = fmt.Sprintf("let %s = %s\n", name, e)
			if genChecks(header + strings.Join(decls, "") + decl) {
				break
			}
			if try > 100 {
				tb.Fatalf("cannot generate let: %s", decl)
			}
		}
		decls = append(decls, decl)
		g.lets = append(g.lets, genLet{name: name, typ: typ})
	}
	g.r.Shuffle(len(decls), func(i, j int) { decls[i], decls[j] = decls[j], decls[i] })
	prefix := header + strings.Join(decls, "")
	rules := make([]string, opts.Rules)
	for i := range rules {
		rules[i] = g.rule(i)
	}
	// Checking the whole policy at once is much cheaper than checking
	// rule by rule; only when it fails is each rule checked on its own
	// and regenerated until it checks.
	if !genChecks(prefix + strings.Join(rules, "")) {
		for i := range rules {
			for try := 0; !genChecks(prefix + rules[i]); try++ {
				if try > 200 {
					tb.Fatalf("cannot generate a rule that checks; last: %s", rules[i])
				}
				rules[i] = g.rule(i)
			}
		}
	}
	src := prefix + strings.Join(rules, "")
	if opts.Decide {
		src += "decide {\n  bias -1.5\n  reject when score >= 0.9\n  review when score > 0.6\n  otherwise approve\n}\n"
	}
	pol, errs := compiler.CheckSource("gen.risk", []byte(src), compiler.Options{})
	if err := errs.Err(); err != nil {
		tb.Fatalf("generated policy does not check: %v\n%s", err, src)
	}
	prog, _, err := compiler.Compile(pol, compiler.CompileOptions{ReadFile: genReadFile})
	if err != nil {
		tb.Fatalf("compile: %v\n%s", err, src)
	}
	gp := &genPolicy{Src: src, Policy: pol, Prog: prog, LetTypes: map[string]compiler.Type{}}
	for _, l := range pol.Lets {
		gp.LetTypes[l.Sym.Name] = l.Sym.Type
	}
	return gp
}

// rule generates rule i.
func (g *generator) rule(i int) string {
	on := ""
	if g.opts.Events && g.chance(0.3) {
		on = " on " + g.pick("pay", "login", "pay, login")
	}
	when := g.boolean(g.opts.Depth, 0)
	emit := "score " + fmtNum(math.Round(g.r.NormFloat64()*100)/100, false)
	switch n := g.r.IntN(10); {
	case n == 0:
		emit = g.pick("reject", "review", "approve")
	case n == 1:
		emit = "score fixed " + g.pick("0.5", "1", "-0.25")
	}
	return fmt.Sprintf("rule r%d%s\n  when %s\n  emit %s reason \"rule %d\"\n", i, on, when, emit, i)
}

// ---- requests ----

// genValue is one input's value in a generated request.
type genValue struct {
	present bool
	num     float64 // numbers, bools (0/1) and times
	str     string
}

// genRequest is a generated request, independent of any program.
type genRequest struct {
	event  string
	values []genValue // indexed like genFields
}

func (g *generator) value(f genField) genValue {
	v := genValue{present: true}
	edge := g.chance(0.25)
	switch f.typ {
	case vm.TString:
		v.str = genStrings[g.r.IntN(len(genStrings))]
	case vm.TBool:
		v.num = float64(g.r.IntN(2))
	case vm.TTime:
		if edge {
			v.num = genEdgeTimes[g.r.IntN(len(genEdgeTimes))]
		} else {
			v.num = 1.7e9 + math.Round(g.r.NormFloat64()*3e7)
			if g.chance(0.2) {
				v.num += 0.25
			}
		}
	case vm.TInt:
		if edge {
			v.num = genEdgeInts[g.r.IntN(len(genEdgeInts))]
		} else {
			v.num = float64(g.r.IntN(201) - 100)
		}
	default:
		if edge {
			v.num = genEdgeFloats[g.r.IntN(len(genEdgeFloats))]
		} else {
			v.num = math.Round(g.r.NormFloat64()*10000) / 100
		}
	}
	if f.typ == vm.TInt || f.typ == vm.TFloat {
		v.num = min(max(v.num, f.lo), f.hi)
	}
	if (f.optional || f.def != nil) && g.chance(0.3) {
		return genValue{}
	}
	return v
}

func (g *generator) request() genRequest {
	r := genRequest{event: genEventNames[g.r.IntN(len(genEventNames))], values: make([]genValue, len(genFields))}
	for i, f := range genFields {
		r.values[i] = g.value(f)
	}
	return r
}

// fill stores r into req directly (slots by name) and completes it.
func (r genRequest) fill(tb testing.TB, p *vm.Program, req *vm.Request) {
	req.Reset()
	req.Event = r.event
	for i, f := range genFields {
		v := r.values[i]
		if !v.present {
			continue
		}
		ix := p.InputIndex(f.name)
		in := p.Inputs[ix]
		if in.Type == vm.TString {
			req.Str[in.Slot] = v.str
		} else {
			req.Num[in.Slot] = v.num
		}
		req.Present[ix] = true
	}
	if err := p.Complete(req); err != nil {
		tb.Fatalf("Complete: %v", err)
	}
}

// json encodes r as a decision request; times alternate between RFC 3339
// text (when exact) and Unix seconds.
func (r genRequest) json() []byte {
	feats := map[string]any{}
	for i, f := range genFields {
		v := r.values[i]
		if !v.present {
			if i%2 == 0 {
				feats[f.name] = nil // null counts as absent
			}
			continue
		}
		switch f.typ {
		case vm.TString:
			feats[f.name] = v.str
		case vm.TBool:
			feats[f.name] = v.num != 0
		case vm.TTime:
			if v.num == math.Trunc(v.num) && math.Abs(v.num) < 9e9 && int(v.num)%2 == 0 {
				feats[f.name] = timeText(v.num)
			} else {
				feats[f.name] = v.num
			}
		default:
			feats[f.name] = v.num
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	if err := enc.Encode(map[string]any{"event": r.event, "request_id": "gen", "features": feats}); err != nil {
		panic(err)
	}
	return b.Bytes()
}
