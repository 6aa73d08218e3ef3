package runtimefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// File is a runtime file written by [Write]. Its methods are safe for
// concurrent use.
type File struct {
	path string
	info Info
}

// Write writes info as a new runtime file in [Dir](root), creating the
// directory if needed, and returns it. Call it only once the reflection
// server is listening: the CLI health-checks a new runtime at once and
// deletes the file of one that does not answer.
//
// info.ID, info.ReflectionServerURL and a positive info.PID are required.
// info.Timestamp is the start time; if it is zero, Write uses the current
// time. It is stored in UTC, cut to milliseconds. Set it to control the
// clock. The file is named <id>-<unix milliseconds>.json, with characters
// of the id other than ASCII letters, digits, '-' and '_' replaced by '_'.
//
// The file appears whole, by rename: Write writes a temporary file in
// <root>/.genkit, outside the watched directory because the CLI reads every
// file there, and renames it into place.
func Write(root string, info Info) (*File, error) {
	switch {
	case info.ID == "":
		return nil, errors.New("runtimefile: Write: Info.ID is empty")
	case info.ReflectionServerURL == "":
		return nil, errors.New("runtimefile: Write: Info.ReflectionServerURL is empty")
	case info.PID <= 0:
		return nil, fmt.Errorf("runtimefile: Write: Info.PID is %d", info.PID)
	}
	if info.Timestamp.IsZero() {
		info.Timestamp = time.Now()
	}
	info.Timestamp = info.Timestamp.UTC().Truncate(time.Millisecond)
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("runtimefile: Write: %w", err)
	}
	data = append(data, '\n')

	dir := Dir(root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("runtimefile: Write: %w", err)
	}
	path := filepath.Join(dir, fileName(info))
	if err := writeAtomic(filepath.Dir(dir), path, data); err != nil {
		return nil, fmt.Errorf("runtimefile: Write: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	info.ProjectName = projectName(abs)
	return &File{path: abs, info: info}, nil
}

// fileName returns the name Write gives the file of info.
func fileName(info Info) string {
	id := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, info.ID)
	return id + "-" + strconv.FormatInt(info.Timestamp.UnixMilli(), 10) + ".json"
}

// writeAtomic writes data to a temporary file in tmpDir and renames it to
// path, which must be on the same file system.
func writeAtomic(tmpDir, path string, data []byte) (err error) {
	f, err := os.CreateTemp(tmpDir, ".runtime-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	// CreateTemp makes the file private; runtime files are as readable as
	// any other project file.
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Path returns the absolute path of the file.
func (f *File) Path() string { return f.path }

// Info returns what was written, with ProjectName set.
func (f *File) Info() Info { return f.info }

// Remove deletes the file if it still belongs to this runtime, that is if
// the file on disk still holds the PID that was written. A file that is
// gone, or now holds another PID or no readable PID, is left alone and is
// not an error, so Remove may be called any number of times.
func (f *File) Remove() error {
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("runtimefile: Remove: %w", err)
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return nil
	}
	if pid, err := integer(fields, "pid", true); err != nil || pid != f.info.PID {
		return nil
	}
	if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("runtimefile: Remove: %w", err)
	}
	return nil
}
