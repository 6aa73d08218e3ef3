#!/usr/bin/env bash
# Regenerates CONFORMANCE.md and CONFORMANCE.html: runs the conformance suite
# against genkit-runtime and the JS, Go and Python SDK fixtures, over
# reflection v1 and v2, renders the reports into the matrix of CONFORMANCE.md
# and into CONFORMANCE.html (one self-contained page), and rewrites the map of
# the suite's coverage of protocol.md §8. Installs the fixtures when they are
# not (as ./test.sh does; see e2e/fixtures/*/README.md).
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
reports=()
run() { # name, report, args...
  local name=$1 report=$2; shift 2
  "$bin" conformance --name "$name" --json "$out/$report.json" "$@" > "$out/$report.txt" 2>&1 || true
  tail -n 1 "$out/$report.txt"
  reports+=("$out/$report.json")
}
run genkit-runtime grt-v1 --cmd "$bin"
run genkit-runtime grt-v2 --v2 --cmd "$bin"
run "JS SDK 1.42" js-v1 --dir e2e/fixtures/js --cmd 'node index.js'
run "JS SDK 1.42" js-v2 --v2 --dir e2e/fixtures/js --cmd 'node index.js'
run "Go SDK v1.7.0" go-v1 --dir e2e/fixtures/gosdk --cmd ./gosdk-fixture
run "Go SDK v1.7.0" go-v2 --v2 --dir e2e/fixtures/gosdk --cmd ./gosdk-fixture
run "Python SDK 0.12.0" py-v1 --dir e2e/fixtures/python --cmd '.venv/bin/python main.py'
run "Python SDK 0.12.0" py-v2 --v2 --dir e2e/fixtures/python --cmd '.venv/bin/python main.py'
"$bin" conformance merge --update CONFORMANCE.md --html CONFORMANCE.html "${reports[@]}"
"$bin" conformance coverage --update CONFORMANCE.md
