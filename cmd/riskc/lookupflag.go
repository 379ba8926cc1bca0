package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/vm"
)

// lookupFlags is the repeatable --lookup NAME=FILE flag of eval and
// train: the snapshot a lookup's fields are read from in a replay.
type lookupFlags []string

const lookupUsage = "read lookup `NAME`'s records from a snapshot FILE (NAME=FILE, CSV or JSON Lines; repeatable): docs/LANGUAGE.md section 4.4b"

func (l *lookupFlags) String() string { return strings.Join(*l, " ") }

func (l *lookupFlags) Set(v string) error {
	if _, _, err := dataset.ParseLookupSpec(v); err != nil {
		return err
	}
	*l = append(*l, v)
	return nil
}

// args renders the flags again, for a command line to copy.
func (l lookupFlags) args() string {
	var b strings.Builder
	for _, s := range l {
		b.WriteString(" --lookup " + s)
	}
	return b.String()
}

// openLookups reads the snapshots for prog; nil when the policy declares
// no lookup and none is given.
func openLookups(prog *vm.Program, specs lookupFlags) (*dataset.Lookups, error) {
	if len(prog.Lookups) == 0 && len(specs) == 0 {
		return nil, nil
	}
	return dataset.OpenLookups(prog, specs)
}

// printLookups says per lookup how many rows found a record, and warns
// about a lookup no row found anything for without a snapshot: every
// row read it absent, which is not what serving saw.
func printLookups(stdout, stderr io.Writer, cmd string, l *dataset.Lookups) {
	if l == nil {
		return
	}
	counts := l.Counts()
	if len(counts) > 0 {
		fmt.Fprintln(stdout)
	}
	for _, c := range counts {
		share := 0.0
		if c.Rows > 0 {
			share = 100 * float64(c.Found) / float64(c.Rows)
		}
		from := "in " + c.File
		if c.File == "" {
			from = "with " + c.Name + ".* values in the data"
		}
		fmt.Fprintf(stdout, "lookup %-14s %d of %d rows found a record (%.1f%%) %s\n", c.Name, c.Found, c.Rows, share, from)
		if c.File == "" && c.Found == 0 && c.Rows > 0 {
			fmt.Fprintf(stderr, "riskc %s: warning: lookup %s has no --lookup file and the data no %s.* values: every row reads it absent, unlike serving (give --lookup %s=FILE)\n", cmd, c.Name, c.Name, c.Name)
		}
	}
}
