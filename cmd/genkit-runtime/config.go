package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/genkit-runtime/genkit-runtime/devruntime"
	"github.com/genkit-runtime/genkit-runtime/reflection"
)

var errHelp = errors.New("help requested")

// config is everything the binary needs: the dev runtime's options, and
// what the binary adds to them.
type config struct {
	opts           *devruntime.Options
	logLevel       slog.Level
	mcpConfig      string
	syntheticFlows int
	syntheticDAP   int
	pprofAddr      string // --pprof-addr: serve net/http/pprof there; empty: off
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

const usageText = `Usage: genkit-runtime [flags]
       genkit-runtime runtimes [--root DIR]

genkit-runtime serves the Genkit Reflection API over its built-in demo
actions, for the Genkit CLI and Developer UI:

  genkit start -- genkit-runtime

It stops gracefully (runtime file removed, runs in flight answered) on
SIGINT, SIGTERM or SIGHUP, on GET /api/__quitquitquit, and when the process
that started it exits (see --keep-running-when-orphaned).

Flags:
`

const envText = `
Environment:
  GENKIT_REFLECTION_PORT            port to listen on (as --port)
  GENKIT_REFLECTION_HOST            address to listen on (as --host)
  GENKIT_RUNTIME_ID                 runtime ID advertised in the runtime file and v2 register
  GENKIT_TELEMETRY_SERVER           Genkit telemetry server to export spans to; takes
                                    precedence over /api/notify and the v2 register result
  GENKIT_ENABLE_REALTIME_TELEMETRY  "true": export spans when they start as well as end
  GENKIT_REFLECTION_V2_SERVER       ws:// URL of a Genkit CLI reflection v2 server: dial it and
                                    speak reflection v2 only (no HTTP listener, no runtime file)
  OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, ...
                                    when an OTLP endpoint is set, spans are also exported over
                                    OTLP/HTTP to it (a collector, Jaeger, Tempo)
  OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
                                    the service name and resource of exported spans
                                    (default service name: --name)
  GENKIT_ENV                        ignored: genkit-runtime is always a development runtime
`

func parseConfig(args []string, stderr io.Writer, getenv func(string) string) (*config, error) {
	opts, err := devruntime.OptionsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	cfg := &config{opts: opts}
	fs := flag.NewFlagSet("genkit-runtime", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
		fmt.Fprint(stderr, envText)
	}
	var cors, hosts listFlag
	fs.StringVar(&opts.Host, "host", cmp.Or(opts.Host, devruntime.DefaultHost), "address to listen on; a non-loopback address exposes the runtime to the network")
	port := fs.Int("port", 0, fmt.Sprintf("port to listen on (default $GENKIT_REFLECTION_PORT, else the first free port in %d..%d)", devruntime.FirstPort, devruntime.LastPort))
	fs.StringVar(&opts.Name, "name", "genkit-runtime", "runtime name shown by the Genkit Developer UI, and the service name of spans exported over OTLP")
	fs.StringVar(&opts.ProjectRoot, "root", "", "project root holding .genkit/runtimes (default: found from the working directory like the Genkit CLI does)")
	fs.Int64Var(&opts.MaxBodyBytes, "max-body-bytes", reflection.DefaultMaxBodyBytes, "largest request body accepted, in bytes")
	fs.IntVar(&opts.MaxTraces, "trace-store-max-traces", devruntime.DefaultMaxTraces, "traces kept in memory; the oldest are evicted first")
	fs.Int64Var(&opts.MaxTraceBytes, "trace-store-max-bytes", devruntime.DefaultMaxTraceBytes, "approximate bytes of traces kept in memory; the oldest are evicted first")
	fs.StringVar(&cfg.mcpConfig, "mcp-config", "", `MCP servers config file ({"mcpServers": {...}}); their tools are served by the dynamic action provider "mcp"`)
	fs.Var(&cors, "cors-origin", "origin allowed to call the API from a browser (repeatable; default http://localhost:<any port> and http://127.0.0.1:<any port>)")
	fs.Var(&hosts, "allow-host", "extra Host header value accepted besides localhost, 127.0.0.1 and [::1] (repeatable; \"*\" disables the check)")
	fs.DurationVar(&opts.ShutdownGrace, "shutdown-grace", devruntime.DefaultShutdownGrace, "on SIGINT, SIGTERM or SIGHUP, how long runs in flight get to finish before they are cancelled (v1 and v2)")
	fs.BoolVar(&opts.KeepRunningWhenOrphaned, "keep-running-when-orphaned", false, "keep serving when the process that started this one exits (by default the runtime then shuts down gracefully, so a killed `go run` leaves no runtime behind)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.IntVar(&cfg.syntheticFlows, "synthetic-actions", 0, "register this many extra trivial flows (a measuring aid)")
	fs.IntVar(&cfg.syntheticDAP, "synthetic-dap-actions", 0, "serve this many extra trivial tools from a dynamic action provider (a measuring aid)")
	fs.StringVar(&cfg.pprofAddr, "pprof-addr", "", "serve Go profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060 (a measuring aid; off by default)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *port != 0 {
		opts.Port = *port
	}
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = -1 // --shutdown-grace 0: cancel runs at once
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts.CORSOrigins, opts.AllowedHosts = cors, hosts
	opts.MaxTracesName, opts.MaxTraceBytesName = "--trace-store-max-traces", "--trace-store-max-bytes"
	return cfg, nil
}
