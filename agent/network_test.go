package agent_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/agenttest"
)

// connectProxy is an HTTPS proxy: it answers CONNECT host:port by dialling
// the address route names for it (or host:port itself) and relaying bytes.
type connectProxy struct {
	URL   string
	mu    sync.Mutex
	seen  []string
	route map[string]string
}

func newConnectProxy(t *testing.T, route map[string]string) *connectProxy {
	t.Helper()
	p := &connectProxy{route: route}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		p.mu.Lock()
		p.seen = append(p.seen, r.Host)
		addr := r.Host
		if to, ok := p.route[r.Host]; ok {
			addr = to
		}
		p.mu.Unlock()
		upstream, err := net.Dial("tcp", addr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			upstream.Close()
			return
		}
		conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		go func() {
			io.Copy(upstream, buf.Reader)
			upstream.Close()
		}()
		io.Copy(conn, upstream)
		conn.Close()
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	p.URL = srv.URL
	return p
}

func (p *connectProxy) targets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func tlsConfig(t *testing.T, srv *agenttest.Server) agent.Config {
	t.Helper()
	cfg := testConfig(t, srv)
	cfg.CAFile = writeFile(t, "ca.pem", srv.CertificatePEM())
	return cfg
}

func TestThroughAnHTTPSProxy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup points cfg at the server through the proxy; it returns
		// the environment and the CONNECT target the proxy must see.
		setup func(cfg *agent.Config, srv *agenttest.Server, proxy *connectProxy) (map[string]string, string)
	}{
		{"proxy_url", func(cfg *agent.Config, srv *agenttest.Server, proxy *connectProxy) (map[string]string, string) {
			cfg.ProxyURL = proxy.URL
			return nil, srv.Addr()
		}},
		{"HTTPS_PROXY", func(cfg *agent.Config, srv *agenttest.Server, proxy *connectProxy) (map[string]string, string) {
			// A gateway name only the proxy can resolve (the server's
			// certificate is valid for example.com).
			_, port, _ := net.SplitHostPort(srv.Addr())
			cfg.ServerURL = "wss://example.com:" + port + "/prod"
			proxy.route["example.com:"+port] = srv.Addr()
			return map[string]string{"HTTPS_PROXY": proxy.URL, "NO_PROXY": "localhost,.internal"}, "example.com:" + port
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := agenttest.NewTLSServer(testTerminal, testToken, nil)
			t.Cleanup(srv.Close)
			proxy := newConnectProxy(t, map[string]string{})
			cfg := tlsConfig(t, srv)
			environment, target := tt.setup(&cfg, srv, proxy)
			a := newAgent(t, cfg, agent.WithGetenv(env(environment)))
			start(t, a)
			for i := 1; i <= 20; i++ {
				a.Log("info", lineMsg(i), "test")
			}
			waitDelivered(t, srv, a, 20)
			checkExactlyOnce(t, srv, 20, lineMsg)
			if got := proxy.targets(); len(got) == 0 || got[0] != target {
				t.Errorf("proxy saw CONNECT %v, want %s", got, target)
			}
		})
	}
}

func TestServerCertificateMustBeTrusted(t *testing.T) {
	t.Parallel()
	srv := agenttest.NewTLSServer(testTerminal, testToken, nil)
	t.Cleanup(srv.Close)
	cfg := testConfig(t, srv) // no ca_file: the test certificate is unknown
	a := newAgent(t, cfg)
	start(t, a)
	waitFor(t, srv, "several refused attempts", func(agenttest.View) bool { return a.Stats().Dials >= 3 })
	srv.Inspect(func(v agenttest.View) {
		if v.Connections() != 0 || len(v.Authorizations()) != 0 {
			t.Errorf("%d connections and %d handshakes with an untrusted certificate", v.Connections(), len(v.Authorizations()))
		}
	})
}

func TestClientCertificate(t *testing.T) {
	t.Parallel()
	pool, certPEM, keyPEM := clientCertificate(t)
	tests := []struct {
		name    string
		withKey bool
	}{
		{"presented", true},
		{"missing", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := agenttest.NewTLSServer(testTerminal, testToken, pool)
			t.Cleanup(srv.Close)
			cfg := tlsConfig(t, srv)
			if tt.withKey {
				cfg.ClientCertFile = writeFile(t, "client.pem", certPEM)
				cfg.ClientKeyFile = writeFile(t, "client.key", keyPEM)
			}
			a := newAgent(t, cfg)
			start(t, a)
			if tt.withKey {
				a.Log("info", lineMsg(1), "test")
				waitDelivered(t, srv, a, 1)
				return
			}
			waitFor(t, srv, "several refused attempts", func(agenttest.View) bool { return a.Stats().Dials >= 3 })
			srv.Inspect(func(v agenttest.View) {
				if v.Connections() != 0 {
					t.Errorf("%d connections without a client certificate", v.Connections())
				}
			})
		})
	}
}

// clientCertificate makes a CA and a client certificate it signed.
func clientCertificate(t *testing.T) (*x509.CertPool, []byte, []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test gateway CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: testTerminal},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func TestCheckFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := writeFile(t, "empty", nil)
	notPEM := writeFile(t, "ca.pem", []byte("not a certificate"))
	cfg := agent.DefaultConfig()
	cfg.TerminalID, cfg.ServerURL, cfg.SpoolDir = "T-1", "wss://h/p", dir
	cfg.TokenFile = filepath.Join(dir, "missing-token")
	cfg.CAFile = notPEM
	cfg.ClientCertFile, cfg.ClientKeyFile = empty, empty
	err := cfg.CheckFiles()
	for _, want := range []string{"token_file:", "missing-token", "ca_file:", "no PEM certificate", "client_cert_file:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckFiles() = %v, want it to mention %q", err, want)
		}
	}
}
