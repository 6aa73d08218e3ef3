#!/usr/bin/env bash
# Regenerates the matrix of CONFORMANCE.md: runs the conformance suite
# against genkit-runtime and the JS, Go and Python SDK fixtures, over
# reflection v1 and v2, and renders the eight reports into the file. Installs
# the fixtures when they are not (as ./test.sh does; see
# e2e/fixtures/*/README.md).
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bin="$out/genkit-runtime"
go build -o "$bin" ./cmd/genkit-runtime
(cd e2e/fixtures/js && [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error)
(cd e2e/fixtures/gosdk && go build -o gosdk-fixture .)
(cd e2e/fixtures/python && .venv/bin/python -c 'import genkit' 2>/dev/null || { python3 -m venv .venv &&
  .venv/bin/pip install --quiet --require-hashes --no-deps -r requirements.txt; })
run() { # name, report, args...
  local name=$1 report=$2; shift 2
  "$bin" conformance --name "$name" --json "$out/$report.json" "$@" > "$out/$report.txt" 2>&1 || true
  tail -n 1 "$out/$report.txt"
}
run genkit-runtime grt-v1 --cmd "$bin"
run genkit-runtime grt-v2 --v2 --cmd "$bin"
run "JS SDK 1.42" js-v1 --dir e2e/fixtures/js --cmd 'node index.js'
run "JS SDK 1.42" js-v2 --v2 --dir e2e/fixtures/js --cmd 'node index.js'
run "Go SDK v1.7.0" go-v1 --dir e2e/fixtures/gosdk --cmd ./gosdk-fixture
run "Go SDK v1.7.0" go-v2 --v2 --dir e2e/fixtures/gosdk --cmd ./gosdk-fixture
run "Python SDK 0.12.0" py-v1 --dir e2e/fixtures/python --cmd '.venv/bin/python main.py'
run "Python SDK 0.12.0" py-v2 --v2 --dir e2e/fixtures/python --cmd '.venv/bin/python main.py'
"$bin" conformance merge --update CONFORMANCE.md \
  "$out/grt-v1.json" "$out/grt-v2.json" "$out/js-v1.json" "$out/js-v2.json" "$out/go-v1.json" "$out/go-v2.json" "$out/py-v1.json" "$out/py-v2.json"
