# edgesync developer targets. `make test` is the README's test command and
# what .ci/run calls: it installs what the tests need (dynalite, TypeScript
# and playwright-core from npm; aws-lambda-rie and staticcheck from the Go
# module proxy; Debian's Chromium and ShellCheck; schemathesis and
# moto[server] from PyPI), then runs every test.
#
# Tests that need a tool (dynalite, moto, aws-lambda-rie, node, chromium,
# shellcheck) find it in tools/ or .venv (or on PATH) and, with Go alone,
# skip saying `make tools` installs it (internal/testenv). Under make they
# must not skip: a missing tool fails the test.
.PHONY: test tools vet go-test frontend-test api-fuzz chromium shellcheck bench

export EDGESYNC_REQUIRE_TOOLS := 1

RIE_PACKAGE := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
RIE := $(CURDIR)/tools/bin/aws-lambda-rie

# staticcheck 2026.2.2 (module v0.8.2), built for Go 1.26 like this module.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(CURDIR)/tools/bin/staticcheck

# moto[server] from PyPI, into .venv (internal/moto finds it there).
MOTO_VERSION := 5.2.5

test: tools vet go-test frontend-test api-fuzz

vet: $(STATICCHECK)
	go vet ./...
	$(STATICCHECK) ./...
	@scripts/check-no-binaries.sh
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# Every Go test; among them internal/stormsim's reconnect storm of 2,000
# terminals against quotas scaled down 50 times (all resynced, a bounded
# management-API rate, no herd) and internal/capacity's model.
go-test:
	go test ./...

# The committed dashboard scripts (dashboard/web/js) must match their
# TypeScript sources; then the client's tests and the browser tests run
# against the local stack (they compile the client and build and start
# cmd/edgesync-local themselves).
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

# The capacity model and the 100,000-terminal reconnect storm (virtual
# time, under a minute); rewrites SCALE.md's results. The load test of the
# local stack is `go run ./cmd/edgesync-storm -load` (about 10 minutes).
scale:
	go run ./cmd/edgesync-scale -o SCALE.md

tools: tools/node_modules/.package-lock.json $(RIE) $(STATICCHECK) chromium shellcheck
tools: moto

tools/node_modules/.package-lock.json: tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund

# moto[server] (PyPI), the DynamoDB the store's tests run on besides
# dynalite, pinned, into .venv (created here if missing; .ci/run's cfn-lint
# and SAM CLI share it). The stamp file reinstalls on a version change.
.PHONY: moto
moto: .venv/.moto-$(MOTO_VERSION)

.venv/.moto-$(MOTO_VERSION):
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/python -m pip install --quiet --disable-pip-version-check "moto[server]==$(MOTO_VERSION)"
	touch $@

$(RIE):
	GOBIN=$(CURDIR)/tools/bin go install $(RIE_PACKAGE)@$(RIE_VERSION)

$(STATICCHECK):
	GOBIN=$(CURDIR)/tools/bin go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Debian's Chromium for the browser tests (never a downloaded browser).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@chromium --version

# Debian's ShellCheck for the test of localstack/'s scripts (devstack/samlocal).
shellcheck:
	@command -v shellcheck >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }
	@shellcheck --version | sed -n 2p
