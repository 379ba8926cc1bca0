// Package policytest owns policy tests: the NAME_test.yaml file format
// (cases with an event, features, prior events that seed the velocity
// windows, forced model failures and the expected decision, score range,
// fired and silent rules, reasons and degraded flag), checking a test file
// against its policy with errors at file:line:col, running the cases
// through the VM with the policy's real models and a fresh window store
// per case, and the results: failures, JUnit XML and rule coverage (rules
// no case fired, rules no case left silent). `riskc test` is a thin
// command over Discover, Load and Run. docs/TESTING.md is the user guide.
package policytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// Suffix ends the name of every test file: the tests of loan.risk are in
// loan_test.yaml next to it.
const Suffix = "_test.yaml"

// fileYAML is the shape of a test file; yaml.Node fields keep the
// positions that errors point at.
type fileYAML struct {
	Policy   string     `yaml:"policy"`
	Defaults defaults   `yaml:"defaults"`
	Cases    []caseYAML `yaml:"cases"`
}

type defaults struct {
	Event    string    `yaml:"event"`
	Time     string    `yaml:"time"`
	Features yaml.Node `yaml:"features"`
}

type caseYAML struct {
	Name     string      `yaml:"name"`
	Event    yaml.Node   `yaml:"event"`
	Time     string      `yaml:"time"`
	Features yaml.Node   `yaml:"features"`
	Prior    []priorYAML `yaml:"prior"`
	Models   yaml.Node   `yaml:"models"`
	Expect   expectYAML  `yaml:"expect"`
	Line     int         `yaml:"-"`
	Col      int         `yaml:"-"`
}

type priorYAML struct {
	Event    yaml.Node `yaml:"event"`
	Time     string    `yaml:"time"`
	Repeat   int       `yaml:"repeat"`
	Features yaml.Node `yaml:"features"`
}

type expectYAML struct {
	Decision yaml.Node `yaml:"decision"`
	Score    yaml.Node `yaml:"score"`
	Fired    yaml.Node `yaml:"fired"`
	NotFired yaml.Node `yaml:"not_fired"`
	Reasons  yaml.Node `yaml:"reasons"`
	Degraded yaml.Node `yaml:"degraded"`
}

// File is a checked test file, ready to run.
type File struct {
	Path       string
	PolicyPath string
	Program    *vm.Program
	Cases      []*Case
}

// Case is one checked test case.
type Case struct {
	Name  string
	Line  int
	Event string
	Time  float64 // evaluation time for policies without a ts input
	// Request is the case's event; Prior the events replayed before it.
	Request *vm.Request
	Prior   []*vm.Request
	// FailModels are the models forced onto their on_error value.
	FailModels map[int]bool
	Expect     Expect
}

// Expect is what a case requires; nil and empty fields require nothing.
type Expect struct {
	Decision           *vm.Action
	ScoreMin, ScoreMax *float64
	Fired, NotFired    []string
	Reasons            []string
	Degraded           *bool
}

// defaultTime is the evaluation time of cases of a policy without a ts
// input that give none: fixed, so results do not depend on the clock.
var defaultTime = float64(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).Unix())

// Load reads the test file at path and its policy (policy: in the file,
// relative to it, or NAME.risk for NAME_test.yaml), and checks every case
// against the policy: events, feature names and values, model and rule
// names, actions. err is an I/O or policy error; problems in the test
// file are in the list, each at its file:line:col.
func Load(path string) (*File, lang.ErrorList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var diags lang.ErrorList
	var doc fileYAML
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		diags.Add(yamlPos(path, err), "%s", yamlMessage(err))
		return nil, diags, nil
	}
	f := &File{Path: path, PolicyPath: policyFor(path, doc.Policy)}
	src, err := os.ReadFile(f.PolicyPath)
	if err != nil {
		diags.Add(lang.Pos{File: &f.Path, Line: 1, Col: 1}, "policy: %v (name it with `policy: FILE`, relative to the test file)", err)
		return nil, diags, nil
	}
	prog, _, pdiags, err := compiler.Load(f.PolicyPath, src)
	if err != nil {
		if pdiags.HasErrors() {
			return nil, pdiags, nil
		}
		return nil, nil, err
	}
	f.Program = prog
	c := checker{file: f, diags: &diags}
	if len(doc.Cases) == 0 {
		diags.Add(lang.Pos{File: &f.Path, Line: 1, Col: 1}, "no cases: a test file lists its cases under `cases:`")
	}
	places := casePlaces(data)
	names := map[string]int{}
	for i := range doc.Cases {
		y := &doc.Cases[i]
		y.Line, y.Col = 1, 1
		if i < len(places) {
			y.Line, y.Col = places[i].Line, places[i].Column
		}
		if prev, dup := names[y.Name]; dup && y.Name != "" {
			diags.Add(c.pos(y.Line, y.Col), "case %q is also at line %d: give each case its own name", y.Name, prev)
		}
		names[y.Name] = y.Line
		if tc := c.checkCase(&doc.Defaults, y); tc != nil {
			f.Cases = append(f.Cases, tc)
		}
	}
	return f, diags, nil
}

// policyFor resolves a test file's policy.
func policyFor(testPath, declared string) string {
	if declared != "" {
		return filepath.Join(filepath.Dir(testPath), declared)
	}
	return strings.TrimSuffix(testPath, Suffix) + ".risk"
}

// casePlaces returns the node of each case (the sequence item under
// cases:), whose position errors about a case as a whole point at.
func casePlaces(data []byte) []*yaml.Node {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 {
		return nil
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "cases" {
			return m.Content[i+1].Content
		}
	}
	return nil
}

var yamlLine = regexp.MustCompile(`line (\d+): `)

// yamlPos finds the line a yaml.v3 error names.
func yamlPos(path string, err error) lang.Pos {
	line := 1
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return lang.Pos{File: &path, Line: int32(line), Col: 1}
}

// yamlMessage words a yaml.v3 decoding error without its "yaml: line N:"
// prefix (the position says it) and with the test file's terms.
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	msg = strings.TrimSpace(yamlLine.ReplaceAllString(msg, ""))
	msg = strings.TrimPrefix(msg, "yaml: ")
	for _, t := range []string{"policytest.fileYAML", "policytest.caseYAML", "policytest.priorYAML", "policytest.expectYAML", "policytest.defaults"} {
		msg = strings.ReplaceAll(msg, " in type "+t, "")
	}
	if strings.HasPrefix(msg, "field ") && strings.HasSuffix(msg, " not found") {
		msg = "unknown key " + strings.TrimSuffix(strings.TrimPrefix(msg, "field "), " not found") +
			" (a file has policy, defaults, cases; a case name, event, time, features, prior, models, expect; expect decision, score, fired, not_fired, reasons, degraded)"
	}
	return msg
}

// checker checks the cases of one file against its program.
type checker struct {
	file  *File
	diags *lang.ErrorList
}

func (c *checker) pos(line, col int) lang.Pos {
	return lang.Pos{File: &c.file.Path, Line: int32(line), Col: int32(col)}
}

func (c *checker) at(n *yaml.Node) lang.Pos { return c.pos(n.Line, n.Column) }

// checkCase turns one case into a Case, or reports why it cannot.
func (c *checker) checkCase(d *defaults, y *caseYAML) *Case {
	n := len(*c.diags)
	here := c.pos(y.Line, y.Col)
	tc := &Case{Name: y.Name, Line: y.Line, Event: first(y.Event.Value, d.Event), FailModels: map[int]bool{}}
	if tc.Name == "" {
		c.diags.Add(here, "case without a name: every case needs `name:`")
	}
	eventAt := here
	if y.Event.Kind != 0 {
		eventAt = c.at(&y.Event)
	}
	tc.Time = c.time(here, first(y.Time, d.Time))
	tc.Request = c.request(here, eventAt, tc.Event, tc.Time, &d.Features, &y.Features)
	for i := range y.Prior {
		pr := &y.Prior[i]
		repeat := pr.Repeat
		if repeat == 0 {
			repeat = 1
		}
		if repeat < 0 {
			c.diags.Add(here, "prior event %d: repeat must be positive, got %d", i+1, repeat)
		}
		at := eventAt
		if pr.Event.Kind != 0 {
			at = c.at(&pr.Event)
		}
		t := c.time(here, first(pr.Time, y.Time, d.Time))
		req := c.request(here, at, first(pr.Event.Value, tc.Event), t, &d.Features, &y.Features, &pr.Features)
		for range repeat {
			tc.Prior = append(tc.Prior, req)
		}
	}
	c.models(tc, &y.Models)
	c.expect(tc, here, &y.Expect)
	if len(*c.diags) > n {
		return nil
	}
	return tc
}

func first(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// time parses a case's time: (RFC 3339) for policies without a ts input.
func (c *checker) time(at lang.Pos, s string) float64 {
	if s == "" {
		return defaultTime
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		c.diags.Add(at, "time %q: want an RFC 3339 time such as 2026-03-01T10:00:00Z", s)
		return defaultTime
	}
	return float64(t.UnixNano()) / 1e9
}

// request builds the request of one event from feature maps merged in
// order (defaults, the case, a prior event's overrides; null removes a
// feature), decoded exactly as riskd decodes a JSON request.
func (c *checker) request(here, eventAt lang.Pos, event string, t float64, maps ...*yaml.Node) *vm.Request {
	p := c.file.Program
	features := map[string]json.RawMessage{}
	where := map[string]*yaml.Node{}
	for _, m := range maps {
		if m.Kind == 0 {
			continue
		}
		if m.Kind != yaml.MappingNode {
			c.diags.Add(c.at(m), "features must be a mapping of feature names to values")
			continue
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if p.InputIndex(k.Value) < 0 {
				c.diags.Add(c.at(k), "unknown feature %q%s", k.Value, didYouMean(k.Value, inputNames(p)))
				continue
			}
			raw, err := jsonValue(v)
			if err != nil {
				c.diags.Add(c.at(v), "feature %s: %v", k.Value, err)
				continue
			}
			features[k.Value], where[k.Value] = raw, v
		}
	}
	if event == "" && p.EventsDeclared {
		c.diags.Add(here, "no event: give `event:` in the case or under defaults (this policy handles %s)", strings.Join(p.Events, ", "))
		return nil
	}
	body, _ := json.Marshal(map[string]any{"event": event, "features": features})
	req := p.NewRequest()
	if err := api.DecodeJSON(p, body, req); err != nil {
		pos := here
		if fe, ok := err.(*vm.FieldError); ok {
			if n := where[fe.Field]; fe.Input && n != nil {
				pos = c.at(n)
			} else if fe.Field == "event" {
				pos = eventAt
			}
		}
		c.diags.Add(pos, "%s", api.ErrorText(err))
		return nil
	}
	req.Time = t
	return req
}

// jsonValue converts a YAML scalar to the JSON value riskd would get.
func jsonValue(n *yaml.Node) (json.RawMessage, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("want a number, string, bool or time, got a %s", kindName(n.Kind))
	}
	switch n.Tag {
	case "!!null":
		return json.RawMessage("null"), nil
	case "!!bool":
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			return nil, err
		}
		return json.Marshal(b)
	case "!!int", "!!float":
		var v float64
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		return json.Marshal(v)
	}
	return json.Marshal(n.Value) // strings and timestamps
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "alias"
}

func inputNames(p *vm.Program) []string {
	names := make([]string, len(p.Inputs))
	for i, in := range p.Inputs {
		names[i] = in.Name
	}
	return names
}

// models reads the case's `models:` map: NAME: error forces the model's
// on_error value, as when the model fails or times out in riskd.
func (c *checker) models(tc *Case, n *yaml.Node) {
	if n.Kind == 0 {
		return
	}
	if n.Kind != yaml.MappingNode {
		c.diags.Add(c.at(n), "models must map model names to `error`")
		return
	}
	p := c.file.Program
	var names []string
	for _, m := range p.Models {
		names = append(names, m.Name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		idx := -1
		for j, m := range p.Models {
			if m.Name == k.Value {
				idx = j
			}
		}
		switch {
		case idx < 0 && len(names) == 0:
			c.diags.Add(c.at(k), "unknown model %q: the policy declares no models", k.Value)
		case idx < 0:
			c.diags.Add(c.at(k), "unknown model %q%s", k.Value, didYouMean(k.Value, names))
		case v.Value != "error":
			c.diags.Add(c.at(v), "model %s: want `error` (forces its on_error value), got %q", k.Value, v.Value)
		default:
			tc.FailModels[idx] = true
		}
	}
}

// expect checks and converts the case's expectations.
func (c *checker) expect(tc *Case, here lang.Pos, y *expectYAML) {
	p := c.file.Program
	e := &tc.Expect
	if y.Decision.Kind != 0 {
		a, ok := vm.ParseAction(y.Decision.Value)
		if !ok {
			c.diags.Add(c.at(&y.Decision), "decision %q: want approve, review or reject", y.Decision.Value)
		}
		e.Decision = &a
	}
	if y.Score.Kind != 0 {
		e.ScoreMin, e.ScoreMax = c.scoreRange(&y.Score)
	}
	rules := make([]string, len(p.Rules))
	for i, r := range p.Rules {
		rules[i] = r.Name
	}
	e.Fired = c.ruleList(&y.Fired, "fired", rules)
	e.NotFired = c.ruleList(&y.NotFired, "not_fired", rules)
	for _, f := range e.Fired {
		for _, nf := range e.NotFired {
			if f == nf {
				c.diags.Add(c.at(&y.NotFired), "rule %s is listed both in fired and in not_fired", f)
			}
		}
	}
	var reasons []string
	for _, r := range p.Rules {
		reasons = append(reasons, r.Reason)
	}
	e.Reasons = c.stringList(&y.Reasons, "reasons")
	for i, r := range e.Reasons {
		if !contains(reasons, r) {
			c.diags.Add(c.at(y.Reasons.Content[i]), "no rule has the reason %q%s", r, didYouMean(r, reasons))
		}
	}
	if y.Degraded.Kind != 0 {
		b, err := strconv.ParseBool(y.Degraded.Value)
		if err != nil || y.Degraded.Tag != "!!bool" {
			c.diags.Add(c.at(&y.Degraded), "degraded: want true or false, got %q", y.Degraded.Value)
		}
		e.Degraded = &b
	}
	if y.Decision.Kind+y.Score.Kind+y.Fired.Kind+y.NotFired.Kind+y.Reasons.Kind+y.Degraded.Kind == 0 {
		c.diags.Add(here, "case %q expects nothing: give expect: with decision, score, fired, not_fired, reasons or degraded", tc.Name)
	}
}

// scoreRange reads score: {min: A, max: B} (either may be left out).
func (c *checker) scoreRange(n *yaml.Node) (lo, hi *float64) {
	if n.Kind != yaml.MappingNode {
		c.diags.Add(c.at(n), "score: want a range such as {min: 0.5, max: 0.85}")
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		x, err := strconv.ParseFloat(v.Value, 64)
		if err != nil || x < 0 || x > 1 {
			c.diags.Add(c.at(v), "score %s: want a number between 0 and 1, got %q", k.Value, v.Value)
			continue
		}
		switch k.Value {
		case "min":
			lo = &x
		case "max":
			hi = &x
		default:
			c.diags.Add(c.at(k), "score: unknown key %q (want min and/or max)", k.Value)
		}
	}
	if lo != nil && hi != nil && *lo > *hi {
		c.diags.Add(c.at(n), "score: min %v is above max %v", *lo, *hi)
	}
	return lo, hi
}

// ruleList reads a list of rule names, each checked against the policy.
func (c *checker) ruleList(n *yaml.Node, what string, rules []string) []string {
	names := c.stringList(n, what)
	for i, name := range names {
		if !contains(rules, name) {
			c.diags.Add(c.at(n.Content[i]), "%s: unknown rule %q%s", what, name, didYouMean(name, rules))
		}
	}
	return names
}

// stringList reads a list of strings (a single string is a list of one).
func (c *checker) stringList(n *yaml.Node, what string) []string {
	switch n.Kind {
	case 0:
		return nil
	case yaml.ScalarNode:
		*n = yaml.Node{Kind: yaml.SequenceNode, Line: n.Line, Column: n.Column, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: n.Value, Line: n.Line, Column: n.Column}}}
	case yaml.SequenceNode:
	default:
		c.diags.Add(c.at(n), "%s: want a list", what)
		return nil
	}
	var out []string
	for _, item := range n.Content {
		if item.Kind != yaml.ScalarNode {
			c.diags.Add(c.at(item), "%s: want a list of names", what)
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// didYouMean is " (did you mean "x"?)" for the candidate closest to a
// misspelt name, or "".
func didYouMean(name string, candidates []string) string {
	if h := lang.Suggest(name, candidates); h != "" {
		return " (" + h + ")"
	}
	return ""
}
