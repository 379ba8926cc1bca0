package lang

import (
	"strings"
	"testing"
)

// TestSyntaxMessages: the slips a new user made get a message that says
// what is wrong and how to write it, at the place of the mistake.
func TestSyntaxMessages(t *testing.T) {
	const head = "policy p version \"1\"\ninput {\n  amount float\n  ts time\n}\n"
	tests := []struct{ src, want string }{
		{"rule a when amount > 1 emit score 1.0\nrule b when amount > 2 emit score 1.0 reason \"x\"\n",
			`p.risk:6:24: error: rule a has no reason: every rule says why it fired, e.g. emit score 1.0 reason "..."`},
		{"rule a when amount > 1 emit review\n",
			`p.risk:6:24: error: rule a has no reason: every rule says why it fired, e.g. emit review reason "..."`},
		{"rule a when 100 < amount < 1000 emit review reason \"x\"\n",
			"p.risk:6:26: error: chained comparison 100 < amount < 1000: write 100 < amount and amount < 1000, or amount between 100 and 1000 (both ends included)"},
		{"window w = count() over 1.5h by amount\n",
			"p.risk:6:25: error: durations are whole numbers of a unit: write 1.5h as 90m"},
		{"rule a when ts > 0.5m emit review reason \"x\"\n",
			"p.risk:6:18: error: durations are whole numbers of a unit: write 0.5m as 30s"},
		{"rule a when amount > 1 AND amount < 5 emit review reason \"x\"\n",
			"p.risk:6:24: error: keywords are lower case: write and, not AND"},
		{"rule a when NOT amount > 1 emit review reason \"x\"\n",
			"p.risk:6:13: error: keywords are lower case: write not, not NOT"},
	}
	for _, tt := range tests {
		_, err := Parse("p.risk", []byte(head+tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q:\ngot  %v\nwant %s", tt.src, err, tt.want)
		}
	}
}
