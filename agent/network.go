package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// tlsConfig builds the TLS configuration of the server connection from
// ca_file and the client certificate, reading the files (they may be
// replaced while the agent runs; each connection attempt reads them).
func (c Config) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	var errs []error
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			errs = append(errs, &fieldError{"ca_file", err.Error()})
		} else {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				errs = append(errs, &fieldError{"ca_file", fmt.Sprintf("%s holds no PEM certificate", c.CAFile)})
			}
			cfg.RootCAs = pool
		}
	}
	if c.ClientCertFile != "" && c.ClientKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.ClientCertFile, c.ClientKeyFile)
		if err != nil {
			errs = append(errs, &fieldError{"client_cert_file", fmt.Sprintf("load client certificate and key: %v", err)})
		} else {
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	return cfg, errors.Join(errs...)
}

// httpClient returns the client for a WebSocket handshake with cfg: the
// one given with WithHTTPClient, or one with cfg's TLS settings and proxy.
func (a *Agent) httpClient(cfg Config) (*http.Client, error) {
	if a.opts.httpClient != nil {
		return a.opts.httpClient, nil
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	getenv := a.opts.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:               proxyFunc(cfg.ProxyURL, getenv),
		DialContext:         (&net.Dialer{Timeout: cfg.WebSocketTimeout.Duration(), KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: cfg.WebSocketTimeout.Duration(),
		ForceAttemptHTTP2:   false, // WebSocket upgrades are HTTP/1.1
	}}, nil
}

// proxyFunc chooses the proxy of a handshake: none for ws:// (plain: a
// proxy would see the token), proxyURL when set, else the HTTPS_PROXY and
// NO_PROXY environment variables.
func proxyFunc(proxyURL string, getenv func(string) string) func(*http.Request) (*url.URL, error) {
	return func(req *http.Request) (*url.URL, error) {
		if req.URL.Scheme != "https" && req.URL.Scheme != "wss" {
			return nil, nil
		}
		if proxyURL != "" {
			return url.Parse(proxyURL)
		}
		return envProxy(getenv, req.URL)
	}
}

// envProxy applies HTTPS_PROXY (or https_proxy) and NO_PROXY (or no_proxy)
// to u the way Go's net/http and curl do: never for localhost or a
// loopback address; NO_PROXY lists "*", host names (matching the name and
// its subdomains; a leading "." or "*." only the subdomains), IP addresses
// and CIDR ranges, each optionally with a port.
func envProxy(getenv func(string) string, u *url.URL) (*url.URL, error) {
	proxy := firstEnv(getenv, "HTTPS_PROXY", "https_proxy")
	if proxy == "" {
		return nil, nil
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" {
		return nil, nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil, nil
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	if noProxy(firstEnv(getenv, "NO_PROXY", "no_proxy"), host, port) {
		return nil, nil
	}
	if !strings.Contains(proxy, "://") {
		proxy = "http://" + proxy
	}
	p, err := url.Parse(proxy)
	if err != nil || p.Host == "" {
		return nil, fmt.Errorf("HTTPS_PROXY %q is not a URL", proxy)
	}
	return p, nil
}

func firstEnv(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// noProxy reports whether the NO_PROXY list exempts host:port.
func noProxy(list, host, port string) bool {
	ip := net.ParseIP(host)
	for _, entry := range strings.Split(strings.ToLower(list), ",") {
		entry = strings.TrimSpace(entry)
		switch {
		case entry == "":
			continue
		case entry == "*":
			return true
		}
		if _, cidr, err := net.ParseCIDR(entry); err == nil {
			if ip != nil && cidr.Contains(ip) {
				return true
			}
			continue
		}
		eHost, ePort := entry, ""
		if h, p, err := net.SplitHostPort(entry); err == nil {
			eHost, ePort = h, p
		}
		if ePort != "" && ePort != port {
			continue
		}
		if eIP := net.ParseIP(strings.Trim(eHost, "[]")); eIP != nil {
			if ip != nil && eIP.Equal(ip) {
				return true
			}
			continue
		}
		eHost = strings.TrimPrefix(eHost, "*")
		if strings.HasPrefix(eHost, ".") {
			if strings.HasSuffix(host, eHost) {
				return true
			}
			continue
		}
		if host == eHost || strings.HasSuffix(host, "."+eHost) {
			return true
		}
	}
	return false
}
