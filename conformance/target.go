package conformance

import (
	"context"
	"net/http"
	"time"

	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
)

// Target is the runtime a suite runs against, already reachable: a v1
// reflection server, or a v2 runtime connected to a manager. The package
// conformance/harness builds one by launching a command or attaching to a
// URL; tests may assemble one around in-process servers.
type Target struct {
	// Name identifies the runtime in reports, such as "genkit-runtime".
	Name string
	// Transport is the transport to test.
	Transport Transport

	// URL is the v1 reflection server's base URL, such as
	// http://127.0.0.1:3100 (V1).
	URL string
	// HTTPClient makes the v1 requests. If nil, a client without proxy or
	// compression is used.
	HTTPClient *http.Client

	// Manager is the v2 manager the runtime is connected to (V2). The
	// suite uses the most recently registered runtime, so a runtime that
	// reconnects is followed.
	Manager *v2manager.Manager
	// Messages records the manager's traffic (V2); pass its Record method
	// as the manager's OnMessage.
	Messages *v2manager.Recorder

	// Sink receives the runtime's trace exports, and SinkURL is where it is
	// served. Over v1 the suite tells the runtime with POST /api/notify;
	// over v2 the manager answers register with it.
	Sink    *Sink
	SinkURL string

	// RuntimeFile is the runtime file the runtime was discovered by; nil
	// when it was not discovered through one.
	RuntimeFile *RuntimeFile
	// Shutdown, if not nil, stops the runtime and reports how it ended.
	// It is called at most once, by the last cases.
	Shutdown func(ctx context.Context) (*ShutdownResult, error)
	// Launch, if not nil, starts another instance of the runtime under
	// test, over the same transport, with the settings of a case that
	// controls its launch (Case.Launch), and returns its target and the
	// function that stops it and releases what it holds. The suite calls
	// stop once the case is done.
	Launch func(ctx context.Context, l *Launch) (t *Target, stop func(), err error)
	// Output, if not nil, returns the end of the runtime's output, for
	// reports.
	Output func() string
	// Command is the command that started the runtime, for reports.
	Command string
}

// RuntimeFile is the runtime file a launched runtime was discovered by.
type RuntimeFile struct {
	// Path is the file's path.
	Path string
	// Data is the file's content when it was discovered.
	Data []byte
	// HealthStatus is the HTTP status of the first GET
	// /api/__health?id=<id> made as soon as the file was seen; 0 when it
	// failed, with HealthError saying why.
	HealthStatus int
	HealthError  string
}

// ShutdownResult says how a runtime ended when it was stopped.
type ShutdownResult struct {
	// Signal is the signal sent first, "SIGTERM".
	Signal string
	// Exited reports whether the process exited before the bound, without
	// SIGKILL.
	Exited bool
	// Killed reports whether SIGKILL was needed.
	Killed bool
	// ExitCode is the process's exit status; -1 when killed by a signal.
	ExitCode int
	// Elapsed is the time from the signal to the exit.
	Elapsed time.Duration
	// RuntimeFileRemoved reports, for a runtime discovered by its file,
	// whether the file was gone once the process had exited.
	RuntimeFileRemoved *bool
	// Disconnected reports, over v2, whether the runtime's connection had
	// closed once the process had exited.
	Disconnected *bool
}
