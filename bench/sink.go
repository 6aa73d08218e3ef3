package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// sink is a recording Genkit telemetry server: it accepts POST /api/traces
// (one TraceData per post, as the SDKs send) and counts what arrives.
type sink struct {
	srv *http.Server
	l   net.Listener
	url string

	mu     sync.Mutex // guards counts and ended
	counts sinkCounts
	ended  map[[2]string]struct{} // trace ID, span ID of ended spans seen
}

// sinkCounts is what a sink received since its last reset.
type sinkCounts struct {
	Posts      int64 `json:"posts"`
	SpanStates int64 `json:"spanStates"` // spans in posts, started or ended
	EndedSpans int64 `json:"endedSpans"` // distinct spans received with an end time
	Bytes      int64 `json:"bytes"`
	Bad        int64 `json:"bad"` // posts that were not a TraceData
}

type sinkTrace struct {
	TraceID string `json:"traceId"`
	Spans   map[string]struct {
		EndTime float64 `json:"endTime"`
	} `json:"spans"`
}

func newSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{l: l, url: "http://" + l.Addr().String(), ended: map[[2]string]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/traces", s.traces)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(l)
	return s, nil
}

func (s *sink) traces(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var td sinkTrace
	if err == nil {
		err = json.Unmarshal(body, &td)
	}
	s.mu.Lock()
	s.counts.Posts++
	s.counts.Bytes += int64(len(body))
	if err != nil || td.TraceID == "" {
		s.counts.Bad++
	} else {
		for id, sp := range td.Spans {
			s.counts.SpanStates++
			if sp.EndTime > 0 {
				k := [2]string{td.TraceID, id}
				if _, ok := s.ended[k]; !ok {
					s.ended[k] = struct{}{}
					s.counts.EndedSpans++
				}
			}
		}
	}
	s.mu.Unlock()
	w.Write([]byte("OK"))
}

// take returns the counts since the last take and resets them.
func (s *sink) take() sinkCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts
	s.counts = sinkCounts{}
	clear(s.ended)
	return c
}

func (s *sink) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// closedURL returns the URL of a loopback port nothing listens on: a
// telemetry server that is gone.
func closedURL() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	u := "http://" + l.Addr().String()
	return u, l.Close()
}

// hangServer accepts connections and reads requests but never answers: a
// telemetry server that hangs.
type hangServer struct {
	l   net.Listener
	url string

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newHangServer() (*hangServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hangServer{l: l, url: "http://" + l.Addr().String(), conns: map[net.Conn]struct{}{}}
	h.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns[c] = struct{}{}
			h.mu.Unlock()
			h.wg.Go(func() {
				io.Copy(io.Discard, c)
				c.Close()
				h.mu.Lock()
				delete(h.conns, c)
				h.mu.Unlock()
			})
		}
	})
	return h, nil
}

func (h *hangServer) close() {
	h.l.Close()
	h.mu.Lock()
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}
