# edgesync developer targets. `make test` is the README's test command and
# what .ci/run calls: it installs what the tests need (dynalite, TypeScript
# and playwright-core from npm; aws-lambda-rie from the Go module proxy;
# Debian's Chromium; schemathesis from PyPI), then runs every test.
.PHONY: test tools vet go-test frontend-test api-fuzz chromium bench

RIE_PACKAGE := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
export AWS_LAMBDA_RIE := $(CURDIR)/tools/bin/aws-lambda-rie
export EDGESYNC_DYNALITE := $(CURDIR)/tools/node_modules/.bin/dynalite

test: tools vet go-test frontend-test api-fuzz

vet:
	go vet ./...
	@scripts/check-no-binaries.sh
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

go-test:
	go test ./...

# The committed client and dashboard builds must match their TypeScript
# sources; then the client's tests and the browser tests run against the
# local stack (they build and start cmd/edgesync-local themselves).
frontend-test:
	scripts/check-generated.sh
	node --test --test-concurrency=1 client/test/*.test.mjs browsertest/*.test.mjs

# schemathesis (PyPI, into .venv) fuzzes the HTTP API of a running local
# stack from its OpenAPI document: no 5xx, no answer outside the schema.
api-fuzz:
	scripts/schemathesis.sh

# The cost, latency and cold-start benchmark; rewrites BENCHMARKS.md.
bench: tools
	go run ./cmd/edgesync-bench -o BENCHMARKS.md

tools: tools/node_modules/.package-lock.json $(AWS_LAMBDA_RIE) chromium

tools/node_modules/.package-lock.json: tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund

$(AWS_LAMBDA_RIE):
	GOBIN=$(CURDIR)/tools/bin go install $(RIE_PACKAGE)@$(RIE_VERSION)

# Debian's Chromium for the browser tests (never a downloaded browser).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@chromium --version
