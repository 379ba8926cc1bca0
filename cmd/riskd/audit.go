package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/riskforge/riskforge/audit"
	"github.com/riskforge/riskforge/internal/cli"
	"github.com/riskforge/riskforge/internal/gm"
)

const auditUsage = `Usage: riskd audit COMMAND ...

  riskd audit verify DIR [--pubkey FILE]          check framing, every chain link and every checkpoint
  riskd audit show DIR --request-id ID [--key F]  print the records of a request as JSON lines
  riskd audit tail DIR [-n 10] [-f] [--key F]     print the last records (and follow new ones)
  riskd audit verify-response --pubkey FILE --request FILE --response FILE --signature VALUE
                                                  check an X-Decision-Signature

Exit status: 0 when everything holds, 1 when something does not (the first
bad record or signature is named), 2 for usage errors. docs/AUDIT.md has
the details.
`

func auditCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, auditUsage)
		return exitOK
	case "verify":
		return auditVerifyCmd(args[1:], stdout, stderr)
	case "show":
		return auditShowCmd(args[1:], stdout, stderr, false)
	case "tail":
		return auditShowCmd(args[1:], stdout, stderr, true)
	case "verify-response":
		return verifyResponseCmd(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "riskd audit: unknown command %q\n\n%s", args[0], auditUsage)
	return exitUsage
}

// parseDirArgs parses flags that may come before or after the one DIR
// argument.
func parseDirArgs(fs *flag.FlagSet, args []string, stdout io.Writer) (string, int, bool) {
	dir := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	if code, ok := cli.Parse(fs, args, stdout); !ok {
		return "", code, false
	}
	rest := fs.Args()
	if dir == "" && len(rest) > 0 {
		dir, rest = rest[0], rest[1:]
	}
	if dir == "" || len(rest) > 0 {
		fmt.Fprintf(fs.Output(), "%s: give exactly one audit directory\n", fs.Name())
		return "", exitUsage, false
	}
	return dir, exitOK, true
}

func auditVerifyCmd(args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("riskd audit verify", "DIR", `Check the audit log in DIR: the length and CRC-32C of every record, every
chain link h_i = SM3(h_{i-1} || record_i), and the SM2 signature and head
hash of every checkpoint. Exit 0 when all hold, 1 naming the first bad
record and why.`, stderr)
	pubFile := fs.String("pubkey", "", "SM2 public key `file` (PEM key or certificate) the checkpoints must be signed with (default: "+audit.PublicKeyFile+" in DIR, which an attacker could replace)")
	dir, code, ok := parseDirArgs(fs, args, stdout)
	if !ok {
		return code
	}
	var pub *gm.PublicKey
	if *pubFile != "" {
		p, err := gm.LoadPublicKey(*pubFile)
		if err != nil {
			fmt.Fprintf(stderr, "riskd audit verify: %v\n", err)
			return exitUsage
		}
		pub = p
	}
	rep, err := audit.Verify(dir, pub)
	if err != nil {
		fmt.Fprintf(stdout, "FAIL %s: %v\n", dir, err)
		return exitError
	}
	fmt.Fprintf(stdout, "ok %s: %d records (from %d) in %d segments, every chain link holds; %d checkpoints verified, the newest covers %d records; head %s\n",
		dir, rep.Records, rep.First, rep.Segments, rep.Checkpoints, rep.Covered, rep.Head)
	for _, n := range rep.Notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	return exitOK
}

// keyFiles is a repeatable --key flag.
type keyFiles []string

func (k *keyFiles) String() string     { return strings.Join(*k, ",") }
func (k *keyFiles) Set(v string) error { *k = append(*k, v); return nil }

// line is one record printed by show and tail.
type line struct {
	Index     uint64          `json:"index"`
	Time      time.Time       `json:"time"`
	RequestID string          `json:"request_id"`
	Segment   string          `json:"segment"`
	Offset    int64           `json:"offset"`
	Hash      audit.Hash      `json:"hash"`
	Prev      audit.Hash      `json:"prev"`
	Sealed    bool            `json:"sealed,omitempty"`
	KeyID     string          `json:"key_id,omitempty"`
	Record    json.RawMessage `json:"record,omitempty"`
	// Dictionary is a dictionary record's body (the constants of a
	// policy version that the decision records after it refer to).
	Dictionary json.RawMessage `json:"dictionary,omitempty"`
	// Error says why a record could not be shown in full.
	Error string `json:"error,omitempty"`
}

// toLine prints a record in full: a compact (format 2) decision is
// expanded with its dictionary into the same view a format 1 JSON record
// holds.
func toLine(it *audit.Item) line {
	l := line{Index: it.Index, Time: it.Time, RequestID: it.RequestID, Segment: it.Segment, Offset: it.Offset,
		Hash: it.Hash, Prev: it.Prev, Sealed: it.Sealed, KeyID: it.KeyIDString()}
	switch {
	case it.Body == nil:
	case it.IsDict:
		if json.Valid(it.Body) {
			l.Dictionary = it.Body
		}
	case !audit.IsCompact(it.Body):
		if json.Valid(it.Body) {
			l.Record = it.Body
		}
	default:
		d, err := it.Decision()
		if err == nil {
			l.Record, err = json.Marshal(d)
		}
		if err != nil {
			l.Error = err.Error()
		}
	}
	return l
}

func auditShowCmd(args []string, stdout, stderr io.Writer, tail bool) int {
	name, about := "riskd audit show", `Print the records of one request (all of them: a request id can be reused)
as JSON lines. Sealed records are decrypted with --key; without it their
header is printed and "sealed" is true.`
	if tail {
		name, about = "riskd audit tail", `Print the last N records as JSON lines; with -f keep printing new records
as riskd writes them (follows new segments) until interrupted.`
	}
	fs := cli.NewFlagSet(name, "DIR", about, stderr)
	var keys keyFiles
	fs.Var(&keys, "key", "SM4 key `file` to open sealed records (repeat for rotated keys)")
	rid := fs.String("request-id", "", "the request `id` to show")
	n := fs.Int("n", 10, "how many of the last records to print")
	follow := fs.Bool("f", false, "follow: print new records as they are written")
	dir, code, ok := parseDirArgs(fs, args, stdout)
	if !ok {
		return code
	}
	if !tail && *rid == "" {
		fmt.Fprintln(stderr, "riskd audit show: --request-id ID is required")
		return exitUsage
	}
	var kr *audit.Keyring
	if len(keys) > 0 {
		var ks []gm.SM4Key
		for _, f := range keys {
			k, err := gm.LoadSM4Key(f)
			if err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", name, err)
				return exitUsage
			}
			ks = append(ks, k)
		}
		kr, _ = audit.NewKeyring(ks...)
	}
	enc := json.NewEncoder(stdout)
	if !tail {
		found := 0
		err := audit.Scan(dir, kr, func(it *audit.Item) error {
			if it.RequestID == *rid {
				found++
				return enc.Encode(toLine(it))
			}
			return nil
		})
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitError
		}
		if found == 0 {
			fmt.Fprintf(stderr, "%s: no record of request %q in %s\n", name, *rid, dir)
			return exitError
		}
		return exitOK
	}
	var ring []line
	var next uint64
	err := audit.Scan(dir, kr, func(it *audit.Item) error {
		ring = append(ring, toLine(it))
		if len(ring) > *n {
			ring = ring[1:]
		}
		next = it.Index + 1
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitError
	}
	for _, l := range ring {
		enc.Encode(l)
	}
	if !*follow {
		return exitOK
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = audit.Follow(ctx, dir, kr, next, 200*time.Millisecond, func(it *audit.Item) error { return enc.Encode(toLine(it)) })
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitError
	}
	return exitOK
}

func verifyResponseCmd(args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("riskd audit verify-response", "", `Check an X-Decision-Signature: an SM2 signature (UID 1234567812345678) over
SM3(SM3(request body) || response body) by the key riskd serves at
/.well-known/riskd/decision-key.pem.`, stderr)
	pubFile := fs.String("pubkey", "", "the decision signing public key `file` (PEM)")
	reqFile := fs.String("request", "", "`file` holding the request body exactly as sent")
	respFile := fs.String("response", "", "`file` holding the response body exactly as received")
	sigHdr := fs.String("signature", "", "the X-Decision-Signature header `value`")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *pubFile == "" || *reqFile == "" || *respFile == "" || *sigHdr == "" {
		fmt.Fprintln(stderr, "riskd audit verify-response: --pubkey, --request, --response and --signature are required")
		return exitUsage
	}
	pub, err := gm.LoadPublicKey(*pubFile)
	if err != nil {
		fmt.Fprintf(stderr, "riskd audit verify-response: %v\n", err)
		return exitUsage
	}
	req, err := os.ReadFile(*reqFile)
	if err == nil {
		var resp []byte
		if resp, err = os.ReadFile(*respFile); err == nil {
			return checkResponse(pub, req, resp, *sigHdr, stdout)
		}
	}
	fmt.Fprintf(stderr, "riskd audit verify-response: %v\n", err)
	return exitUsage
}

func checkResponse(pub *gm.PublicKey, req, resp []byte, hdr string, stdout io.Writer) int {
	id, sig, err := gm.ParseSignatureHeader(hdr)
	if err != nil {
		fmt.Fprintf(stdout, "FAIL: the signature header: %v\n", err)
		return exitError
	}
	if want := gm.KeyID(pub); id != want {
		fmt.Fprintf(stdout, "FAIL: signed by key %s, the given key is %s\n", id, want)
		return exitError
	}
	d := gm.DecisionDigest(req, resp)
	if !gm.Verify(pub, d[:], sig) {
		fmt.Fprintln(stdout, "FAIL: the signature does not verify over this request and response")
		return exitError
	}
	fmt.Fprintf(stdout, "ok: the response is signed by key %s\n", id)
	return exitOK
}
