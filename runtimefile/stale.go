package runtimefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// RemoveStale removes the runtime files of the project at root whose
// process no longer exists, and returns their paths. A file is removed only
// when its pid names no process on this machine: a file of a live process
// (whether or not it still serves), a file without a readable pid, and
// anything that is not a runtime file are left alone. A missing directory
// removes nothing and is not an error.
func RemoveStale(root string) ([]string, error) {
	found, err := readDir(Dir(root))
	if err != nil {
		return nil, fmt.Errorf("runtimefile: RemoveStale: %w", err)
	}
	var removed []string
	var errs []error
	for _, f := range found {
		if f.PID <= 0 || processExists(f.PID) {
			continue
		}
		if err := os.Remove(f.path); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		removed = append(removed, f.path)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("runtimefile: RemoveStale: %w", errors.Join(errs...))
	}
	return removed, nil
}

// dirFile is a runtime file read by readDir.
type dirFile struct {
	Info
	path string
}

// readDir reads the runtime files of dir once: the *.json files whose
// names do not begin with '.', skipping those that are unreadable or fail
// [Parse]. A missing directory gives none.
func readDir(dir string) ([]dirFile, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var found []dirFile
	for _, e := range entries {
		if e.IsDir() || !isRuntimeFileName(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		info, err := Parse(data)
		if err != nil {
			continue
		}
		found = append(found, dirFile{Info: info, path: path})
	}
	return found, nil
}
