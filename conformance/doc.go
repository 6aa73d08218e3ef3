// Package conformance runs the Reflection API conformance suite: data-driven
// cases, each a short exchange with a Genkit runtime and assertions on what
// comes back, run against one runtime over reflection v1 (HTTP, the runtime
// serves) or v2 (WebSocket JSON-RPC, the runtime dials a manager).
//
// The suite's cases are built into the package (CasesFS, Embedded); Load
// or LoadDir reads other case files into a Suite. Suite.Version is a
// digest of the case set, named in every report. Suite.Run runs the cases
// against a Target and returns a Report, which renders as text, JSON,
// Markdown or JUnit XML (WriteJUnit), and several reports as one Markdown
// matrix (WriteMatrix) or HTML page (WriteHTML). Report.CompareBaseline
// checks a run against the cases it is expected to fail. Rules and
// CoverageOf map the rules of protocol.md §8 to the cases citing them. The
// package never launches anything: package conformance/harness starts a runtime
// command, or attaches to a running one, and builds the Target, with a
// recording telemetry server (Sink) and, for v2, the manager. Tests may
// assemble a Target around in-process servers.
//
// # Case files
//
// A case is a JSON object (see Case): a title, the rules it checks (such as
// "protocol.md §1.3"), optionally the transport it is limited to, the
// action keys it requires (a runtime listing none of an entry's
// '|'-separated alternatives makes the case unsupported, not failed), the
// target capabilities it needs, how to launch its own runtime if it
// controls that (see Launch: environment variables, a v2 manager that
// listens late), notes, and its steps. Unknown members are errors, so a
// misspelt assertion cannot pass silently.
//
// Each step does one thing (see Step) and produces an observation, a JSON
// object, which its expect patterns must match (expectV1 and expectV2 add
// patterns for one transport) and from which save stores variables:
//
//   - http (v1): status, headers (lower-case names), text, length, json
//     (when the body is JSON) or transportError; for /api/runAction also
//     the run members below.
//   - run, and await of a started run: over v1, status, headers, text,
//     json, chunks (each NDJSON line decoded), final (the object after the
//     last newline), framing (trailingNewline, chunkLines, badChunkLines,
//     finalLine, finalKind "result" or "error"), traceId (the
//     X-Genkit-Trace-Id header); over v2, final (the result, or
//     {"error": Status} for an action error), error (the JSON-RPC error),
//     response (the response frame), chunks, states (the runActionState
//     notifications), order (the run's notifications and response in
//     arrival order) and violations (protocol errors the manager saw
//     during the run). Both have earlyTraceIdMs and earlyChunkMs, the time
//     from the trace id's and the first chunk's arrival to the end of the
//     run, and exportedAtEnd, whether the sink held the run's ended root
//     span when its result arrived.
//   - start: started and traceId, once the trace id is known.
//   - hangUp (v1): hungUp, false when the run had already ended; the
//     started run's connection is then closed.
//   - cancel: the answer to /api/cancelAction (v1) or cancelAction (v2).
//   - rpc (v2): result or error, the response frame and, for listActions
//     and listValues, cliAccepts: whether the manager, which validates as
//     the CLI does, accepts the result.
//   - notify (v2): the responses the notification wrongly got, violations
//     and disconnected.
//   - trace: the trace as the sink merged it: complete, posts, invalid
//     (validation errors of its posts), via (the sink paths posted to),
//     spanCount, root, children (by start time), spans (by display name),
//     maxEndPosts, traceLevel, batches (for each post: hasRoot, spanCount
//     and the trace-level fields it carried), startPosts (spans posted
//     while running) and rootStartPosted.
//   - runtimeFile, register and shutdown: the runtime file and its first
//     health check, the v2 register exchange, and how the runtime ended on
//     SIGTERM.
//
// # Patterns
//
// A pattern is JSON matched against an observation. An object matches an
// object having at least the members it names, each matching; an array
// matches an array of the same length, element by element; other values
// match equal values (numbers by value). These strings are placeholders:
//
//	<any> <string> <nonempty> <number> <int> <bool> <object> <array> <null>
//	<traceId>  32 lower-case hex digits, not all zero
//	<spanId>   16 lower-case hex digits, not all zero
//	<absent>   the member must not be there
//
// An object whose only member starts with '$' is an operator:
//
//	{"$exact": p}      p, and no object member p does not name, at any depth
//	{"$literal": v}    exactly v, with no placeholder or operator in v
//	{"$same": path}    equal to the value at path in the same observation
//	{"$regex": re}     a string matching the RE2 expression re
//	{"$contains": p}   a string containing p, or an array with an element matching p
//	{"$each": p}       an array or object whose every element or member matches p
//	{"$len": p}        a string (in bytes), array or object whose length matches p
//	{"$gt": n} {"$gte": n} {"$lt": n} {"$lte": n} {"$range": [lo, hi]}
//	{"$anyOf": [p...]} {"$in": [p...]} {"$allOf": [p...]} {"$not": p}
//	{"$json": p}       a string holding JSON whose value matches p
//	{"$keyed": name}   an object whose every member's name member equals its key
//	{"$keys": p}       an object whose sorted member names match p
//
// $anyOf, $in and $not may match an absent member. A path, in $same and
// save, names members with dots and indexes with brackets, quoting other
// names: final.error.code, chunks[0], headers["x-genkit-trace-id"].
//
// # Variables
//
// "${name}" in a pattern or a step's request is replaced by a variable:
// one saved by an earlier step of the case, or sink.url and sink.altUrl
// (the telemetry sink, and another path of it) or runtime.id. A string that
// is exactly one reference takes the variable's value with its JSON type.
//
// # Schemas
//
// Besides its patterns, every step validates the messages the runtime sent
// during it against the JSON Schemas of package spec (generated from the
// Genkit CLI's zod schemas): over v1 the bodies the step received, by route
// and status; over v2 every frame the manager received (envelope, params,
// and each response's result or run error by its request's method); and
// every trace posted to the sink. An invalid message is a mismatch naming
// the schema file, after the step's own; Report.Schema counts them.
package conformance
