# tickertape — the README's two commands are `make run` and `make test`.
# Both install what is missing first (see .ci/setup).

SHELL := /bin/bash
# wasm-opt (npm package binaryen) lives in frontend/node_modules, Playwright in end2end/.
export PATH := $(CURDIR)/frontend/node_modules/.bin:$(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
# Leptos bakes the wasm file name into the server at compile time from this
# variable (cargo-leptos sets it); plain cargo builds must agree, or the page
# asks for tickertape_bg.wasm and never hydrates.
export LEPTOS_OUTPUT_NAME := tickertape

.PHONY: run build test unit e2e lint protocol-types bench fuzz screenshots setup-build setup-test

# cargo-leptos re-runs wasm-bindgen and wasm-opt on every build (~15 s), so the
# release build is redone only when a source file is newer than its stamp.
SOURCES := $(shell find app frontend server style public -type f -not -path '*/node_modules/*') Cargo.toml Cargo.lock
BUILT := target/site/.release-built

## Serve the dashboard on the simulated feed at http://127.0.0.1:3000
run: build
	./target/release/tickertape

## Release build: ./target/release/tickertape plus the site in target/site
build: setup-build
	@[ -x target/release/tickertape ] && [ -f target/site/pkg/tickertape.wasm ] || rm -f $(BUILT)
	@$(MAKE) --no-print-directory $(BUILT)

$(BUILT): $(SOURCES)
	cargo leptos build --release
	@touch $@

## Every test: unit + integration (cargo), then Playwright against the release build
test: setup-test unit build e2e

unit:
	cargo test -p app -p tickertape

e2e:
	cd end2end && npx playwright test --project e2e

## Formatting, lints for both the server (ssr) and browser (hydrate) builds, no module import cycles, and docs/protocol current
lint: setup-build
	node .ci/module-cycles.js server/src app/src
	cargo fmt --all -- --check
	cargo clippy -p app -p tickertape --all-targets --features app/ssr -- -D warnings
	cargo clippy -p app -p frontend --all-targets --target wasm32-unknown-unknown --features app/hydrate -- -D warnings
	@scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && \
	$(PROTOCOL_TYPES) -- "$$scratch" && \
	{ diff -u docs/protocol/tickertape.ts "$$scratch/tickertape.ts" && diff -ru docs/protocol/schema "$$scratch/schema"; } || \
	{ echo "docs/protocol is not what app/src/protocol.rs gives: run 'make protocol-types' ($(PROTOCOL_TYPES)) and commit the result" >&2; exit 1; }
	tsc --noEmit --strict --target es2022 --module commonjs docs/protocol/tickertape.ts docs/protocol/samples.ts

## Protocol v1 for other languages, from app/src/protocol.rs: docs/protocol/tickertape.ts and docs/protocol/schema/*.json
PROTOCOL_TYPES := cargo run -q -p app --features typescript --example protocol-types
protocol-types:
	$(PROTOCOL_TYPES)

## Benchmarks: tickertape vs a Node.js ws peer (JSON and binary clients, an overload curve), one edge vs two on NATS, a resync storm, a cluster resync, a restart under 10,000 clients and a 30-minute soak; writes BENCHMARKS.md (~90 min)
bench: setup-test build
	cargo build --release -p tickertape --bin tickertape-loadgen
	cd bench && npm ci --no-audit --no-fund
	node bench/bench.js

## Fuzz every parser a peer can reach, FUZZ_SECONDS each (default 120); needs nightly Rust
FUZZ_SECONDS ?= 120
FUZZ_TARGETS := client_message binary_frames provider_messages replay_csv quote_rules
fuzz:
	@cargo +nightly fuzz --version >/dev/null 2>&1 || cargo +nightly install cargo-fuzz --locked
	@for target in $(FUZZ_TARGETS); do \
		echo "==> fuzzing $$target for $(FUZZ_SECONDS) s"; \
		cargo +nightly fuzz run --fuzz-dir bench/fuzz $$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

## Regenerate the README screenshots in docs/screenshots
screenshots: build
	cd end2end && npx playwright test --project screenshots

setup-build:
	@.ci/setup build

setup-test:
	@.ci/setup test
