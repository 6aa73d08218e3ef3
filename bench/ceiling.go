package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// The ceiling is the least a server can do for each scenario with plain
// net/http and encoding/json: it decodes the run request, echoes the input
// as {"result","telemetry"}, streams {"index":i} lines flushing each, and
// serves the listing as fixed bytes. It runs as a child process of the
// harness (-serve-ceiling), so its CPU is measured the same way as the
// servers under test. With GENKIT_REFLECTION_V2_SERVER set it is the least
// a Reflection API v2 runtime can do instead (see serveCeilingV2).

// ceilingTraceID is the fixed trace ID the ceiling reports.
const ceilingTraceID = "00000000000000000000000000000001"

type ceilingRequest struct {
	Key   string          `json:"key"`
	Input json.RawMessage `json:"input"`
}

type ceilingTelemetry struct {
	TraceID string `json:"traceId"`
}

type ceilingResult struct {
	Result    any              `json:"result"`
	Telemetry ceilingTelemetry `json:"telemetry"`
}

type ceilingChunk struct {
	Index int `json:"index"`
}

// ceilingHandler returns the bare handler; listing is the body of GET
// /api/actions.
func ceilingHandler(listing []byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/__health", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("OK"))
	})
	mux.HandleFunc("GET /api/actions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(listing)
	})
	mux.HandleFunc("POST /api/runAction", func(w http.ResponseWriter, r *http.Request) {
		var req ceilingRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.URL.Query().Get("stream") != "true" {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(ceilingResult{Result: req.Input, Telemetry: ceilingTelemetry{TraceID: ceilingTraceID}})
			return
		}
		var in struct {
			Count int `json:"count"`
		}
		json.Unmarshal(req.Input, &in)
		w.Header().Set("Content-Type", "text/plain")
		rc := http.NewResponseController(w)
		enc := json.NewEncoder(w)
		for i := range in.Count {
			if err := enc.Encode(ceilingChunk{Index: i}); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
		b, _ := json.Marshal(ceilingResult{Result: in, Telemetry: ceilingTelemetry{TraceID: ceilingTraceID}})
		w.Write(b)
	})
	return mux
}

// serveCeiling is the -serve-ceiling mode: serve the ceiling on
// 127.0.0.1:$GENKIT_REFLECTION_PORT until SIGTERM, or, with
// GENKIT_REFLECTION_V2_SERVER set, dial that manager and serve it.
func serveCeiling(listingPath string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if u := os.Getenv("GENKIT_REFLECTION_V2_SERVER"); u != "" {
		return serveCeilingV2(ctx, u)
	}
	var listing []byte
	if listingPath != "" {
		b, err := os.ReadFile(listingPath)
		if err != nil {
			return err
		}
		listing = b
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", os.Getenv("GENKIT_REFLECTION_PORT")))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: ceilingHandler(listing), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// The v2 ceiling is a Reflection API v2 runtime written with
// gorilla/websocket and encoding/json and nothing else: it dials the
// manager, registers, and answers each runAction in a goroutine of its own
// with what the v1 ceiling sends, as the protocol carries it: one
// runActionState with the fixed trace ID, then, for a stream, one
// streamChunk notification {"index":i} per chunk, then the response. It
// answers listActions with the flows the scenarios run.

// ceilingV2Actions is the v2 ceiling's listActions result.
var ceilingV2Actions = json.RawMessage(`{"actions":{` +
	`"/flow/echo":{"key":"/flow/echo","name":"echo"},` +
	`"/flow/greet":{"key":"/flow/greet","name":"greet"},` +
	`"/flow/steps":{"key":"/flow/steps","name":"steps"},` +
	`"/flow/count":{"key":"/flow/count","name":"count"}}}`)

// ceilingV2In is a message from the manager: a request, a notification or
// the answer to register.
type ceilingV2In struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

type ceilingV2Response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *ceilingV2Error `json:"error,omitempty"`
}

type ceilingV2Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type ceilingV2Notification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

type ceilingV2Request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      string `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

type ceilingV2Register struct {
	ID            string   `json:"id"`
	PID           int      `json:"pid"`
	Name          string   `json:"name"`
	GenkitVersion string   `json:"genkitVersion"`
	ReflectionAPI int      `json:"reflectionApiSpecVersion"`
	Envs          []string `json:"envs"`
}

type ceilingV2Run struct {
	Key    string          `json:"key"`
	Input  json.RawMessage `json:"input"`
	Stream bool            `json:"stream"`
}

type ceilingV2State struct {
	RequestID string           `json:"requestId"`
	State     ceilingTelemetry `json:"state"`
}

type ceilingV2Chunk struct {
	RequestID string       `json:"requestId"`
	Chunk     ceilingChunk `json:"chunk"`
}

// ceilingV2Conn is the v2 ceiling's connection; writes are serialized.
type ceilingV2Conn struct {
	ws  *websocket.Conn
	wmu sync.Mutex // guards writes to ws
}

// write sends v as one text frame. A failed write means the manager is
// gone, which the read loop notices.
func (c *ceilingV2Conn) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// serveCeilingV2 is the v2 ceiling: it serves the manager at url until ctx
// ends or the manager closes the connection.
func serveCeilingV2(ctx context.Context, url string) error {
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		return err
	}
	c := &ceilingV2Conn{ws: ws}
	closed := make(chan struct{})
	defer close(closed)
	go func() {
		select {
		case <-ctx.Done():
			ws.Close()
		case <-closed:
		}
	}()
	pid := os.Getpid()
	reg := ceilingV2Register{ID: "ceiling-" + strconv.Itoa(pid), PID: pid, Name: "ceiling", GenkitVersion: "bench/ceiling",
		ReflectionAPI: 1, Envs: []string{"dev"}}
	if err := c.write(ceilingV2Request{JSONRPC: "2.0", ID: "1", Method: "register", Params: reg}); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			ws.Close()
			if ctx.Err() != nil || websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				return nil
			}
			return err
		}
		var in ceilingV2In
		if json.Unmarshal(data, &in) != nil {
			continue
		}
		switch in.Method {
		case "runAction":
			wg.Go(func() { c.run(in.ID, in.Params) })
		case "listActions":
			c.write(ceilingV2Response{JSONRPC: "2.0", ID: in.ID, Result: ceilingV2Actions})
		case "":
			// A response: the answer to register.
		default:
			if in.ID != nil {
				c.write(ceilingV2Response{JSONRPC: "2.0", ID: in.ID, Error: &ceilingV2Error{Code: -32601, Message: "Method not found: " + in.Method}})
			}
		}
	}
}

// run answers one runAction request.
func (c *ceilingV2Conn) run(id, params json.RawMessage) {
	var req ceilingV2Run
	if err := json.Unmarshal(params, &req); err != nil {
		c.write(ceilingV2Response{JSONRPC: "2.0", ID: id, Error: &ceilingV2Error{Code: -32602, Message: err.Error()}})
		return
	}
	// The requestId of notifications is the request id as a string.
	var requestID string
	if json.Unmarshal(id, &requestID) != nil {
		requestID = string(id)
	}
	if err := c.write(ceilingV2Notification{JSONRPC: "2.0", Method: "runActionState",
		Params: ceilingV2State{RequestID: requestID, State: ceilingTelemetry{TraceID: ceilingTraceID}}}); err != nil {
		return
	}
	result := any(req.Input)
	if req.Stream {
		var in struct {
			Count int `json:"count"`
		}
		json.Unmarshal(req.Input, &in)
		for i := range in.Count {
			if err := c.write(ceilingV2Notification{JSONRPC: "2.0", Method: "streamChunk",
				Params: ceilingV2Chunk{RequestID: requestID, Chunk: ceilingChunk{Index: i}}}); err != nil {
				return
			}
		}
		result = in
	}
	c.write(ceilingV2Response{JSONRPC: "2.0", ID: id, Result: ceilingResult{Result: result, Telemetry: ceilingTelemetry{TraceID: ceilingTraceID}}})
}
