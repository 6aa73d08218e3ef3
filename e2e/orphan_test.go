package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/e2e/internal/clitest"
	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

// procState returns the state letter and parent pid of a process from
// /proc, or ok false when there is no such process.
func procState(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

// gone reports whether the process has exited (reaped, or a zombie).
func gone(pid int) bool {
	state, _, ok := procState(pid)
	return !ok || state == 'Z' || state == 'X'
}

// TestCLIGoRunKilled runs the binary the way Go developers do, "genkit
// start -- go run ./cmd/genkit-runtime", then kills the go command with
// SIGKILL, as a supervisor or an IDE's stop button may: the runtime it
// started exits within 2 s and removes its runtime file, and the next
// "genkit start" lists exactly one runtime.
func TestCLIGoRunKilled(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	clitest.NodeModules(t)
	module, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	p := clitest.NewProject(t)
	s := p.Start(t, clitest.StartOptions{
		Command: []string{"go", "-C", module, "run", "./cmd/genkit-runtime", "--root", p.Dir()},
		NoUI:    true,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	raw, err := s.WaitRuntimeFile(ctx)
	if err != nil {
		t.Fatalf("no runtime file: %v\n%s", err, s.Log())
	}
	info, err := runtimefile.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	_, goPID, ok := procState(info.PID)
	if !ok {
		t.Fatalf("runtime pid %d not found", info.PID)
	}
	if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(goPID) + "/comm"); strings.TrimSpace(string(comm)) != "go" {
		t.Fatalf("the runtime's parent %d is %q, not the go command", goPID, comm)
	}
	if err := syscall.Kill(goPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for !gone(info.PID) && time.Since(killed) < 5*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(killed)
	if !gone(info.PID) {
		syscall.Kill(info.PID, syscall.SIGKILL)
		t.Fatalf("the runtime (pid %d) still runs %v after go run was killed\n%s", info.PID, took, s.Log())
	}
	if took > 2*time.Second {
		t.Errorf("the runtime took %v to exit after go run was killed; want at most 2 s", took)
	}
	files, _ := filepath.Glob(filepath.Join(runtimefile.Dir(p.Dir()), "*.json"))
	if len(files) != 0 {
		t.Errorf("runtime files left behind: %v", files)
	}
	if !strings.Contains(s.Log(), "the process that started this runtime has exited") {
		t.Errorf("the runtime did not log why it stopped:\n%s", s.Log())
	}
	s.Stop()

	// A new session sees one runtime: its own.
	s2 := p.Start(t, clitest.StartOptions{Command: []string{binary}})
	if _, err := s2.WaitRuntimeFile(ctx); err != nil {
		t.Fatalf("no runtime file: %v\n%s", err, s2.Log())
	}
	listActions(ctx, t, s2)
	rts, err := s2.ToolsGet(ctx, "getActiveRuntimes", nil)
	if err != nil {
		t.Fatal(err)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(rts, &list); err != nil {
		t.Fatalf("getActiveRuntimes: %v: %s", err, rts)
	}
	if len(list) != 1 {
		t.Errorf("getActiveRuntimes lists %d runtimes; want 1: %s", len(list), rts)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}
