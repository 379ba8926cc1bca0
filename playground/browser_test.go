package playground

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/riskforge/riskforge/lang"
)

// chromiumPath returns $CHROMIUM or Debian's chromium; the browser test
// fails (it never skips) when there is none: `make deps` installs it.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (%v): run `make deps` (as root it apt-get installs chromium) or set CHROMIUM", err)
	}
	return p
}

// browser starts headless Chromium with the flags this machine needs
// (no sandbox as root; no background networking, which a closed network
// refuses) and returns a tab context.
func browser(t *testing.T) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("chromium did not start: %v", err)
	}
	return ctx
}

// within runs one action with a deadline (the browser's own context must
// not carry one: it would stop the browser).
func within[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestPlaygroundBrowser drives the page in headless Chromium the way an
// analyst uses it: the served policy loads into the editor; a typed
// mistake shows a diagnostic at its line; deleting it clears it; Format
// restores the canonical layout; Run shows the decision and highlights
// the fired rule's line. With RISKFORGE_SCREENSHOT=FILE it also saves a
// screenshot of the page (docs/img/playground.png is made this way).
func TestPlaygroundBrowser(t *testing.T) {
	p := loanPolicy(t)
	srv := newServer(t, Options{Enabled: true})
	ctx := browser(t)

	within(t, ctx, "load the page", chromedp.Navigate(srv.URL+"/ui/"))
	within(t, ctx, "the served policy in the editor", chromedp.Poll[bool](`window.playground && window.playground.text() === `+js(p.Source)+` && document.getElementById("status").textContent === "ok"`))

	// Type a mistake: an "x" after overdue_30d in the arrears rule.
	anchor := "when overdue_30d >= 2"
	off := strings.Index(p.Source, anchor) + len("when overdue_30d")
	line := strings.Count(p.Source[:off], "\n") + 1
	within(t, ctx, "place the cursor", chromedp.Evaluate[any](fmt.Sprintf(`(() => { const v = window.playground.view; v.focus(); v.dispatch({selection: {anchor: %d}}); })()`, len([]rune(p.Source[:off])))))
	within(t, ctx, "type x", chromedp.KeyEvent("x"))
	diag := within(t, ctx, "a diagnostic appears", chromedp.Poll[string](`(() => { const li = document.querySelector("#diags li.error"); return li && li.textContent; })()`))
	if !strings.HasPrefix(diag, fmt.Sprintf("%d:", line)) || !strings.Contains(diag, `unknown name "overdue_30dx"`) {
		t.Fatalf("diagnostic %q; want one at line %d about overdue_30dx", diag, line)
	}
	underlined := within(t, ctx, "the mistake is underlined", chromedp.Poll[string](`(() => { const e = document.querySelector(".cm-lintRange-error"); return e && e.textContent; })()`))
	if underlined != "overdue_30dx" {
		t.Fatalf("underlined %q, want overdue_30dx", underlined)
	}

	// Fix it, then break the layout and Format.
	within(t, ctx, "delete the x", chromedp.KeyEvent(kb.Backspace))
	within(t, ctx, "the diagnostic clears", chromedp.Poll[bool](`!document.querySelector("#diags li") && document.getElementById("status").textContent === "ok"`))
	within(t, ctx, "add spaces", chromedp.KeyEvent("   "))
	within(t, ctx, "format", chromedp.Click(chromedp.CSS("#format")))
	within(t, ctx, "formatted and checked", chromedp.Poll[bool](`window.playground.text() === `+js(string(mustFormat(t, p.Source)))+` && window.playground.checked === window.playground.text()`))

	// Run a request with arrears: the rule fires and its line is highlighted.
	req := `{"event": "loan_apply", "features": {"user_id": "u-1", "device_id": "d-1", "ip_country": "NL", "residence_country": "NL", "age": 40, "amount": 5000, "term_months": 24, "income": 3000, "overdue_30d": 3, "bureau_score": 700, "account_opened": "2020-01-01T00:00:00Z", "ts": "2026-03-01T10:00:00Z"}}`
	within(t, ctx, "fill the request", chromedp.Evaluate[any](`(() => { const r = document.getElementById("request"); r.value = `+js(req)+`; r.dispatchEvent(new Event("input")); })()`))
	within(t, ctx, "run", chromedp.Click(chromedp.CSS("#run")))
	decision := within(t, ctx, "a decision", chromedp.Poll[string](`(() => { const d = document.getElementById("decision").textContent; return d !== "—" && d; })()`))
	if decision != "approve" && decision != "review" && decision != "reject" {
		t.Fatalf("decision %q", decision)
	}
	fired := within(t, ctx, "fired rules listed", chromedp.Text(chromedp.CSS("#fired")))
	if !strings.Contains(fired, "recent_arrears (line ") {
		t.Fatalf("fired rules %q lack recent_arrears", fired)
	}
	hl := within(t, ctx, "the fired rule is highlighted", chromedp.Poll[string](`(() => { const l = [...document.querySelectorAll(".cm-line.rf-fired")].map(e => e.textContent).find(s => s.includes("recent_arrears")); return l; })()`))
	if !strings.HasPrefix(hl, "rule recent_arrears") {
		t.Fatalf("highlighted line %q", hl)
	}
	if out := os.Getenv("RISKFORGE_SCREENSHOT"); out != "" {
		png := within(t, ctx, "screenshot", chromedp.FullScreenshot(100))
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func mustFormat(t *testing.T, src string) []byte {
	f, err := lang.Parse("p.risk", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return lang.Format(f)
}
