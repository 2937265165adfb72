# edgesync developer targets. `make test` is the README's test command and
# what .ci/run calls: it installs what the tests need (dynalite from npm,
# aws-lambda-rie from the Go module proxy) into tools/, then runs them.
.PHONY: test tools vet

RIE_PACKAGE := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
export AWS_LAMBDA_RIE := $(CURDIR)/tools/bin/aws-lambda-rie
export EDGESYNC_DYNALITE := $(CURDIR)/tools/node_modules/.bin/dynalite

test: tools vet
	go test ./...

vet:
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

tools: tools/node_modules/.package-lock.json $(AWS_LAMBDA_RIE)

# dynalite (DynamoDB wire protocol) for the store tests.
tools/node_modules/.package-lock.json: tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund

# The Lambda runtime interface emulator for the --lambda rie tests.
$(AWS_LAMBDA_RIE):
	GOBIN=$(CURDIR)/tools/bin go install $(RIE_PACKAGE)@$(RIE_VERSION)
