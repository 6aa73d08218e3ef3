//go:build unix

package mcp_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/genkit-runtime/genkit-runtime/dap/mcp"
)

// everythingServer returns the config of a stdio server running the MCP
// reference server @modelcontextprotocol/server-everything from e2e/node.
// The server's PID is written to pidFile (the shell execs node, keeping its
// PID). It skips the test when node or the package is missing.
func everythingServer(t *testing.T, pidFile string) map[string]any {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	index, err := filepath.Abs(filepath.Join("..", "..", "e2e", "node", "node_modules",
		"@modelcontextprotocol", "server-everything", "dist", "index.js"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(index); err != nil {
		t.Skip("@modelcontextprotocol/server-everything is not installed in e2e/node (npm ci there)")
	}
	return map[string]any{
		"command": "sh",
		"args":    []string{"-c", `echo $$ > "$PID_FILE"; exec node "$SERVER" stdio`},
		"env":     map[string]string{"PID_FILE": pidFile, "SERVER": index},
	}
}

// readPID returns the PID in file, or 0 when there is none yet.
func readPID(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

// alive reports whether a process with the PID exists.
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// waitGone waits until the process has exited and been reaped. It is a
// process of another program, so it is polled, with a bound.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive", pid)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

func TestEverythingServer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mcp.json")
	pid1, pid2 := filepath.Join(dir, "everything.pid"), filepath.Join(dir, "second.pid")
	everything := everythingServer(t, pid1)
	writeConfig(t, path, map[string]any{"everything": everything})
	rt := startHost(t, path, &mcp.Options{MinBackoff: 300 * time.Millisecond})

	echo, sum := toolKey("everything", "echo"), toolKey("everything", "get-sum")
	l := rt.waitListing(t, "the everything server's tools are listed", listed(echo, sum))
	wantEcho := map[string]any{
		"key": echo, "name": "everything/echo", "description": "Echoes back the input string",
		"metadata": map[string]any{"type": "tool", "dynamic": true, "mcp": map[string]any{"_meta": map[string]any{}}},
		"inputSchema": map[string]any{
			"$schema":    "http://json-schema.org/draft-07/schema#",
			"type":       "object",
			"properties": map[string]any{"message": map[string]any{"type": "string"}},
			"required":   []any{"message"},
		},
	}
	if diff := cmp.Diff(wantEcho, l[echo]); diff != "" {
		t.Errorf("listed echo (-want +got):\n%s", diff)
	}

	t.Run("run", func(t *testing.T) {
		if diff := cmp.Diff(map[string]any{"result": "Echo: hi"}, rt.run(t, echo, map[string]any{"message": "hi"})); diff != "" {
			t.Errorf("echo (-want +got):\n%s", diff)
		}
		if res, _ := rt.run(t, sum, map[string]any{"a": 2, "b": 3})["result"].(string); !strings.Contains(res, "5") {
			t.Errorf("get-sum result %q does not contain the sum", res)
		}
		structured := rt.run(t, toolKey("everything", "get-structured-content"), map[string]any{"location": "Chicago"})
		if _, ok := structured["result"].(map[string]any)["temperature"]; !ok {
			t.Errorf("get-structured-content = %v, want its structured content", structured)
		}
		if got := errorCode(rt.run(t, echo, map[string]any{"message": 1})); got != 3 {
			t.Errorf("echo with a bad input: code %v, want 3", got)
		}
	})

	first := readPID(t, pid1)
	if first == 0 {
		t.Fatal("no PID written by the everything server")
	}

	t.Run("add a server", func(t *testing.T) {
		replaceConfig(t, path, map[string]any{"everything": everything, "second": everythingServer(t, pid2)})
		rt.waitListing(t, "the added server's tools are listed", listed(toolKey("second", "echo"), echo))
		if got := readPID(t, pid1); got != first {
			t.Errorf("the unchanged server was restarted (PID %d, then %d)", first, got)
		}
	})

	t.Run("remove a server", func(t *testing.T) {
		writeConfig(t, path, map[string]any{"second": everythingServer(t, pid2)})
		rt.waitListing(t, "the removed server's tools disappear", func(l map[string]map[string]any) bool {
			return notListed(echo)(l) && listed(toolKey("second", "echo"))(l)
		})
		waitGone(t, first)
	})

	t.Run("survive a killed server", func(t *testing.T) {
		victim := readPID(t, pid2)
		if victim == 0 {
			t.Fatal("no PID written by the second server")
		}
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		key := toolKey("second", "echo")
		rt.waitListing(t, "the killed server's tools disappear", notListed(key))
		rt.waitListing(t, "the restarted server's tools come back", listed(key))
		if got := readPID(t, pid2); got == victim || got == 0 {
			t.Errorf("server PID after restart = %d, want a new one (was %d)", got, victim)
		}
		if diff := cmp.Diff(map[string]any{"result": "Echo: back"}, rt.run(t, key, map[string]any{"message": "back"})); diff != "" {
			t.Errorf("echo after restart (-want +got):\n%s", diff)
		}
	})

	last := readPID(t, pid2)
	rt.stop(t)
	if alive(last) {
		t.Errorf("server process %d outlived Run", last)
	}
}
