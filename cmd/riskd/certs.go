package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/riskforge/riskforge/internal/gm"
)

func certsCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("certs", `Generate a test SM2 PKI in DIR: a CA (ca.pem, ca.key), the GM TLS sign and
enc certificates issued by it (sign.pem/sign.key, enc.pem/enc.key), an SM2
key pair for checkpoint and decision signatures (signing.key, signing.pub)
and an SM4 key for sealing audit records (audit.sm4). Keys are unencrypted:
for tests and evaluation, not production. Existing files are not
overwritten.`, stderr)
	dir := fs.String("dir", "", "output `directory` (created when missing)")
	hosts := fs.String("hosts", "localhost,127.0.0.1", "comma-separated `names` and IPs the certificates are valid for")
	days := fs.Int("days", 365, "validity in `days`")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *dir == "" || *days < 1 {
		fmt.Fprintln(stderr, "riskd certs: --dir DIR is required and --days must be at least 1")
		return exitUsage
	}
	var hs []string
	for h := range strings.SplitSeq(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	if err := gm.WriteTestPKI(*dir, hs, time.Duration(*days)*24*time.Hour); err != nil {
		fmt.Fprintf(stderr, "riskd certs: %v\n", err)
		return exitError
	}
	p := gm.TestPKI
	fmt.Fprintf(stdout, "wrote %s: %s %s (CA), %s %s (GM sign), %s %s (GM enc), %s %s (signatures), %s (SM4)\n",
		*dir, p.CACert, p.CAKey, p.SignCert, p.SignKey, p.EncCert, p.EncKey, p.SigningKey, p.SigningPub, p.SM4Key)
	return exitOK
}
