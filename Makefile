# edgesync developer targets. `make test` is the README's test command and
# what .ci/run calls; it installs the Node tools the tests need first.
.PHONY: test tools vet

test: tools vet
	go test ./...

vet:
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# dynalite (DynamoDB wire protocol) for the store tests.
tools: tools/node_modules/.package-lock.json

tools/node_modules/.package-lock.json: tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund
