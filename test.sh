#!/usr/bin/env bash
# Runs every test of genkit-runtime on a machine with Go, Node.js and Python:
# installs the pinned npm packages the end-to-end tests drive (the Genkit
# CLI, its telemetry server, an MCP test server) and the SDK fixtures of the
# conformance suite (JS, Go, and Python in a virtual environment from
# hash-pinned requirements), Debian's chromium (apt-get, when missing; the
# conformance HTML report is checked in it), builds the pinned Jaeger the
# OTLP tests export to, checks that spec/schemas is what the pinned CLI's zod
# schemas generate, validates spec/openapi.yaml and runs Schemathesis against
# the binary (spec/check.sh, with pinned PyPI packages in a virtual
# environment), checks formatting, vet and staticcheck (with the doc checks
# of staticcheck.conf), runs all Go tests with the race detector (end-to-end
# tests against the real CLI included), the concurrency tests again many
# times, then a short fuzz smoke run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")"

# A count, not a duration: Go 1.26's fuzzing coordinator can fail a target with
# "context deadline exceeded" when a duration runs out on a loaded machine
# (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME=${FUZZTIME:-20000x}
CONCURRENT_COUNT=${CONCURRENT_COUNT:-100}

echo "== npm ci (e2e/node)"
(cd e2e/node && npm ci --no-audit --no-fund --loglevel=error)

echo "== spec/schemas match the pinned CLI's zod schemas"
node spec/generate.js --check

echo "== SDK fixtures for the conformance suite (e2e/fixtures)"
(cd e2e/fixtures/js && npm ci --no-audit --no-fund --loglevel=error)
(cd e2e/fixtures/gosdk && go build -o gosdk-fixture .)
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  # Debian's own Python keeps venv's pip bootstrap in a package of its own.
  apt-get update && apt-get install -y --no-install-recommends python3-venv
fi
(cd e2e/fixtures/python && python3 -m venv .venv &&
  .venv/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.txt)

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

# Jaeger (pinned in the tools module tools/jaeger) for the OTLP end-to-end
# tests. The first build on a machine takes minutes; the Go build cache
# makes later ones a link, or nothing when the binary is up to date.
echo "== jaeger (tools/jaeger)"
time (cd tools/jaeger && go build -o jaeger github.com/jaegertracing/jaeger/cmd/jaeger)

echo "== spec: openapi.yaml as OpenAPI 3.1, Schemathesis against the binary"
./spec/check.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './e2e/node/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck (staticcheck.conf adds the doc checks)"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== go test -race"
go test -race -count=1 -timeout 25m ./...

# The ConcurrentSafe tests hammer one shared value (registry, trace store,
# exporter, v1 runs) from many goroutines; repeated, the race detector gets
# many interleavings to look at.
echo "== concurrency tests, repeated (-race -count=$CONCURRENT_COUNT)"
go test -race -count="$CONCURRENT_COUNT" -run 'ConcurrentSafe' ./...

echo "== fuzz smoke (-fuzztime $FUZZTIME per target)"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- $pkg $target"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg"
  done
done
echo "== all tests passed"
