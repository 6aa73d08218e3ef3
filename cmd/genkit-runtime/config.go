package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/otlp"
	"github.com/genkit-runtime/genkit-runtime/reflection"
)

var errHelp = errors.New("help requested")

// config is everything serve needs, from flags and the environment.
type config struct {
	host           string
	port           int // 0: first free port in 3100..3199
	name           string
	root           string
	runtimeID      string
	maxBodyBytes   int64
	maxTraces      int
	maxTraceBytes  int64
	mcpConfig      string
	corsOrigins    []string
	allowedHosts   []string
	shutdownGrace  time.Duration
	logLevel       slog.Level
	telemetryURL   string // GENKIT_TELEMETRY_SERVER
	realtime       bool   // GENKIT_ENABLE_REALTIME_TELEMETRY
	v2Server       string // GENKIT_REFLECTION_V2_SERVER
	syntheticFlows int
	syntheticDAP   int
	pprofAddr      string // --pprof-addr: serve net/http/pprof there; empty: off

	otlp   otlp.Config         // from OTEL_EXPORTER_OTLP_*; no Endpoint: no OTLP export
	getenv func(string) string // the environment, for the OpenTelemetry resource
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

const usageText = `Usage: genkit-runtime [flags]
       genkit-runtime runtimes [--root DIR]

genkit-runtime serves the Genkit Reflection API over its built-in demo
actions, for the Genkit CLI and Developer UI:

  genkit start -- genkit-runtime

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
                                    the service the spans are exported under (default: --name)
  GENKIT_ENV                        ignored: genkit-runtime is always a development runtime
`

func parseConfig(args []string, stderr io.Writer, getenv func(string) string) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("genkit-runtime", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
		fmt.Fprint(stderr, envText)
	}
	var cors, hosts listFlag
	wd, _ := os.Getwd()
	fs.StringVar(&cfg.host, "host", envOr(getenv, "GENKIT_REFLECTION_HOST", "127.0.0.1"), "address to listen on; a non-loopback address exposes the runtime to the network")
	port := fs.Int("port", 0, "port to listen on (default $GENKIT_REFLECTION_PORT, else the first free port in 3100..3199)")
	fs.StringVar(&cfg.name, "name", "genkit-runtime", "runtime name shown by the Genkit Developer UI, and the service name of spans exported over OTLP")
	fs.StringVar(&cfg.root, "root", "", "project root holding .genkit/runtimes (default: found from the working directory like the Genkit CLI does)")
	fs.Int64Var(&cfg.maxBodyBytes, "max-body-bytes", reflection.DefaultMaxBodyBytes, "largest request body accepted, in bytes")
	fs.IntVar(&cfg.maxTraces, "trace-store-max-traces", 1000, "traces kept in memory; the oldest are evicted first")
	fs.Int64Var(&cfg.maxTraceBytes, "trace-store-max-bytes", 64<<20, "approximate bytes of traces kept in memory; the oldest are evicted first")
	fs.StringVar(&cfg.mcpConfig, "mcp-config", "", `MCP servers config file ({"mcpServers": {...}}); their tools are served by the dynamic action provider "mcp"`)
	fs.Var(&cors, "cors-origin", "origin allowed to call the API from a browser (repeatable; default http://localhost:<any port> and http://127.0.0.1:<any port>)")
	fs.Var(&hosts, "allow-host", "extra Host header value accepted besides localhost, 127.0.0.1 and [::1] (repeatable; \"*\" disables the check)")
	fs.DurationVar(&cfg.shutdownGrace, "shutdown-grace", 5*time.Second, "on SIGINT/SIGTERM, how long runs in flight get to finish before they are cancelled (v1 and v2)")
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
	cfg.port = *port
	if cfg.port == 0 {
		if p := getenv("GENKIT_REFLECTION_PORT"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 65535 {
				return nil, fmt.Errorf("GENKIT_REFLECTION_PORT=%q is not a port", p)
			}
			cfg.port = n
		}
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	cfg.corsOrigins, cfg.allowedHosts = cors, hosts
	cfg.runtimeID = getenv("GENKIT_RUNTIME_ID")
	cfg.telemetryURL = getenv("GENKIT_TELEMETRY_SERVER")
	cfg.realtime = getenv("GENKIT_ENABLE_REALTIME_TELEMETRY") == "true"
	cfg.v2Server = getenv("GENKIT_REFLECTION_V2_SERVER")
	otlpCfg, err := otlp.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	cfg.otlp, cfg.getenv = otlpCfg, getenv
	if cfg.root == "" {
		cfg.root = wd
	}
	return cfg, nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
