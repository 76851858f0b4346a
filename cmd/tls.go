package cmd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/rules"
)

func tlsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "tls-cert", TakesFile: true, Usage: "serve TLS (wss://, https://) with this PEM certificate chain `FILE` (with --tls-key)"},
		&cli.StringFlag{Name: "tls-key", TakesFile: true, Usage: "PEM private key `FILE` for --tls-cert"},
		&cli.BoolFlag{Name: "tls-self-signed", Usage: "serve TLS with a throwaway self-signed certificate for localhost (prints its fingerprint)"},
	}
}

// backendTLSFlags are how backends' certificates are trusted: serve and
// check --dial read them alike.
func backendTLSFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "backend-ca", TakesFile: true, Usage: "PEM `FILE` of CA certificates trusted for wss:// and https:// backends, besides the system's (SSLProxyCACertificateFile)"},
		&cli.BoolFlag{Name: "backend-insecure-skip-verify", Usage: "do NOT verify backend TLS certificates (SSLProxyVerify none): anyone on the path can read the traffic"},
	}
}

// listenerTLS returns the TLS configuration for the listeners, or nil for
// plain HTTP: the flags win over the rules file's SSLEngine lines. note is
// a line to print for the user (the fingerprint of a self-signed
// certificate), or "".
func listenerTLS(cmd *cli.Command, files rules.TLSFiles) (cfg *tls.Config, note string, err error) {
	cert, key := cmd.String("tls-cert"), cmd.String("tls-key")
	var where string
	switch {
	case cmd.Bool("tls-self-signed"):
		if cert != "" || key != "" {
			return nil, "", usagef("--tls-self-signed makes its own certificate: drop --tls-cert and --tls-key")
		}
		c, err := selfSigned(time.Now())
		if err != nil {
			return nil, "", fmt.Errorf("make a self-signed certificate: %w", err)
		}
		sum := sha256.Sum256(c.Certificate[0])
		note = "wsgate: self-signed certificate for localhost, 127.0.0.1 and ::1, SHA-256 fingerprint " + colonHex(sum[:])
		return serverTLS(c), note, nil
	case cert != "" || key != "":
		if cert == "" || key == "" {
			return nil, "", usagef("--tls-cert and --tls-key go together")
		}
		where = "--tls-cert"
	case files.CertFile != "":
		cert, key, where = files.CertFile, files.KeyFile, files.Pos.String()
	default:
		return nil, "", nil
	}
	c, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, "", usagef("%s: load certificate %s and key %s: %w", where, cert, key, err)
	}
	return serverTLS(c), "", nil
}

func serverTLS(c tls.Certificate) *tls.Config {
	// HTTP/1.1 only: a WebSocket upgrade is an HTTP/1.1 affair here.
	return &tls.Config{Certificates: []tls.Certificate{c}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
}

// selfSigned makes a short-lived certificate for local wss:// testing.
func selfSigned(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"wsgate self-signed"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":")
}

// backendTLSConfig is the TLS configuration for wss:// and https://
// backends: the rules file's SSLProxy* lines, then the flags. Nil means Go's
// defaults: system roots, verification and the peer name check on.
func backendTLSConfig(cmd *cli.Command, b rules.BackendTLS) (*tls.Config, error) {
	caFile := cmd.String("backend-ca")
	where := "--backend-ca"
	if caFile == "" && b.CAFile != "" {
		caFile, where = b.CAFile, "SSLProxyCACertificateFile"
	}
	noVerify := b.NoVerify || cmd.Bool("backend-insecure-skip-verify")
	if caFile == "" && !noVerify && !b.NoCheckPeerName {
		return nil, nil
	}
	cfg := &tls.Config{}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usagef("%s: %w", where, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("%s %s: no PEM certificate found", where, caFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case noVerify:
		cfg.InsecureSkipVerify = true
	case b.NoCheckPeerName:
		// SSLProxyCheckPeerName off: the chain must still verify, only the
		// name may differ. Go verifies both or neither, so verify the
		// chain here.
		cfg.InsecureSkipVerify = true
		roots := cfg.RootCAs
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return cfg, nil
}
