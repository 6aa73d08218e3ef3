package devruntime

import (
	"fmt"
	"os"
	"strconv"

	"github.com/genkit-runtime/genkit-runtime/internal/otlp"
)

// OptionsFromEnv returns the options the environment asks for, the way the
// genkit-runtime binary reads it, so that an app behaves like the binary
// under the Genkit CLI with one extra line:
//
//	GENKIT_REFLECTION_HOST            Host
//	GENKIT_REFLECTION_PORT            Port
//	GENKIT_RUNTIME_ID                 RuntimeID
//	GENKIT_TELEMETRY_SERVER           TelemetryServerURL
//	GENKIT_ENABLE_REALTIME_TELEMETRY  RealtimeTelemetry ("true")
//	GENKIT_REFLECTION_V2_SERVER       ReflectionV2Server
//	OTEL_EXPORTER_OTLP_*              OTLP (endpoint, headers, timeout,
//	                                  compression, protocol, TLS
//	                                  certificates; the TRACES_
//	                                  variables first)
//	OTEL_SERVICE_NAME,                the service name and resource of
//	OTEL_RESOURCE_ATTRIBUTES          exported spans, over Name
//
// The Genkit CLI sets the GENKIT_ variables when it starts a runtime
// (genkit start -- go run .). Other fields are left zero: set them on the
// result. getenv reads a variable; if nil, [os.Getenv]. It fails on a
// value that cannot be used (a port that is not a number, an OTLP endpoint
// that is not an http(s) URL), naming the variable.
func OptionsFromEnv(getenv func(string) string) (*Options, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	o := &Options{
		Host:               getenv("GENKIT_REFLECTION_HOST"),
		RuntimeID:          getenv("GENKIT_RUNTIME_ID"),
		TelemetryServerURL: getenv("GENKIT_TELEMETRY_SERVER"),
		RealtimeTelemetry:  getenv("GENKIT_ENABLE_REALTIME_TELEMETRY") == "true",
		ReflectionV2Server: getenv("GENKIT_REFLECTION_V2_SERVER"),
	}
	if p := getenv("GENKIT_REFLECTION_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("GENKIT_REFLECTION_PORT=%q is not a port", p)
		}
		o.Port = n
	}
	cfg, err := otlp.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	o.OTLP = OTLPOptions(cfg)
	o.getenv = getenv
	return o, nil
}
