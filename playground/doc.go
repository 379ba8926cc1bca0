// Package playground is riskd's policy playground: one page at /ui with a
// policy editor (CodeMirror 6, bundled into the binary) and the JSON
// endpoints behind it, which run the real checker, printer and VM on the
// text typed in the page: live diagnostics, Format, and Run — a decision
// with its fired rules, model and window values, parameters and the step
// trace mapped to source lines — with an optional window history replayed
// first so velocity rules can be tried.
//
// Nothing typed in the page changes what riskd serves: every run compiles
// a private copy into a fresh VM with its own in-memory windows, and list
// files are read only from the policies riskd already serves (never from
// a path the page names). Models are not run: a model call reads its
// on_error value and the decision says it is degraded. The endpoints are
// size-, rate- and concurrency-limited, and refuse when the UI is off.
package playground
