package runtimefile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

// testInfo returns a valid Info with the given id and pid.
func testInfo(id string, pid int) runtimefile.Info {
	return runtimefile.Info{
		ID:                       id,
		PID:                      pid,
		Name:                     "app " + id,
		ReflectionServerURL:      "http://127.0.0.1:3100",
		Timestamp:                time.Date(2026, 11, 23, 19, 52, 54, 326e6, time.UTC),
		GenkitVersion:            "go/test",
		ReflectionAPISpecVersion: 1,
	}
}

func TestWriteParseRoundTrip(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "myapp")
	in := testInfo("4242-3100", 4242)
	in.Timestamp = time.Date(2026, 11, 23, 20, 52, 54, 326_999_999, time.FixedZone("", 3600))

	f, err := runtimefile.Write(root, in)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	wantPath := filepath.Join(runtimefile.Dir(root), "4242-3100-1795463574326.json")
	if diff := cmp.Diff(wantPath, f.Path()); diff != "" {
		t.Errorf("Path mismatch (-want +got):\n%s", diff)
	}
	data, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"timestamp": "2026-11-23T19:52:54.326Z"`) {
		t.Errorf("file lacks the UTC millisecond timestamp:\n%s", data)
	}
	got, err := runtimefile.Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := in
	want.Timestamp = time.Date(2026, 11, 23, 19, 52, 54, 326e6, time.UTC)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
	want.ProjectName = "myapp"
	if diff := cmp.Diff(want, f.Info()); diff != "" {
		t.Errorf("File.Info mismatch (-want +got):\n%s", diff)
	}

	// Nothing but the runtime file is left behind.
	var names []string
	err = filepath.WalkDir(filepath.Join(root, ".genkit"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, filepath.Base(path))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{filepath.Base(wantPath)}, names); diff != "" {
		t.Errorf("files under .genkit mismatch (-want +got):\n%s", diff)
	}
}

func TestWriteNameAndDefaults(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	in := testInfo("../we!rd id.x", 7)
	in.Timestamp = time.Time{}
	before := time.Now().Truncate(time.Millisecond)
	f, err := runtimefile.Write(root, in)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	after := time.Now()
	name := filepath.Base(f.Path())
	if filepath.Dir(f.Path()) != runtimefile.Dir(root) || !strings.HasPrefix(name, "___we_rd_id_x-") || !strings.HasSuffix(name, ".json") {
		t.Errorf("Write wrote %q", f.Path())
	}
	if ts := f.Info().Timestamp; ts.Before(before) || ts.After(after) || ts.Location() != time.UTC {
		t.Errorf("Timestamp = %v, want UTC between %v and %v", ts, before, after)
	}
}

func TestWriteRejects(t *testing.T) {
	t.Parallel()
	for name, mutate := range map[string]func(*runtimefile.Info){
		"no id":  func(i *runtimefile.Info) { i.ID = "" },
		"no url": func(i *runtimefile.Info) { i.ReflectionServerURL = "" },
		"no pid": func(i *runtimefile.Info) { i.PID = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			info := testInfo("1-2", 1)
			mutate(&info)
			if _, err := runtimefile.Write(root, info); err == nil {
				t.Fatal("Write succeeded, want an error")
			}
			if _, err := os.Stat(filepath.Join(root, ".genkit")); !os.IsNotExist(err) {
				t.Errorf("Write touched the file system: %v", err)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		replace  string // new content written over the file; "" keeps it
		delete   bool   // delete the file before Remove
		wantGone bool
	}{
		{name: "ours", wantGone: true},
		{name: "already gone", delete: true, wantGone: true},
		{name: "other pid", replace: `{"id":"x","pid":99,"reflectionServerUrl":"u","timestamp":"2026"}`},
		{name: "garbage", replace: `{"id":`},
		{name: "pid not a number", replace: `{"pid":"42"}`},
		{name: "same pid, otherwise invalid", replace: `{"pid":42}`, wantGone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := runtimefile.Write(t.TempDir(), testInfo("42-3100", 42))
			if err != nil {
				t.Fatal(err)
			}
			if tt.replace != "" {
				if err := os.WriteFile(f.Path(), []byte(tt.replace), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.delete {
				if err := os.Remove(f.Path()); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 2 { // Remove is idempotent
				if err := f.Remove(); err != nil {
					t.Fatalf("Remove #%d: %v", i+1, err)
				}
			}
			_, err = os.Stat(f.Path())
			if gone := os.IsNotExist(err); gone != tt.wantGone {
				t.Errorf("after Remove, file gone = %v, want %v (stat: %v)", gone, tt.wantGone, err)
			}
		})
	}
}
