package gm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/tjfoc/gmsm/gmtls"
	"github.com/tjfoc/gmsm/x509"
)

// Cipher suites of GM/T 0024. The server offers only SuiteECCSM4SM3:
// gmtls v1.4.1 leaves the ECDHE suite unimplemented (a bare panic).
const (
	SuiteECDHESM4SM3 uint16 = gmtls.GMTLS_ECDHE_SM2_WITH_SM4_SM3 // 0xE011, panics in gmtls
	SuiteECCSM4SM3   uint16 = gmtls.GMTLS_SM2_WITH_SM4_SM3       // 0xE013
	// VersionGMTLS is GM/T 0024's protocol version, 0x0101.
	VersionGMTLS uint16 = gmtls.VersionGMSSL
)

// ServerFiles names the GM TLS server's certificates and keys (PEM).
type ServerFiles struct {
	SignCert, SignKey, EncCert, EncKey string
}

// ServerConfig loads the sign and enc key pairs and returns a GM-only
// server configuration offering ECC_SM4_CBC_SM3 alone.
func ServerConfig(f ServerFiles) (*gmtls.Config, error) {
	sign, err := gmtls.LoadX509KeyPair(f.SignCert, f.SignKey)
	if err != nil {
		return nil, fmt.Errorf("GM sign certificate %s / %s: %w", f.SignCert, f.SignKey, err)
	}
	enc, err := gmtls.LoadX509KeyPair(f.EncCert, f.EncKey)
	if err != nil {
		return nil, fmt.Errorf("GM enc certificate %s / %s: %w", f.EncCert, f.EncKey, err)
	}
	return &gmtls.Config{
		GMSupport:    gmtls.NewGMSupport(),
		Certificates: []gmtls.Certificate{sign, enc}, // order matters: sign, then enc
		CipherSuites: []uint16{SuiteECCSM4SM3},
	}, nil
}

// ClientConfig returns a GM TLS client configuration trusting the CA
// certificates in caFile for serverName. suites nil offers ECC_SM4_CBC_SM3.
func ClientConfig(caFile, serverName string, suites []uint16) (*gmtls.Config, error) {
	pool := x509.NewCertPool()
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	if suites == nil {
		suites = []uint16{SuiteECCSM4SM3}
	}
	return &gmtls.Config{GMSupport: gmtls.NewGMSupport(), RootCAs: pool, ServerName: serverName, CipherSuites: suites}, nil
}

// ConnState is what a handler can learn about a GM TLS connection (the
// standard http.Request.TLS is nil on them).
type ConnState struct {
	Version     uint16
	CipherSuite uint16
	ServerName  string
}

type connKey struct{}

// Listener accepts GM TLS connections whose handshakes can neither panic
// the process nor print to stdout unnoticed: each handshake runs under
// recover, and a failed or panicking handshake is reported to OnError and
// the connection closed.
type Listener struct {
	net.Listener
	cfg *gmtls.Config
	// OnError receives handshake failures (remote address, error).
	OnError func(remote string, err error)
	// HandshakeTimeout bounds a handshake (default 10s).
	HandshakeTimeout time.Duration
}

// NewListener wraps inner: Accept returns GM TLS server connections.
func NewListener(inner net.Listener, cfg *gmtls.Config) *Listener {
	return &Listener{Listener: inner, cfg: cfg, HandshakeTimeout: 10 * time.Second}
}

// Accept returns the next connection; its handshake runs on first use.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: gmtls.Server(c, l.cfg), raw: c, l: l}, nil
}

// Conn is a GM TLS server connection with a panic-safe handshake.
type Conn struct {
	*gmtls.Conn
	raw  net.Conn
	l    *Listener
	once sync.Once
	err  error
}

// Handshake runs the GM TLS handshake once; a panic in gmtls becomes an
// error.
func (c *Conn) Handshake() error {
	c.once.Do(func() {
		if c.l.HandshakeTimeout > 0 {
			c.raw.SetDeadline(time.Now().Add(c.l.HandshakeTimeout))
			defer c.raw.SetDeadline(time.Time{})
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					c.err = fmt.Errorf("GM TLS handshake panicked in gmtls (%v); connection closed", p)
				}
			}()
			c.err = c.Conn.Handshake()
		}()
		if c.err != nil {
			c.raw.Close()
			if c.l.OnError != nil {
				c.l.OnError(c.raw.RemoteAddr().String(), c.err)
			}
		}
	})
	return c.err
}

// Read completes the handshake, then reads.
func (c *Conn) Read(b []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// Write completes the handshake, then writes.
func (c *Conn) Write(b []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// State returns the negotiated parameters (zero before the handshake).
func (c *Conn) State() ConnState {
	if c.Handshake() != nil {
		return ConnState{}
	}
	st := c.Conn.ConnectionState()
	return ConnState{Version: st.Version, CipherSuite: st.CipherSuite, ServerName: st.ServerName}
}

// ConnContext is an http.Server.ConnContext that carries a GM connection
// so handlers can reach its state with StateFrom.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if gc, ok := c.(*Conn); ok {
		return context.WithValue(ctx, connKey{}, gc)
	}
	return ctx
}

// StateFrom returns the GM TLS state of the request's connection.
func StateFrom(ctx context.Context) (ConnState, bool) {
	gc, ok := ctx.Value(connKey{}).(*Conn)
	if !ok {
		return ConnState{}, false
	}
	return gc.State(), true
}

// Dial opens a GM TLS client connection, turning a panic in gmtls into an
// error.
func Dial(ctx context.Context, addr string, cfg *gmtls.Config) (c net.Conn, err error) {
	d := &net.Dialer{}
	if dl, ok := ctx.Deadline(); ok {
		d.Deadline = dl
	}
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("GM TLS handshake panicked in gmtls: %v", p)
		}
	}()
	return gmtls.DialWithDialer(d, "tcp", addr, cfg)
}

// ClientState returns the negotiated parameters of a client connection
// from Dial.
func ClientState(c net.Conn) (ConnState, error) {
	gc, ok := c.(*gmtls.Conn)
	if !ok {
		return ConnState{}, errors.New("not a GM TLS connection")
	}
	st := gc.ConnectionState()
	return ConnState{Version: st.Version, CipherSuite: st.CipherSuite, ServerName: st.ServerName}, nil
}

// PeerCertificateExpiry returns the NotAfter and subject of a client
// connection's server certificate.
func PeerCertificateExpiry(c net.Conn) (time.Time, string, bool) {
	gc, ok := c.(*gmtls.Conn)
	if !ok {
		return time.Time{}, "", false
	}
	st := gc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return time.Time{}, "", false
	}
	return st.PeerCertificates[0].NotAfter, st.PeerCertificates[0].Subject.CommonName, true
}

var stdoutOnce sync.Once

// RouteStdout sends what gmtls prints to stdout (it reports handshake
// errors with fmt.Println) to logLine, one call per line. It replaces
// os.Stdout for the whole process, so call it once at start, before any
// goroutine writes to stdout, and only in a program (riskd serve) that
// has nothing else to say there.
func RouteStdout(logLine func(string)) error {
	var err error
	stdoutOnce.Do(func() {
		var r, w *os.File
		r, w, err = os.Pipe()
		if err != nil {
			return
		}
		os.Stdout = w
		go func() {
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 4096), 1<<20)
			for sc.Scan() {
				logLine(sc.Text())
			}
		}()
	})
	return err
}
