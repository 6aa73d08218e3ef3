package runtimefile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// ErrUnhealthy is wrapped by the error [CheckHealth] returns when a runtime
// answers with a status other than 200.
var ErrUnhealthy = errors.New("runtimefile: runtime is unhealthy")

// CheckHealth asks the runtime described by info whether it is healthy, as
// the Genkit CLI does: GET <reflectionServerUrl>/api/__health?id=<id> (the
// query is left out when the id is empty). The runtime is healthy if and
// only if it answers 200, in which case CheckHealth returns nil. Another
// status gives an error wrapping [ErrUnhealthy]; a request that fails gives
// that failure. Unlike the CLI, which counts errors other than a refused
// connection as healthy, every failure counts here. ctx bounds the request.
// If client is nil, http.DefaultClient is used.
func CheckHealth(ctx context.Context, client *http.Client, info Info) error {
	if client == nil {
		client = http.DefaultClient
	}
	u := info.ReflectionServerURL + "/api/__health"
	if info.ID != "" {
		u += "?id=" + url.QueryEscape(info.ID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("runtimefile: health check of %s: %w", info.ID, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("runtimefile: health check of %s: %w", info.ID, err)
	}
	defer resp.Body.Close()
	// Read a little of the body so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s answered %s", ErrUnhealthy, u, resp.Status)
	}
	return nil
}

// List returns the runtimes of the project at root that answer healthy (see
// [CheckHealth]), newest Timestamp first, with ProjectName set. It reads the
// *.json files of [Dir](root) once, without retries, skipping names that
// begin with '.' and files that are unreadable or fail [Parse]. A missing
// directory gives an empty list. Health checks run concurrently and are
// bounded by ctx; List returns once all have finished. If client is nil,
// http.DefaultClient is used. List removes nothing.
func List(ctx context.Context, root string, client *http.Client) ([]Info, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("runtimefile: List: %w", err)
	}
	found, err := readDir(Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("runtimefile: List: %w", err)
	}
	for i := range found {
		found[i].Info.ProjectName = projectName(found[i].path)
	}

	healthy := make([]bool, len(found))
	var wg sync.WaitGroup
	for i, f := range found {
		wg.Go(func() {
			healthy[i] = CheckHealth(ctx, client, f.Info) == nil
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("runtimefile: List: %w", err)
	}

	var out []Info
	for i, f := range found {
		if healthy[i] {
			out = append(out, f.Info)
		}
	}
	slices.SortStableFunc(out, func(a, b Info) int { return b.Timestamp.Compare(a.Timestamp) })
	return out, nil
}

// isRuntimeFileName reports whether a directory entry name may be a runtime
// file: it ends in ".json" and is not hidden, as temporary files are.
func isRuntimeFileName(name string) bool {
	return strings.HasSuffix(name, ".json") && !strings.HasPrefix(name, ".")
}
