// Package guard provides HTTP middleware that keeps a local development
// server local: a Host-header check against DNS rebinding, a cross-origin
// check for browser requests, and panic recovery.
//
// A Genkit runtime runs code on request. Bound to loopback it is out of
// reach of other machines, but a web page in the developer's browser can
// still send it requests: directly (a cross-origin request, refused by
// [Origins]) or through a DNS name rebound to 127.0.0.1 (refused by
// [Hosts]). Each middleware is a func(http.Handler) http.Handler, composed
// around the handler it protects.
package guard

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/genkit-runtime/genkit-runtime/status"
)

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// Chain composes middleware: Chain(a, b)(h) is a(b(h)), so a sees the
// request first.
func Chain(ms ...Middleware) Middleware {
	return func(h http.Handler) http.Handler {
		for i := len(ms) - 1; i >= 0; i-- {
			h = ms[i](h)
		}
		return h
	}
}

// LoopbackHosts are the Host names a loopback server answers to by default.
var LoopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// IsLoopback reports whether host, an IP address or a name, is a loopback
// address: "localhost", 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Hosts refuses, with 403, requests whose Host header (port ignored) is not
// one of allowed. "*" in allowed accepts any host.
func Hosts(allowed []string) Middleware {
	any := slices.Contains(allowed, "*")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !any && !slices.Contains(allowed, hostname(r.Host)) {
				deny(w, fmt.Sprintf("host %q is not allowed", r.Host))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// hostname strips the port and IPv6 brackets from a Host header value.
func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.ToLower(h)
	}
	return strings.ToLower(strings.Trim(hostport, "[]"))
}

// OriginPolicy decides which browser origins may call the server.
type OriginPolicy struct {
	exact    []string
	patterns []*regexp.Regexp
}

// DefaultOrigins allows http://localhost and http://127.0.0.1 on any port,
// the origins the Genkit Developer UI is served from.
func DefaultOrigins() *OriginPolicy {
	return &OriginPolicy{patterns: []*regexp.Regexp{
		regexp.MustCompile(`^http://localhost(:\d+)?$`),
		regexp.MustCompile(`^http://127\.0\.0\.1(:\d+)?$`),
		regexp.MustCompile(`^http://\[::1\](:\d+)?$`),
	}}
}

// NewOriginPolicy allows exactly the given origins ("scheme://host[:port]").
// An origin ending in ":*" allows any port.
func NewOriginPolicy(origins []string) (*OriginPolicy, error) {
	p := &OriginPolicy{}
	for _, o := range origins {
		if base, ok := strings.CutSuffix(o, ":*"); ok {
			if _, err := url.Parse(base); err != nil {
				return nil, fmt.Errorf("origin %q: %w", o, err)
			}
			p.patterns = append(p.patterns, regexp.MustCompile("^"+regexp.QuoteMeta(base)+`(:\d+)?$`))
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("origin %q: want scheme://host[:port]", o)
		}
		p.exact = append(p.exact, strings.TrimSuffix(o, "/"))
	}
	return p, nil
}

// Allowed reports whether origin may call the server.
func (p *OriginPolicy) Allowed(origin string) bool {
	if slices.Contains(p.exact, origin) {
		return true
	}
	for _, re := range p.patterns {
		if re.MatchString(origin) {
			return true
		}
	}
	return false
}

// Origins refuses, with 403, browser requests from origins p does not
// allow. A request is a browser's cross-site request when it carries an
// Origin header, or Sec-Fetch-Site "cross-site"; clients that send neither
// (the Genkit CLI, curl) pass.
func Origins(p *OriginPolicy) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			switch {
			case origin != "":
				if !p.Allowed(origin) {
					deny(w, fmt.Sprintf("origin %q is not allowed", origin))
					return
				}
			case r.Header.Get("Sec-Fetch-Site") == "cross-site":
				deny(w, "cross-site requests are not allowed")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Recover turns a panic in a handler into a 500 with a Status body (when
// nothing was written yet) and logs it, so one bad request never takes the
// server down. logger may be nil.
func Recover(logger *slog.Logger) Middleware {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				p := recover()
				if p == nil || p == http.ErrAbortHandler {
					if p != nil {
						panic(p)
					}
					return
				}
				logger.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if err := status.WriteHTTP(w, http.StatusInternalServerError, status.Status{Code: status.Internal, Message: "INTERNAL: the server failed to handle the request"}); err != nil {
					logger.Debug("panic answer not sent", "path", r.URL.Path, "err", err)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// deny answers 403 with a PERMISSION_DENIED Status. A failed write means
// the client has gone; there is nobody left to tell.
func deny(w http.ResponseWriter, msg string) {
	_ = status.WriteHTTP(w, http.StatusForbidden, status.Status{Code: status.PermissionDenied, Message: "PERMISSION_DENIED: " + msg})
}
