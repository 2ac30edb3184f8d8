# Faxbox: `make run` starts a standalone node on its embedded defaults; `make test` runs the whole suite.
# Both install what they need first (Debian 12, as root or with sudo).

CARGO ?= cargo
CONFIG ?= rel/faxd.toml
export PATH := $(CURDIR)/target/debug:$(PATH)

.PHONY: all build run test bench deps deps-run services-start services-stop lint fmt clean-data

all: build

deps-run:
	bash tests/services/deps.sh run

deps:
	bash tests/services/deps.sh test

build: deps-run
	$(CARGO) build -p faxd -p sup

## Start a standalone node (embedded store, in-process bus); sup is in target/debug.
run: build
	./target/debug/faxd --config $(CONFIG)

services-start: deps
	bash tests/services/rabbitmq.sh start

services-stop:
	bash tests/services/rabbitmq.sh stop

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## The whole suite: unit, protocol, conformance (embedded + CouchDB-compatible server, in-process bus + RabbitMQ),
## crash and whole-system tests. RabbitMQ is started for the run and stopped afterwards.
test: deps
	bash tests/services/run-tests.sh

## Benchmarks, printed as tables next to their peers (not asserted).
bench: deps
	bash tests/services/run-bench.sh

fmt:
	$(CARGO) fmt --all

clean-data:
	rm -rf var
