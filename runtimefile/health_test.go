package runtimefile_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

// runtimeServer starts a server that answers /api/__health like the JS
// runtime: 200 for no id or the given id, 503 for another id. If healthy is
// false it always answers 503.
func runtimeServer(t *testing.T, id string, healthy bool) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/__health", func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query().Get("id"); !healthy || (q != "" && q != id) {
			http.Error(w, "Invalid runtime ID", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestCheckHealth(t *testing.T) {
	t.Parallel()
	good := runtimeServer(t, "a b&c", true)
	bad := runtimeServer(t, "x", false)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name          string
		url, id       string
		wantErr       bool
		wantUnhealthy bool
	}{
		{name: "healthy", url: good.URL, id: "a b&c"},
		{name: "empty id sends no query", url: good.URL, id: ""},
		{name: "wrong id", url: good.URL, id: "other", wantErr: true, wantUnhealthy: true},
		{name: "503", url: bad.URL, id: "x", wantErr: true, wantUnhealthy: true},
		{name: "404", url: good.URL + "/nothing", id: "a b&c", wantErr: true, wantUnhealthy: true},
		{name: "connection refused", url: closedURL, id: "x", wantErr: true},
		{name: "bad url", url: "::not a url", id: "x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			info := testInfo(tt.id, 1)
			info.ReflectionServerURL = tt.url
			err := runtimefile.CheckHealth(t.Context(), good.Client(), info)
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckHealth error = %v, want error %v", err, tt.wantErr)
			}
			if got := errors.Is(err, runtimefile.ErrUnhealthy); got != tt.wantUnhealthy {
				t.Errorf("errors.Is(%v, ErrUnhealthy) = %v, want %v", err, got, tt.wantUnhealthy)
			}
		})
	}
}

func TestCheckHealthHonoursContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	info := testInfo("1", 1)
	info.ReflectionServerURL = srv.URL
	if err := runtimefile.CheckHealth(ctx, srv.Client(), info); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CheckHealth = %v, want context.DeadlineExceeded", err)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "proj")
	base := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)

	write := func(id string, healthy bool, age time.Duration) runtimefile.Info {
		srv := runtimeServer(t, id, healthy)
		info := testInfo(id, 100)
		info.ReflectionServerURL = srv.URL
		info.Timestamp = base.Add(-age)
		f, err := runtimefile.Write(root, info)
		if err != nil {
			t.Fatal(err)
		}
		return f.Info()
	}
	old := write("old", true, time.Hour)
	newest := write("newest", true, 0)
	write("sick", false, time.Minute)
	middle := write("middle", true, 30*time.Minute)

	// Files List must skip.
	dir := runtimefile.Dir(root)
	for name, content := range map[string]string{
		"invalid.json": `{"id":1}`,
		"partial.json": `{"id":"p",`,
		"notes.txt":    `{"id":"t","pid":1,"reflectionServerUrl":"http://127.0.0.1:1","timestamp":"2026"}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "subdir.json"), 0o755); err != nil {
		t.Fatal(err)
	}

	got, err := runtimefile.List(t.Context(), root, nil)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := []runtimefile.Info{newest, middle, old}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List mismatch (-want +got):\n%s", diff)
	}
	for _, info := range got {
		if info.ProjectName != "proj" {
			t.Errorf("ProjectName = %q, want %q", info.ProjectName, "proj")
		}
	}
}

func TestListMissingDir(t *testing.T) {
	t.Parallel()
	got, err := runtimefile.List(t.Context(), t.TempDir(), nil)
	if err != nil || len(got) != 0 {
		t.Errorf("List = %v, %v; want empty, nil", got, err)
	}
}
