#!/usr/bin/env bash
# Checks spec/ with the pinned Python tools (spec/requirements.txt, installed
# with their hashes into a virtual environment):
#   1. openapi.yaml is a valid OpenAPI 3.1 document (openapi-spec-validator);
#   2. Schemathesis tests the genkit-runtime binary against it: generated
#      requests (examples, coverage and fuzzing phases, positive and negative
#      data) to every documented endpoint over loopback, with every check but
#      unsupported_method (see schemathesis.toml); no 5xx, every status,
#      content type, header and body as documented.
#   3. GET /api/__quitquitquit, left out of the Schemathesis run because it
#      stops the server, answers 200 and the runtime exits.
#
# Environment: SPEC_VENV (default .venv-spec), SCHEMATHESIS_MAX_EXAMPLES
# (default 100 per operation), SCHEMATHESIS_SEED (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${SPEC_VENV:-.venv-spec}
if [ ! -x "$venv/bin/st" ] || ! cmp -s spec/requirements.txt "$venv/.requirements.txt"; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv"; then
    # Debian's python3 needs its venv module from apt.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      rm -rf "$venv"
      apt-get update -qq && apt-get install -y -qq "python3-venv" >/dev/null
      python3 -m venv "$venv"
    else
      echo "python3 -m venv failed; install the venv module (Debian: apt-get install python3-venv)"; exit 1
    fi
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps -r spec/requirements.txt
  cp spec/requirements.txt "$venv/.requirements.txt"
fi

echo "-- openapi-spec-validator (OpenAPI 3.1)"
"$venv/bin/openapi-spec-validator" --schema 3.1 spec/openapi.yaml

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/genkit-runtime" ./cmd/genkit-runtime
mkdir -p "$work/root"
# Trace export goes to a closed loopback port, and /api/notify cannot
# re-point it (GENKIT_TELEMETRY_SERVER wins), so generated URLs go nowhere.
GENKIT_TELEMETRY_SERVER=http://127.0.0.1:9 "$work/genkit-runtime" --root "$work/root" --log-level error \
  >"$work/runtime.log" 2>&1 &
pid=$!
url=
for _ in $(seq 100); do
  f=$(ls "$work/root/.genkit/runtimes/"*.json 2>/dev/null | head -n1 || true)
  if [ -n "$f" ]; then
    url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reflectionServerUrl"])' "$f")
    break
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "genkit-runtime wrote no runtime file"; cat "$work/runtime.log"; exit 1
fi

echo "-- schemathesis against $url"
# From the scratch folder, where Schemathesis keeps its replay data.
repo=$(pwd)
venv=$(cd "$venv" && pwd)
(cd "$work" && "$venv/bin/st" --config-file "$repo/spec/schemathesis.toml" run "$repo/spec/openapi.yaml" \
  --url "$url" \
  --exclude-path /api/__quitquitquit \
  --checks all --exclude-checks unsupported_method \
  --phases examples,coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-100}" \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --workers 2 --request-timeout 10 \
  --generation-database none --no-color)

echo "-- GET /api/__quitquitquit"
status=$(python3 - "$url" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/api/__quitquitquit", timeout=10) as r:
    body = r.read().decode()
    assert r.status == 200 and body == "OK" and r.headers.get("X-Genkit-Version"), (r.status, body, dict(r.headers))
    print(r.status)
EOF
)
echo "answered $status"
for _ in $(seq 100); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  echo "genkit-runtime still running after /api/__quitquitquit"; exit 1
fi
wait "$pid" || { echo "genkit-runtime exited with status $?"; cat "$work/runtime.log"; exit 1; }
pid=
echo "-- spec checks passed"
