package guard

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// counting is a handler that counts the requests that reach it.
func counting(n *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.WriteString(w, "ran")
	})
}

func checkDenied(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status = %d; want 403", rec.Code)
	}
	var st struct {
		Code    int            `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Code != 7 || st.Details == nil || st.Message == "" {
		t.Errorf("body = %s; want a PERMISSION_DENIED Status", rec.Body)
	}
}

func TestHosts(t *testing.T) {
	for _, tc := range []struct {
		host    string
		allowed []string
		ok      bool
	}{
		{"localhost:3100", LoopbackHosts, true},
		{"127.0.0.1:3100", LoopbackHosts, true},
		{"[::1]:3100", LoopbackHosts, true},
		{"LOCALHOST", LoopbackHosts, true},
		{"127.0.0.1", LoopbackHosts, true},
		{"evil.example", LoopbackHosts, false},
		{"evil.example:3100", LoopbackHosts, false},
		{"localhost.evil.example:3100", LoopbackHosts, false},
		{"", LoopbackHosts, false},
		{"dev.internal:80", append([]string{"dev.internal"}, LoopbackHosts...), true},
		{"anything:1", []string{"*"}, true},
	} {
		t.Run(tc.host, func(t *testing.T) {
			var n atomic.Int32
			h := Hosts(tc.allowed)(counting(&n))
			req := httptest.NewRequest("POST", "/api/runAction", nil)
			req.Host = tc.host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if tc.ok {
				if rec.Code != 200 || n.Load() != 1 {
					t.Errorf("status %d, handler ran %d times; want it served", rec.Code, n.Load())
				}
				return
			}
			checkDenied(t, rec)
			if n.Load() != 0 {
				t.Error("the handler ran for a refused host")
			}
		})
	}
}

func TestOrigins(t *testing.T) {
	custom, err := NewOriginPolicy([]string{"https://ui.example.com", "http://dev.example:*"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		policy *OriginPolicy
		origin string
		site   string
		ok     bool
	}{
		{"no origin (CLI, curl)", DefaultOrigins(), "", "", true},
		{"localhost any port", DefaultOrigins(), "http://localhost:4000", "", true},
		{"127.0.0.1", DefaultOrigins(), "http://127.0.0.1:9999", "", true},
		{"ipv6 loopback", DefaultOrigins(), "http://[::1]:4000", "", true},
		{"foreign site", DefaultOrigins(), "http://evil.example", "", false},
		{"https localhost is another origin", DefaultOrigins(), "https://localhost:4000", "", false},
		{"lookalike", DefaultOrigins(), "http://localhost.evil.example", "", false},
		{"null origin", DefaultOrigins(), "null", "", false},
		{"cross-site without origin", DefaultOrigins(), "", "cross-site", false},
		{"same-origin fetch metadata", DefaultOrigins(), "", "same-origin", true},
		{"custom exact", custom, "https://ui.example.com", "", true},
		{"custom any port", custom, "http://dev.example:8080", "", true},
		{"custom replaces default", custom, "http://localhost:4000", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			h := Origins(tc.policy)(counting(&n))
			req := httptest.NewRequest("POST", "/api/runAction", nil)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.site != "" {
				req.Header.Set("Sec-Fetch-Site", tc.site)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if tc.ok {
				if rec.Code != 200 || n.Load() != 1 {
					t.Errorf("status %d; want it served", rec.Code)
				}
				return
			}
			checkDenied(t, rec)
			if n.Load() != 0 {
				t.Error("the handler ran for a refused origin")
			}
		})
	}
}

func TestNewOriginPolicyErrors(t *testing.T) {
	for _, o := range []string{"localhost:4000", "http://", "http://x/path", "::"} {
		if _, err := NewOriginPolicy([]string{o}); err == nil {
			t.Errorf("NewOriginPolicy(%q) accepted it", o)
		}
	}
}

func TestRecover(t *testing.T) {
	h := Recover(slog.New(slog.DiscardHandler))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for range 2 { // the server keeps serving after a panic
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || !json.Valid(b) {
			t.Errorf("after a panic: %d %s; want 500 with a Status body", resp.StatusCode, b)
		}
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	Chain(mw("a"), mw("b"))(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if len(order) != 2 || order[0] != "a" || order[1] != "b" {
		t.Errorf("order = %v; want [a b]", order)
	}
}
