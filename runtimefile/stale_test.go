package runtimefile_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

func TestRemoveStale(t *testing.T) {
	root := t.TempDir()
	if got, err := runtimefile.RemoveStale(root); err != nil || got != nil {
		t.Errorf("RemoveStale without a runtimes folder = %v, %v", got, err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	write := func(id string, pid int) string {
		f, err := runtimefile.Write(root, runtimefile.Info{ID: id, PID: pid, ReflectionServerURL: "http://127.0.0.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		return f.Path()
	}
	stale := write("gone", dead)
	self := write("self", os.Getpid())
	parent := write("parent", os.Getppid())
	other := filepath.Join(runtimefile.Dir(root), "notes.json")
	if err := os.WriteFile(other, []byte(`{"pid":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}

	removed, err := runtimefile.RemoveStale(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{stale}) {
		t.Errorf("removed %v; want only %s", removed, stale)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file of dead pid %d is still there", dead)
	}
	for _, f := range []string{self, parent, other} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(f), err)
		}
	}
}
