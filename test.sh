#!/usr/bin/env bash
# Runs every test of genkit-runtime on a machine with Go and Node.js:
# installs the pinned npm packages the end-to-end tests drive (the Genkit
# CLI, its telemetry server, an MCP test server), the SDK fixtures of the
# conformance suite and Debian's chromium (apt-get, when missing), checks
# formatting, vet and staticcheck,
# runs all Go tests with the race detector (end-to-end tests against the real
# CLI included), then a short fuzz smoke run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")"

# A count, not a duration: Go 1.26's fuzzing coordinator can fail a target with
# "context deadline exceeded" when a duration runs out on a loaded machine
# (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME=${FUZZTIME:-20000x}

echo "== npm ci (e2e/node)"
(cd e2e/node && npm ci --no-audit --no-fund --loglevel=error)

echo "== SDK fixtures for the conformance suite (e2e/fixtures)"
(cd e2e/fixtures/js && npm ci --no-audit --no-fund --loglevel=error)
(cd e2e/fixtures/gosdk && go build -o gosdk-fixture .)

echo "== chromium (the conformance HTML report is checked in it, headless)"
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; }; then
    # CI must check the report in a browser; elsewhere the test says why it skips.
    if [ "${CI:-}" = "true" ]; then echo "installing chromium failed"; exit 1; fi
    echo "chromium could not be installed; the HTML report test will be skipped"
  fi
fi

echo "== go mod download"
go mod download

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './e2e/node/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== go test -race"
go test -race -count=1 -timeout 15m ./...

echo "== fuzz smoke (-fuzztime $FUZZTIME per target)"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- $pkg $target"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg"
  done
done
echo "== all tests passed"
