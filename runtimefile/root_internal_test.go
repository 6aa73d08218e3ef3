package runtimefile

import (
	"path/filepath"
	"testing"
)

func TestProjectName(t *testing.T) {
	t.Parallel()
	tests := []struct{ path, want string }{
		{"/home/u/myapp/.genkit/runtimes/1-2.json", "myapp"},
		{"/a/.genkit/x/.genkit/runtimes/1.json", "a"},
		{"/.genkit/runtimes/1.json", "unknown"},
		{"/tmp/runtimes/1.json", "unknown"},
	}
	for _, tt := range tests {
		if got := projectName(filepath.FromSlash(tt.path)); got != tt.want {
			t.Errorf("projectName(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
