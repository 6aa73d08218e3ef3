package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat. It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime returns the user plus system CPU time the process pid has used,
// from /proc/<pid>/stat (fields 14 and 15).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// memInfo is a process's resident memory, in bytes.
type memInfo struct {
	RSS  int64 // VmRSS: resident now
	Peak int64 // VmHWM: the peak resident set
}

// readMem reads VmRSS and VmHWM from /proc/<pid>/status.
func readMem(pid int) (memInfo, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memInfo{}, err
	}
	defer f.Close()
	var m memInfo
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return memInfo{}, err
		}
		*dst = kb << 10
	}
	return m, sc.Err()
}

// server is one server process started by the harness.
type server struct {
	name    string
	proc    *runtimeproc.Process
	url     string // http://127.0.0.1:<port>
	port    int
	started time.Time
	ready   time.Duration // start to first healthy answer
	logPath string
	// pprofPort is the port of the server's pprof endpoint; 0 for none.
	pprofPort int
	// v2 is the manager the server dials in the v2 configuration; nil in
	// the others, whose servers listen on url.
	v2 *v2endpoint
}

// spec says how to start a server process.
type spec struct {
	name string
	path string
	args []string
	dir  string
	env  []string // added to the harness's environment, minus GENKIT_* and OTEL_*
	// discover, when set, is a project root whose .genkit/runtimes holds
	// the server's runtime file: the URL is taken from there (for SDKs
	// that pick their own port).
	discover string
}

// start runs s with GENKIT_REFLECTION_PORT set to a free port and waits
// until GET /api/__health answers 200, polling every half millisecond.
func start(ctx context.Context, s spec, logDir string, timeout time.Duration) (*server, error) {
	srv, err := launch(s, logDir)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: time.Second}
	deadline := srv.started.Add(timeout)
	for {
		if s.discover != "" {
			if u := discoverURL(s.discover, srv.pid()); u != "" {
				srv.url = u
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.url+"/api/__health", nil)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				srv.ready = time.Since(srv.started)
				return srv, nil
			}
		}
		select {
		case <-srv.proc.Done():
			return nil, fmt.Errorf("%s exited before it was healthy (%v); log: %s", s.name, srv.proc.ExitErr(), tail(srv.logPath))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			srv.stop()
			return nil, fmt.Errorf("%s not healthy within %v; log: %s", s.name, timeout, tail(srv.logPath))
		}
		time.Sleep(500 * time.Microsecond) // polling a child process: no signal to wait on
	}
}

// launch starts the process of s, with GENKIT_REFLECTION_PORT set to a free
// port and its output going to a log file in logDir, and does not wait.
func launch(s spec, logDir string) (*server, error) {
	port, err := runtimeproc.FreePort()
	if err != nil {
		return nil, err
	}
	args := make([]string, len(s.args))
	for i, a := range s.args {
		args[i] = strings.ReplaceAll(a, "{port}", strconv.Itoa(port))
	}
	cmd := exec.Command(s.path, args...)
	cmd.Dir = s.dir
	cmd.Env = append(runtimeproc.CleanEnv(s.env...), "GENKIT_REFLECTION_PORT="+strconv.Itoa(port))
	logPath := filepath.Join(logDir, fmt.Sprintf("%s-%d.log", s.name, port))
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// The child writes to its own copy of the file.
	defer lf.Close()
	cmd.Stdout, cmd.Stderr = lf, lf
	srv := &server{name: s.name, port: port, url: "http://127.0.0.1:" + strconv.Itoa(port), logPath: logPath}
	srv.started = time.Now()
	if srv.proc, err = runtimeproc.Start(cmd); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return srv, nil
}

// discoverURL returns the reflection server URL in the runtime file of the
// process pid under root/.genkit/runtimes, or "".
func discoverURL(root string, pid int) string {
	dir := filepath.Join(root, ".genkit", "runtimes")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	prefix := strconv.Itoa(pid) + "-"
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var rf struct {
			PID int    `json:"pid"`
			URL string `json:"reflectionServerUrl"`
		}
		if json.Unmarshal(b, &rf) == nil && rf.PID == pid && rf.URL != "" {
			return strings.Replace(rf.URL, "//localhost:", "//127.0.0.1:", 1)
		}
	}
	return ""
}

// stop ends the server: SIGTERM, then SIGKILL after two seconds, and then
// closes its manager, if any. It signals only the process it started.
func (s *server) stop() {
	if s == nil {
		return
	}
	if s.proc != nil {
		// How the server ended does not matter to the measurements.
		_ = s.proc.Stop(2 * time.Second)
	}
	if s.v2 != nil {
		s.v2.close()
	}
}

func (s *server) pid() int { return s.proc.PID() }

// alive reports whether the process is still running.
func (s *server) alive() bool {
	select {
	case <-s.proc.Done():
		return false
	default:
		return true
	}
}

// tail returns the last lines of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return strings.TrimSpace(string(b))
}

// servers tracks every process the harness started, so all are stopped on
// the way out.
type servers struct {
	mu   sync.Mutex // guards list
	list []*server
}

func (ss *servers) add(s *server) *server {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.list = append(ss.list, s)
	return s
}

func (ss *servers) stopAll() {
	ss.mu.Lock()
	list := ss.list
	ss.list = nil
	ss.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range list {
		wg.Go(s.stop)
	}
	wg.Wait()
}
