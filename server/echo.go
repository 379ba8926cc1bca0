package server

import (
	"strconv"
	"unicode/utf8"
)

// Values a client sends are echoed in error bodies and logs so that the
// client sees what was refused, but only so much of them: a 60 KB header
// must not become a 60 KB error body and log line.
const (
	maxEchoValue = 64   // bytes of one echoed value (a header, a name)
	maxErrorMsg  = 1024 // bytes of a whole error message
)

// clip shortens s to about n bytes (on a rune boundary), saying how long
// it was.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

// echo is a client value ready to be quoted in a message.
func echo(s string) string { return clip(s, maxEchoValue) }
