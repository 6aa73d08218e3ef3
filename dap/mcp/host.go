// Package mcp provides the tools of MCP (Model Context Protocol) servers as
// a dynamic action provider.
//
// A [Host] reads a configuration file in the format MCP hosts share
// ({"mcpServers": {...}}, see [Config]), connects to every server in it —
// running commands over stdio, or speaking streamable HTTP to URLs — and
// keeps them connected while [Host.Run] runs: a server that fails to start
// or dies is logged, its tools disappear, and it is retried with
// exponential backoff while the others keep working. Run watches the file
// and, when it changes, reconnects only the servers that were added,
// removed or modified.
//
// [Host.Provider] is the dynamic action provider ("mcp" by default) to
// register with [dap.Register]. Each tool is listed as
// "/dynamic-action-provider/mcp:tool/<server>/<tool>" with the tool's
// description and input schema. Running it calls the tool; see
// [Host.Provider] for how results and errors map to Genkit.
package mcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/dap"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// DefaultName is the name of a host's dynamic action provider unless
// Options.Name says otherwise.
const DefaultName = "mcp"

// Options configures a Host. The zero value is ready to use.
type Options struct {
	// Name names the dynamic action provider; if empty, DefaultName.
	Name string
	// TTL is the provider's cache TTL (see dap.Options.TTL). Changes the
	// host sees (config edits, servers connecting or dying, tool list
	// change notifications) invalidate the cache at once.
	TTL time.Duration
	// TracerProvider is passed to the provider (see
	// dap.Options.TracerProvider).
	TracerProvider trace.TracerProvider
	// Logger receives server starts, failures and config reloads. If nil,
	// nothing is logged.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the delay before reconnecting a
	// server that failed or died; the delay doubles on every consecutive
	// failure. If zero, 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// ConnectTimeout bounds connecting to a server (including its
	// initialization handshake) and each listing of its tools. If zero,
	// 30s.
	ConnectTimeout time.Duration
	// StopTimeout is how long a command server may take to exit after its
	// stdin is closed, before it is sent SIGTERM, and then SIGKILL after as
	// long again. If zero, 2s.
	StopTimeout time.Duration
	// KeepAlive is the interval of pings that detect a dead server (which
	// matters for URL servers; a command server's death is seen at once).
	// If zero, 15s; negative disables pings.
	KeepAlive time.Duration
	// Debounce is how long the config file must be quiet after a change
	// before it is reloaded, so that an editor's several writes are read
	// once. If zero, 100ms.
	Debounce time.Duration
	// HTTPClient is used for URL servers; if nil, http.DefaultClient.
	HTTPClient *http.Client
}

// Host connects to the MCP servers of a configuration file and provides
// their tools. Create it with NewHost, register Provider, and call Run.
type Host struct {
	path     string // absolute path of the config file
	initial  *Config
	opts     Options
	logger   *slog.Logger
	client   *sdk.Client
	provider *dap.Provider
	running  atomic.Bool

	mu   sync.Mutex                    // guards live
	live map[string]*sdk.ClientSession // connected servers by name
}

// NewHost returns a host for the configuration file at configPath, which
// is read and checked now: an invalid file is an error. opts may be nil.
func NewHost(configPath string, opts *Options) (*Host, error) {
	path, err := filepath.Abs(configPath)
	if err != nil {
		return nil, fmt.Errorf("mcp config path %q: %w", configPath, err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	h := &Host{path: path, initial: cfg, live: map[string]*sdk.ClientSession{}}
	if opts != nil {
		h.opts = *opts
	}
	o := &h.opts
	if o.Name == "" {
		o.Name = DefaultName
	}
	defaultDuration(&o.MinBackoff, 500*time.Millisecond)
	defaultDuration(&o.MaxBackoff, 30*time.Second)
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	defaultDuration(&o.ConnectTimeout, 30*time.Second)
	defaultDuration(&o.StopTimeout, 2*time.Second)
	defaultDuration(&o.KeepAlive, 15*time.Second)
	defaultDuration(&o.Debounce, 100*time.Millisecond)
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	h.logger = o.Logger
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	h.provider, err = dap.New(o.Name, h.fetch, &dap.Options{
		Description:    "Tools of the MCP servers configured in " + path,
		TTL:            o.TTL,
		TracerProvider: o.TracerProvider,
	})
	if err != nil {
		return nil, err
	}
	h.client = sdk.NewClient(&sdk.Implementation{Name: "genkit-runtime", Version: "v1"}, &sdk.ClientOptions{
		KeepAlive: max(o.KeepAlive, 0),
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) {
			h.provider.Invalidate()
		},
	})
	return h, nil
}

func defaultDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Provider returns the host's dynamic action provider. Register it with
// [dap.Register]. It provides one action of type "tool" per tool of every
// connected server, named "<server>/<tool>"; before Run and after it
// returns it provides none.
//
// Running a tool calls it on its server. The output is the call's
// structuredContent when the server sends one; otherwise, like the JS
// runtime's MCP plugin, the text of an all-text result (parsed as JSON when
// it looks like a JSON object or array), the single content part itself
// when there is one, or else the whole result ({"content": [...]}).
// A result flagged isError fails the run with INTERNAL and the tool's text
// as message; a server that is not connected, or whose connection breaks,
// fails it with UNAVAILABLE; protocol errors map by their JSON-RPC code
// (invalid params → INVALID_ARGUMENT, method not found → UNIMPLEMENTED,
// others → INTERNAL).
func (h *Host) Provider() *dap.Provider { return h.provider }

// Run connects the configured servers and keeps them connected, following
// changes to the configuration file, until ctx is done. It then stops every
// server, waiting for each command's process to exit (see
// Options.StopTimeout), and returns nil. It returns an error at once if the
// file's directory cannot be watched. Run may be called only once.
//
// A change to the file is applied once it is quiet for Options.Debounce:
// servers added are connected, servers removed are stopped, servers whose
// entry changed are reconnected, and the others are left alone. A file
// that is missing or invalid is logged and the current servers are kept.
func (h *Host) Run(ctx context.Context) error {
	if !h.running.CompareAndSwap(false, true) {
		return errors.New("mcp host: Run called more than once")
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("mcp host: watching %s: %w", h.path, err)
	}
	defer w.Close()
	// Watch the directory: editors that save by writing a new file and
	// renaming it over the old one would end a watch on the file itself.
	if err := w.Add(filepath.Dir(h.path)); err != nil {
		return fmt.Errorf("mcp host: watching %s: %w", h.path, err)
	}

	running := map[string]*supervisor{}
	defer func() {
		h.stop(slices.Collect(maps.Values(running)))
		h.provider.Invalidate()
	}()

	cfg, err := LoadConfig(h.path)
	if err != nil {
		h.logger.Warn("reloading the MCP config failed; using the one read at start", "err", err)
		cfg = h.initial
	}
	h.apply(ctx, running, cfg)

	debounce := time.NewTimer(time.Hour)
	debounce.Stop() // armed by the first change
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) != h.path || ev.Op == fsnotify.Chmod {
				continue
			}
			debounce.Reset(h.opts.Debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			h.logger.Warn("watching the MCP config", "path", h.path, "err", err)
		case <-debounce.C:
			cfg, err := LoadConfig(h.path)
			if err != nil {
				h.logger.Warn("the MCP config changed but cannot be used; keeping the current servers", "err", err)
				continue
			}
			h.apply(ctx, running, cfg)
		}
	}
}

// apply brings the running servers in line with cfg, touching only the
// servers that were added, removed or changed.
func (h *Host) apply(ctx context.Context, running map[string]*supervisor, cfg *Config) {
	var stale []*supervisor
	var added, removed, changed []string
	for name, s := range running {
		next, ok := cfg.Servers[name]
		switch {
		case !ok:
			removed = append(removed, name)
		case !next.equal(s.cfg):
			changed = append(changed, name)
		default:
			continue
		}
		stale = append(stale, s)
		delete(running, name)
	}
	h.stop(stale)
	for _, name := range slices.Sorted(maps.Keys(cfg.Servers)) {
		if _, ok := running[name]; ok {
			continue
		}
		if !slices.Contains(changed, name) {
			added = append(added, name)
		}
		running[name] = h.start(ctx, name, cfg.Servers[name])
	}
	if len(added)+len(removed)+len(changed) > 0 {
		slices.Sort(removed)
		slices.Sort(changed)
		h.logger.Info("MCP servers configured", "added", added, "removed", removed, "changed", changed)
		h.provider.Invalidate()
	}
}

// supervisor is the goroutine keeping one server connected.
type supervisor struct {
	cfg    ServerConfig
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has returned
}

// start starts the supervisor of one server. The caller owns it and must
// stop it.
func (h *Host) start(ctx context.Context, name string, cfg ServerConfig) *supervisor {
	ctx, cancel := context.WithCancel(ctx)
	s := &supervisor{cfg: cfg, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		h.supervise(ctx, name, cfg)
	}()
	return s
}

// stop stops the supervisors, all at once, and waits for them.
func (h *Host) stop(ss []*supervisor) {
	for _, s := range ss {
		s.cancel()
	}
	for _, s := range ss {
		<-s.done
	}
}

// supervise connects one server, waits for its connection to end, and
// reconnects after a backoff, until ctx is done.
func (h *Host) supervise(ctx context.Context, name string, cfg ServerConfig) {
	log := h.logger.With("server", name)
	backoff := h.opts.MinBackoff
	for {
		start := time.Now()
		err := h.serve(ctx, name, cfg, log)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) >= h.opts.MaxBackoff {
			backoff = h.opts.MinBackoff // it had been up for a while
		}
		log.Warn("MCP server unavailable; retrying", "err", err, "retryIn", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, h.opts.MaxBackoff)
	}
}

// serve connects one server and returns when its connection ends or ctx
// is done. While connected, the server's tools are provided.
func (h *Host) serve(ctx context.Context, name string, cfg ServerConfig, log *slog.Logger) error {
	var cmd *exec.Cmd
	var transport sdk.Transport
	if cfg.Command != "" {
		cmd = h.command(cfg, log)
		transport = &sdk.CommandTransport{Command: cmd, TerminateDuration: h.opts.StopTimeout}
	} else {
		transport = &sdk.StreamableClientTransport{Endpoint: cfg.URL, HTTPClient: h.httpClient(cfg)}
	}
	defer killStragglers(cmd)

	cctx, cancel := context.WithTimeout(ctx, h.opts.ConnectTimeout)
	cs, err := h.client.Connect(cctx, transport, nil)
	cancel()
	if err != nil {
		// A command whose handshake failed has been stopped by the SDK;
		// killStragglers ends whatever it left behind.
		return fmt.Errorf("connecting: %w", err)
	}
	h.setLive(name, cs)
	log.Info("MCP server connected")

	ended := make(chan error, 1)
	go func() { ended <- cs.Wait() }()
	select {
	case err = <-ended:
		h.clearLive(name, cs)
		if cerr := cs.Close(); cerr != nil {
			log.Debug("closing the MCP session", "err", cerr)
		}
		if err == nil {
			err = errors.New("the server closed the connection")
		}
		return fmt.Errorf("connection ended: %w", err)
	case <-ctx.Done():
		h.clearLive(name, cs)
		if cerr := cs.Close(); cerr != nil {
			log.Debug("closing the MCP session", "err", cerr)
		}
		<-ended
		log.Info("MCP server stopped")
		return nil
	}
}

// command returns the command of a stdio server, its stderr logged.
func (h *Host) command(cfg ServerConfig, log *slog.Logger) *exec.Cmd {
	cmd := exec.Command(cfg.Command, cfg.Args...)
	if len(cfg.Env) > 0 {
		env := cmd.Environ()
		for _, k := range slices.Sorted(maps.Keys(cfg.Env)) {
			env = append(env, k+"="+cfg.Env[k])
		}
		cmd.Env = env
	}
	cmd.Stderr = &stderrLog{log: log}
	// Grandchildren holding stderr open must not keep Wait from returning.
	cmd.WaitDelay = h.opts.StopTimeout
	ownProcessGroup(cmd)
	return cmd
}

// stderrLog logs what a server writes to stderr, a line at a time.
type stderrLog struct {
	log *slog.Logger
}

func (l *stderrLog) Write(p []byte) (int, error) {
	for line := range strings.Lines(string(p)) {
		if line = strings.TrimRight(line, "\r\n"); line != "" {
			l.log.Debug("MCP server stderr", "line", line)
		}
	}
	return len(p), nil
}

// httpClient returns the client for a URL server, adding its headers.
func (h *Host) httpClient(cfg ServerConfig) *http.Client {
	if len(cfg.Headers) == 0 {
		return h.opts.HTTPClient
	}
	c := *h.opts.HTTPClient
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &headerTransport{base: base, headers: cfg.Headers}
	return &c
}

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header.Set(k, v)
	}
	return t.base.RoundTrip(r)
}

func (h *Host) setLive(name string, cs *sdk.ClientSession) {
	h.mu.Lock()
	h.live[name] = cs
	h.mu.Unlock()
	h.provider.Invalidate()
}

// clearLive forgets the session of a server, unless it was replaced.
func (h *Host) clearLive(name string, cs *sdk.ClientSession) {
	h.mu.Lock()
	if h.live[name] == cs {
		delete(h.live, name)
	}
	h.mu.Unlock()
	h.provider.Invalidate()
}

func (h *Host) session(name string) *sdk.ClientSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.live[name]
}

// fetch is the provider's function: the tools of every connected server,
// listed concurrently. A server whose listing fails is logged and left out.
func (h *Host) fetch(ctx context.Context) (dap.Actions, error) {
	h.mu.Lock()
	live := maps.Clone(h.live)
	h.mu.Unlock()
	names := slices.Sorted(maps.Keys(live))
	lists := make([][]*registry.Action, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { lists[i] = h.serverTools(ctx, name, live[name]) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return dap.Actions{"tool": slices.Concat(lists...)}, nil
}

// serverTools lists the tools of one server as actions.
func (h *Host) serverTools(ctx context.Context, server string, cs *sdk.ClientSession) []*registry.Action {
	log := h.logger.With("server", server)
	ctx, cancel := context.WithTimeout(ctx, h.opts.ConnectTimeout)
	defer cancel()
	var out []*registry.Action
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("listing the tools of an MCP server failed", "err", err)
			}
			return nil
		}
		a, err := h.toolAction(server, tool)
		if err != nil {
			log.Warn("MCP tool left out", "tool", tool.Name, "err", err)
			continue
		}
		out = append(out, a)
	}
	return out
}
