package main

import (
	"context"
	"strconv"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

// stopGrace is how long the runtime gets to exit after SIGTERM at the end
// of the soak before it is killed.
const stopGrace = 10 * time.Second

// process is the genkit-runtime process under soak.
type process struct {
	*runtimeproc.Process
	url      string // the reflection server
	pprofURL string // the profiling server
}

// startProcess starts bin in dir (a project root) on free loopback ports
// for the API and the profiles, logging warnings and errors only, with args
// added, and waits until it is ready (see [runtimeproc.StartRuntime]).
func startProcess(ctx context.Context, bin, dir string, args []string) (*process, error) {
	pport, err := runtimeproc.FreePort()
	if err != nil {
		return nil, err
	}
	pprofAddr := "127.0.0.1:" + strconv.Itoa(pport)
	p, rf, err := runtimeproc.StartRuntime(ctx, runtimeproc.RuntimeConfig{
		Binary: bin,
		Root:   dir,
		Args:   append([]string{"--pprof-addr", pprofAddr, "--log-level", "warn"}, args...),
	})
	if err != nil {
		return nil, err
	}
	return &process{Process: p, url: rf.Info.ReflectionServerURL, pprofURL: "http://" + pprofAddr}, nil
}

// stop sends SIGTERM, waits up to stopGrace, then kills the process; it
// returns an error unless the process exited with status 0 after the
// SIGTERM.
func (p *process) stop() error { return p.Stop(stopGrace) }
