package tracestore

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// The telemetry server is JavaScript; these helpers reproduce the few JS
// conversions its index and listing depend on.

// jsString is JavaScript's String(v) (template-literal conversion) for JSON
// values.
func jsString(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return v.String()
		}
		return jsNumber(f)
	case float64:
		return jsNumber(v)
	case float32:
		return jsNumber(float64(v))
	case int:
		return strconv.Itoa(v)
	case int64:
		return jsNumber(float64(v))
	case map[string]any, map[string]string:
		return "[object Object]"
	case []any:
		return jsJoin(len(v), func(i int) any { return v[i] })
	case []string:
		return jsJoin(len(v), func(i int) any { return v[i] })
	case []bool:
		return jsJoin(len(v), func(i int) any { return v[i] })
	case []int64:
		return jsJoin(len(v), func(i int) any { return v[i] })
	case []float64:
		return jsJoin(len(v), func(i int) any { return v[i] })
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
}

// jsJoin is Array.prototype.join(","): null elements become "".
func jsJoin(n int, at func(int) any) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if e := at(i); e != nil {
			b.WriteString(jsString(e))
		}
	}
	return b.String()
}

// jsNumber is JavaScript's Number.prototype.toString() for a float64.
func jsNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// Shortest round-trip digits d1.d2d3…e±x, as JS uses.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	s := digits[:1]
	if k > 1 {
		s += "." + digits[1:]
	}
	if n-1 >= 0 {
		return sign + s + "e+" + strconv.Itoa(n-1)
	}
	return sign + s + "e-" + strconv.Itoa(1-n)
}

// jsParseInt is Number.parseInt(s, 10): optional leading whitespace and
// sign, then the longest run of decimal digits. ok is false where JS gives
// NaN. Values beyond the int range saturate.
func jsParseInt(s string) (n int, ok bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r\u00a0\ufeff")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	v, err := strconv.Atoi(s[:i])
	if err != nil {
		v = math.MaxInt
	}
	if neg {
		v = -v
	}
	return v, true
}

// maxListAttrLen is the telemetry server's MAX_LIST_ATTR_LENGTH: string
// attributes of listed root spans longer than this many UTF-16 code units
// are cut to it and suffixed with "...".
const maxListAttrLen = 1000

// truncateJS returns s cut to limit UTF-16 code units plus "..." when it is
// longer than that, like JS s.substring(0, limit) + "...". A surrogate pair
// that would be split is dropped whole, since Go strings cannot hold half of
// one.
func truncateJS(s string, limit int) (string, bool) {
	if len(s) <= limit { // a UTF-16 unit takes at least one byte
		return s, false
	}
	units := 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2 // a surrogate pair
		}
		if units+w > limit {
			return s[:i] + "...", true
		}
		units += w
	}
	return s, false
}
