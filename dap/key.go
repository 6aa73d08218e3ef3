package dap

import (
	"strings"

	"github.com/genkit-runtime/genkit-runtime/status"
)

// ActionType is the action type of a dynamic action provider's own action,
// and the first segment of every key it serves.
const ActionType = "dynamic-action-provider"

// keyPrefix starts every dynamic action provider key.
const keyPrefix = "/" + ActionType

// Key returns the key a provider named host serves: the provider's own key,
// "/dynamic-action-provider/<host>", when typ is empty, else the expanded key
// "/dynamic-action-provider/<host>:<typ>/<name>" of a provided action.
func Key(host, typ, name string) string {
	if typ == "" {
		return keyPrefix + "/" + host
	}
	return keyPrefix + "/" + host + ":" + typ + "/" + name
}

// IsKey reports whether key is a dynamic action provider key, well formed
// or not: its first segment is "dynamic-action-provider".
func IsKey(key string) bool {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	return ok && (rest == "" || rest[0] == '/' || rest[0] == ':')
}

// ParseKey splits a dynamic action provider key into the provider's name
// (host), and the type and name of a provided action. For the provider's own
// key, "/dynamic-action-provider/<host>", typ and name are empty.
//
// It follows the JS runtime's parseRegistryKey: the key is split on ':',
// the part before it is "/dynamic-action-provider/<host>" and the part after
// it "<type>/<name>", where the name may contain '/'. It is stricter where
// JS silently truncates: a host with '/', a second ':' and empty parts are
// errors rather than ignored, and only keys whose first segment is exactly
// "dynamic-action-provider" are parsed (JS also matches longer words by
// prefix). A name of "*" or ending in "*" parses; it is a listing pattern
// that never resolves.
//
// Errors are INVALID_ARGUMENT *status.Error values.
func ParseKey(key string) (host, typ, name string, err error) {
	if !IsKey(key) {
		return "", "", "", malformed(key, "its first segment is not "+ActionType)
	}
	rest := strings.TrimPrefix(key, keyPrefix)
	hostPart, action, hasAction := strings.Cut(rest, ":")
	host, ok := strings.CutPrefix(hostPart, "/")
	switch {
	case !ok || host == "":
		return "", "", "", malformed(key, "it names no provider")
	case strings.Contains(host, "/"):
		return "", "", "", malformed(key, "the provider name contains '/'")
	case !hasAction:
		return host, "", "", nil
	case strings.Contains(action, ":"):
		return "", "", "", malformed(key, "it has more than one ':'")
	}
	typ, name, ok = strings.Cut(action, "/")
	switch {
	case typ == "":
		return "", "", "", malformed(key, "it names no action type after ':'")
	case !ok || name == "":
		return "", "", "", malformed(key, "it names no action after the type")
	}
	return host, typ, name, nil
}

func malformed(key, why string) error {
	return status.Errorf(status.InvalidArgument,
		"malformed dynamic action provider key %q: %s; want /%s/<provider>[:<type>/<name>]", key, why, ActionType)
}

// isPattern reports whether name is a listing pattern ("*" or "prefix*"),
// which the JS runtime accepts when resolving tool names for generation but
// never when looking up a single action.
func isPattern(name string) bool { return strings.HasSuffix(name, "*") }
