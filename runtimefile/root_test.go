package runtimefile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

var markers = []string{
	"package.json", "go.mod", "pyproject.toml", "requirements.txt",
	"pom.xml", "build.gradle", "build.gradle.kts", "pubspec.yaml",
}

// skipIfAncestorHasMarker skips a test that needs dir to have no project
// marker above it.
func skipIfAncestorHasMarker(t *testing.T, dir string) {
	t.Helper()
	for cur := dir; filepath.Dir(cur) != cur; cur = filepath.Dir(cur) {
		for _, m := range markers {
			if _, err := os.Stat(filepath.Join(cur, m)); err == nil {
				t.Skipf("%s has %s, so no test directory below it lacks a project root", cur, m)
			}
		}
	}
}

func TestFindRoot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files []string // relative to the temporary directory; a trailing / makes a directory
		start string
		want  string // "" means the start directory
	}{
		{name: "marker in start dir", files: []string{"a/b/c/go.mod"}, start: "a/b/c", want: "a/b/c"},
		{name: "marker two levels up", files: []string{"a/package.json", "a/b/c/"}, start: "a/b/c", want: "a"},
		{name: "nearest marker wins", files: []string{"a/pom.xml", "a/b/pubspec.yaml", "a/b/c/"}, start: "a/b/c", want: "a/b"},
		{name: "marker that is a directory", files: []string{"a/build.gradle.kts/", "a/b/"}, start: "a/b", want: "a"},
		{name: "other files do not count", files: []string{"a/README.md", "a/main.go", "a/b/"}, start: "a/b"},
		{name: "start need not exist", files: []string{"a/requirements.txt"}, start: "a/missing/deeper", want: "a"},
		{name: "no marker", files: []string{"a/b/"}, start: "a/b"},
	}
	for _, m := range markers {
		tests = append(tests, struct {
			name  string
			files []string
			start string
			want  string
		}{name: "marker " + m, files: []string{"p/" + m, "p/q/"}, start: "p/q", want: "p"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			for _, f := range tt.files {
				p := filepath.Join(tmp, f)
				if f[len(f)-1] == '/' {
					if err := os.MkdirAll(p, 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := filepath.Join(tmp, tt.want)
			if tt.want == "" {
				want = filepath.Join(tmp, tt.start)
				skipIfAncestorHasMarker(t, tmp)
			}
			got, err := runtimefile.FindRoot(filepath.Join(tmp, tt.start))
			if err != nil {
				t.Fatalf("FindRoot: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("FindRoot mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFindRootRelative(t *testing.T) {
	tmp := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(tmp, "cmd")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	got, err := runtimefile.FindRoot(".")
	if err != nil {
		t.Fatalf("FindRoot: %v", err)
	}
	// The working directory may be reached through a symbolic link.
	wantInfo, err := os.Stat(tmp)
	if err != nil {
		t.Fatal(err)
	}
	gotInfo, err := os.Stat(got)
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(got) || !os.SameFile(wantInfo, gotInfo) {
		t.Errorf("FindRoot(\".\") = %q, want %q", got, tmp)
	}
}

func TestDir(t *testing.T) {
	t.Parallel()
	got := runtimefile.Dir(filepath.FromSlash("/p/app"))
	if want := filepath.FromSlash("/p/app/.genkit/runtimes"); got != want {
		t.Errorf("Dir = %q, want %q", got, want)
	}
}
