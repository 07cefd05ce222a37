# Cuttle's developer entry points. `make help` lists them.

GO      ?= go
PROTOC  ?= protoc
BIN     := bin
VERSION ?= 0.1.0-dev
PROTOS  := proto/usp-record-1-4.proto proto/usp-msg-1-4.proto
FUZZTIME ?= 60s

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build the cuttle binary into bin/
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/cuttle ./cmd/cuttle

.PHONY: run
run: ## run `cuttle up` on its embedded defaults
	$(GO) run ./cmd/cuttle up

.PHONY: test
test: vet ## go vet, then every test with the race detector
	$(GO) test -race -count=1 ./...

.PHONY: vet
vet: ## go vet
	$(GO) vet ./...

.PHONY: lint
lint: vet ## go vet, staticcheck and gofmt
	$(GO) tool staticcheck ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: proto
proto: ## regenerate the Go code from proto/ (protoc + the pinned protoc-gen-go)
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	$(PROTOC) -I proto --plugin=protoc-gen-go=$(BIN)/protoc-gen-go --go_out=. --go_opt=module=cuttle $(PROTOS)

.PHONY: proto-check
proto-check: proto ## fail if the committed generated code is stale
	@git diff --exit-code -- proto/ || (echo "generated code in proto/ is stale: run make proto and commit"; exit 1)
	@test -z "$$(git status --porcelain -- proto/)" || (git status --porcelain -- proto/; echo "untracked generated files in proto/"; exit 1)

.PHONY: bench
bench: ## run the benchmarks
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	$(GO) run ./bench/brokerbench

.PHONY: stress
stress: ## the broker's long stress runs: 20 x all-to-all QoS 1 (10 x 10,000) and 1,000 devices fan-in
	CUTTLE_STRESS_RUNS=20 CUTTLE_STRESS_MSGS=10000 CUTTLE_STRESS_DEVICES=1000 CUTTLE_STRESS_DEVICE_MSGS=50 \
		$(GO) test -count=1 -timeout 30m -run 'TestStress' -v ./broker/

.PHONY: fuzz
fuzz: ## run every Fuzz* target in the repo for FUZZTIME (default 60s) each
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

.PHONY: clean
clean: ## remove build output
	rm -rf $(BIN)
