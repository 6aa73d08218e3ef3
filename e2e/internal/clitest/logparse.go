package clitest

import (
	"net/url"
	"strings"
)

// logURLKind names an address the CLI announces in its log.
type logURLKind int

const (
	kindNone      logURLKind = iota
	kindTelemetry            // telemetry server (@genkit-ai/telemetry-server startTelemetryServer)
	kindUI                   // Developer UI and tools API (tools-common server.ts startServer)
	kindV2                   // reflection v2 WebSocket server (tools-common manager-v2.ts)
)

// parseLogLine reports which address, if any, one line of CLI output
// announces. ANSI colour sequences are ignored.
func parseLogLine(line string) (logURLKind, string) {
	// The texts that precede each address, as printed by genkit-cli 1.43.0.
	markers := [...]struct {
		marker string
		kind   logURLKind
	}{
		{"Telemetry API running on ", kindTelemetry},
		{"Genkit Developer UI: ", kindUI},
		{"Starting reflection server: ", kindV2},
	}
	line = stripANSI(line)
	for _, m := range markers {
		i := strings.Index(line, m.marker)
		if i < 0 {
			continue
		}
		rest := line[i+len(m.marker):]
		if j := strings.IndexAny(rest, " \t\r\n"); j >= 0 {
			rest = rest[:j]
		}
		u, err := url.Parse(rest)
		if err != nil || u.Host == "" || u.Port() == "" {
			return kindNone, ""
		}
		switch {
		case m.kind == kindV2 && u.Scheme == "ws", m.kind != kindV2 && u.Scheme == "http":
			return m.kind, rest
		}
		return kindNone, ""
	}
	return kindNone, ""
}

// stripANSI removes CSI escape sequences (ESC '[' parameters final-byte).
func stripANSI(s string) string {
	if !strings.Contains(s, "\x1b[") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j // skip the final byte as well
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
