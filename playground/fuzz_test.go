package playground

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzPlaygroundRun sends arbitrary bodies to the run, check and format
// endpoints: nothing panics, every answer is JSON with a status the page
// knows (200, or 400/413/422 with an error).
func FuzzPlaygroundRun(f *testing.F) {
	p := loanPolicy(f)
	h := New(Options{Enabled: true, Rate: 1e9, Burst: 1 << 30, MaxHistory: 50, Policies: func() []Policy { return []Policy{p} }})
	f.Add("run", `{"source":"policy x version \"1\"\ninput { a int }\nrule r when a > 1 emit review reason \"r\"\n","request":{"features":{"a":2}}}`)
	f.Add("run", `{"source":"policy x version \"1\"\ninput { a int\n k string }\nwindow w = count() over 1h by k\nrule r when w > 1 emit review reason \"r\"\n","request":{"features":{"a":2,"k":"x"}},"history":[{"features":{"a":1,"k":"x"}},null,7]}`)
	f.Add("check", `{"source":"rule (((","path":"`+p.Path+`"}`)
	f.Add("format", `{"source":"policy x\n# c\nlet a = 1"}`)
	f.Add("run", `{"request":null}`)
	f.Fuzz(func(t *testing.T, endpoint, body string) {
		switch endpoint {
		case "run", "check", "format":
		default:
			return
		}
		req := httptest.NewRequest(http.MethodPost, Prefix+"/api/"+endpoint, bytes.NewReader([]byte(body)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 413, 422:
		default:
			t.Fatalf("%s: status %d: %s", endpoint, w.Code, w.Body)
		}
		if !strings.HasPrefix(w.Body.String(), "{") || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: not a JSON answer: %q", endpoint, w.Body)
		}
		if w.Code != 200 && !strings.Contains(w.Body.String(), `"error"`) {
			t.Fatalf("%s: refusal without an error: %s", endpoint, w.Body)
		}
	})
}
