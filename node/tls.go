package node

// This file builds the TLS configurations of the Swift and peer listeners
// and of the peer client from the certificate files named in the config.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tlsFiles names a PEM certificate (chain) and its private key; both empty
// means no TLS.
type tlsFiles struct {
	cert, key string
}

func (f tlsFiles) enabled() bool { return f.cert != "" || f.key != "" }

// validateTLS checks that cert and key come together; field is the YAML
// prefix ("swift", "cluster").
func validateTLS(add func(field, format string, args ...any), field string, f tlsFiles) {
	if (f.cert == "") != (f.key == "") {
		add(field+".tls_cert_file", "and %s.tls_key_file must be set together", field)
	}
}

// loadCAPool reads PEM certificates from path into a pool.
func loadCAPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// serverTLS is the TLS configuration of a listener serving f's certificate;
// with clientCA set, clients must present a certificate that it signed
// (mutual TLS). Errors name the field.
func serverTLS(field string, f tlsFiles, clientCA string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("node: %s.tls_cert_file/tls_key_file: %w", field, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"}}
	if clientCA != "" {
		pool, err := loadCAPool(clientCA)
		if err != nil {
			return nil, fmt.Errorf("node: %s.tls_ca_file: %w", field, err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// peerClientTLS is the TLS configuration of the peer client: it verifies
// the peers' certificates against cluster.tls_ca_file (the system roots
// when it is empty) and presents this node's certificate when one is
// configured (which a peer with tls_client_auth requires). nil when the
// cluster has no TLS settings at all.
func peerClientTLS(c *ClusterConfig) (*tls.Config, error) {
	f := c.tlsFiles()
	if !f.enabled() && c.TLSCAFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLSCAFile != "" {
		pool, err := loadCAPool(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("node: cluster.tls_ca_file: %w", err)
		}
		cfg.RootCAs = pool
	}
	if f.enabled() {
		cert, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("node: cluster.tls_cert_file/tls_key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// errClientAuthNeedsCA explains a tls_client_auth without its files.
var errClientAuthNeedsCA = errors.New("needs tls_ca_file, tls_cert_file and tls_key_file")
