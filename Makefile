# silocompro-targeting: the two commands are `make demo` and `make test` (README.md).
# Every target sets up what it needs (virtualenvs, broker, cluster) and is safe to rerun.

SHELL := /bin/bash
PYTHON ?= python3.11
KAFKA_BOOTSTRAP ?= 127.0.0.1:9092
export KAFKA_BOOTSTRAP

VENV := .venv
PY := $(VENV)/bin/python
# Keyed on pyproject.toml's content: a changed pin rebuilds the venv, an unchanged one never does.
STAMP := $(VENV)/.stamp-$(firstword $(shell sha256sum pyproject.toml))

# JVM artifacts from Maven Central (jvm/*/pom.xml, pinned): the Apache Kafka broker and the
# Flink Kafka connector, copied into .cache/jvm/<name>/lib; Maven's own cache is .cache/m2.
# Keyed on each pom's content, so a second run downloads nothing.
MAVEN_REPO := $(CURDIR)/.cache/m2
JVM_CACHE := .cache/jvm
jar_stamp = $(JVM_CACHE)/$(1)/.stamp-$(firstword $(shell sha256sum jvm/$(1)/pom.xml))
KAFKA_JARS := $(call jar_stamp,kafka-broker)
CONNECTOR_JARS := $(call jar_stamp,flink-connector)
# The job's own Java operators (jvm/records: parsing the common shapes on the JVM), compiled
# against the Flink jars inside the PyFlink wheel, so they always match the job's Flink;
# rebuilt when a source or the venv changes, never downloaded.
RECORDS_SRC := $(shell find jvm/records/src -name '*.java')
RECORDS_JAR := $(JVM_CACHE)/records/records.jar
PYFLINK_LIB := $(VENV)/lib/python3.11/site-packages/pyflink/lib

# The experiment token is a secret: from SILOCOMPRO_TOKEN / SILOCOMPRO_TOKEN_FILE, or for
# local runs a random one generated once into .run/token (never committed, never printed).
# `make submit TOKEN=...` (the line the experiment console prints) hands it to the job as
# SILOCOMPRO_TOKEN: never on a recipe line (make echoes those), and dropped from TOKEN and
# MAKEFLAGS, which every process started from here (the Flink cluster too) would inherit.
ifdef TOKEN
export SILOCOMPRO_TOKEN := $(TOKEN)
unexport TOKEN
MAKEOVERRIDES := $(filter-out TOKEN=%,$(MAKEOVERRIDES))
endif
LOCAL_TOKEN := .run/token
ifeq ($(SILOCOMPRO_TOKEN)$(SILOCOMPRO_TOKEN_FILE),)
export SILOCOMPRO_TOKEN_FILE := $(CURDIR)/$(LOCAL_TOKEN)
endif

SESSIONS ?= 3000
MALFORMED ?= 0.02
RATE ?= 400
JOB_ARGS ?=
BENCH_ARGS ?=
EXPERIMENT_ARGS ?=
MONITOR_ARGS ?=
PYTEST_ARGS ?=
JOB_RUNNING = $(PY) -m local.cluster jobs | grep -q "RUNNING.*silocompro-targeting"
# Is something listening on host:port? A bare TCP connect: it sends nothing, so a secured or
# proxied broker never sees a plaintext request from it.
LISTENING = (exec 3<>/dev/tcp/$(subst :,/,$(1))) 2>/dev/null

# The console's browser test: playwright-core pinned by package-lock.json, Debian's chromium.
BROWSER_DIR := tests/console/browser
BROWSER_STAMP := $(BROWSER_DIR)/node_modules/.stamp-$(firstword $(shell sha256sum $(BROWSER_DIR)/package-lock.json))
CHROMIUM := /usr/bin/chromium
# apt-get as root, or through sudo; a clear error otherwise.
APT_INSTALL = if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	  echo "error: $(1) is missing; install it as root: apt-get install $(2)" >&2; exit 1; fi; \
	$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2)

include training/training.mk

.PHONY: demo test lint help setup jars profile check-python check-maven broker-up broker-down cluster-up cluster-down submit job-up run \
        feed status down clean token model plan experiment bench stop reliability model-push model-list model-retire \
        console browser-deps monitor

## demo: the first command — broker, cluster, model, job, a few thousand sessions, results
demo: job-up
	$(PY) -m local.demo --sessions $(SESSIONS) --malformed $(MALFORMED) --rate $(RATE)
	@echo; echo "The job keeps running: Flink UI http://localhost:$${FLINK_REST_PORT:-8081}," \
	  "more sessions with 'make feed', everything stopped with 'make down'."

## test: the second command — unit, MiniCluster, end-to-end (real broker), console (real browser) and training tests
test: setup jars training-venv browser-deps
	$(PY) -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-training

setup: $(STAMP) $(CONNECTOR_JARS) $(RECORDS_JAR)

## lint: ruff (lint and format check, pyproject.toml) and the import-cycle check (.ci/import_cycles.py)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) .ci/import_cycles.py

## help: this list (from the ## comments of the Makefiles)
help:
	@awk '/^## [a-z-]+:/ { sub(/^## /, ""); split($$0, part, ": "); printf "  make %-13s %s\n", part[1], substr($$0, length(part[1]) + 3); next } \
	     /^## / { sub(/^## /, ""); printf "  %-18s %s\n", "", $$0 }' $(MAKEFILE_LIST)

## jars: the Kafka broker's and the Flink Kafka connector's jars from Maven Central (cached in .cache/), the job's own (jvm/records)
jars: $(KAFKA_JARS) $(CONNECTOR_JARS) $(RECORDS_JAR)

check-maven:
	@command -v mvn >/dev/null || { echo "error: Maven (mvn) not found; it resolves the Kafka broker and the Flink connector from Maven Central: apt-get install maven" >&2; exit 1; }

$(KAFKA_JARS) $(CONNECTOR_JARS): $(JVM_CACHE)/%: | check-maven
	@name=$$(echo $@ | cut -d/ -f3); rm -rf $(JVM_CACHE)/$$name; echo "resolving jvm/$$name/pom.xml from Maven Central"; \
	mvn -q -B -Dstyle.color=never -Dmaven.repo.local=$(MAVEN_REPO) -f jvm/$$name/pom.xml \
	  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(JVM_CACHE)/$$name/lib
	@touch $@

$(RECORDS_JAR): $(RECORDS_SRC) $(STAMP)
	@command -v javac >/dev/null || { echo "error: javac not found; jvm/records needs a JDK 17: apt-get install openjdk-17-jdk-headless" >&2; exit 1; }
	@echo "compiling jvm/records against PyFlink's Flink"; rm -rf $(JVM_CACHE)/records; mkdir -p $(JVM_CACHE)/records/classes
	javac --release 17 -Xlint:all -Werror -d $(JVM_CACHE)/records/classes -cp '$(PYFLINK_LIB)/*' $(RECORDS_SRC)
	jar cf $@ -C $(JVM_CACHE)/records/classes .

check-python:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or pass PYTHON=/path/to/python3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "error: $(PYTHON) is not Python 3.11 (PyFlink 2.2 + this lock need 3.11)" >&2; exit 1; }
	@command -v java >/dev/null || [ -n "$$JAVA_HOME" ] || { echo "error: Java not found; install JDK 17 (apt-get install openjdk-17-jdk-headless) or set JAVA_HOME" >&2; exit 1; }

$(STAMP): pyproject.toml | check-python
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

token:
	@if [ -z "$$SILOCOMPRO_TOKEN" ] && [ ! -s "$$SILOCOMPRO_TOKEN_FILE" ]; then \
	  mkdir -p .run && (umask 077; $(PY) -c 'import secrets; print(secrets.token_hex(16))' > "$$SILOCOMPRO_TOKEN_FILE") && \
	  echo "generated a local experiment token in $$SILOCOMPRO_TOKEN_FILE"; fi

## model: reuse pmml/model.pmml when present, else train one on synthetic data
model:
	@if [ -f pmml/model.pmml ] && [ -f pmml/model.json ]; then echo "using pmml/model.pmml"; \
	else $(MAKE) --no-print-directory train; fi

## broker-up: a single-node Apache Kafka broker (KRaft) at KAFKA_BOOTSTRAP, log in .run/kafka, the job's topics
broker-up: setup $(KAFKA_JARS)
	$(PY) -m local.broker up

## broker-down: stop the local broker (its data stays in .run/kafka)
broker-down: setup
	$(PY) -m local.broker down

## cluster-up: the local standalone Flink cluster (PyFlink's distribution; config from flink-conf.yaml)
cluster-up: setup
	$(PY) -m local.cluster up

## cluster-down: stop the local Flink cluster
cluster-down: setup
	$(PY) -m local.cluster down

## submit: flink run -py job/main.py on the cluster at FLINK_REST_PORT, replacing (cancelling) an active job of the
## same name, so exactly one job answers. Starts the local broker and cluster when nothing listens where they
## should be. TOKEN=... for an experiment console's token, FROM_SAVEPOINT=path to resume
submit: setup token
	@if ! $(call LISTENING,$(KAFKA_BOOTSTRAP)) && [[ "$(KAFKA_BOOTSTRAP)" =~ ^(127\.0\.0\.1|localhost):[0-9]+$$ ]]; then \
	  $(MAKE) --no-print-directory broker-up; fi
	@$(call LISTENING,localhost:$${FLINK_REST_PORT:-8081}) || $(MAKE) --no-print-directory cluster-up
	$(PY) -m local.cluster submit --replace $(if $(FROM_SAVEPOINT),--from-savepoint $(FROM_SAVEPOINT)) -- $(JOB_ARGS)

## job-up: broker, cluster and model, then the job unless it already runs
job-up: setup broker-up cluster-up model token
	@if $(JOB_RUNNING); then echo "job already running on the local cluster"; \
	else $(MAKE) --no-print-directory submit; fi

## plan: per-arm sample size of the A/B test (ALPHA, POWER, MDE, SD, SIDED, SPLIT, N override conf/economics.yaml)
plan: setup
	@$(PY) -m experiment.plan_cli $(if $(ALPHA),--alpha $(ALPHA)) $(if $(POWER),--power $(POWER)) \
	  $(if $(MDE),--mde $(MDE)) $(if $(SD),--sd $(SD)) $(if $(SIDED),--sided $(SIDED)) \
	  $(if $(SPLIT),--split $(SPLIT)) $(if $(N),--n $(N))

## experiment: the A/B test on the local platform against the running job (EXPERIMENT_SESSIONS=N for a quick look)
experiment: job-up
	$(PY) -m experiment.platform $(if $(EXPERIMENT_SESSIONS),--sessions $(EXPERIMENT_SESSIONS)) $(EXPERIMENT_ARGS)

## bench: scoring engines + the job end to end vs a pass-through ceiling and a plain-consumer peer (BENCH_ARGS=--quick)
bench: setup jars
	$(PY) -m benchmarks $(BENCH_ARGS)

## profile: py-spy on the job's TaskManager under paced load (PROFILE_ARGS="--rate 600 --seconds 20")
profile: setup jars
	$(PY) -m benchmarks.profile $(PROFILE_ARGS)

## monitor: the model monitoring page from topic_model_monitoring (.run/monitor/index.html; MONITOR_ARGS=...)
monitor: setup
	$(PY) -m local.monitor_page $(MONITOR_ARGS)

## console: the experiment console on http://127.0.0.1:8050 (CONSOLE_PORT=..., CONSOLE_HOST=...; conf/console.yaml)
console: setup
	$(PY) -m console $(if $(CONSOLE_HOST),--host $(CONSOLE_HOST)) $(if $(CONSOLE_PORT),--port $(CONSOLE_PORT))

## browser-deps: what the console's browser test needs (npm ci of playwright-core, Debian's chromium)
browser-deps: $(BROWSER_STAMP) | $(CHROMIUM)

$(BROWSER_STAMP): $(BROWSER_DIR)/package-lock.json
	@command -v npm >/dev/null || { $(call APT_INSTALL,npm,nodejs npm); }
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund
	touch $@

$(CHROMIUM):
	@$(call APT_INSTALL,$(CHROMIUM),chromium)

## run: the job in a local MiniCluster in the foreground (Ctrl-C stops it)
run: setup token
	$(PY) -m job.main $(JOB_ARGS)

## feed: more demo sessions to the running job (SESSIONS, RATE, MALFORMED)
feed: setup
	$(PY) -m local.demo --sessions $(SESSIONS) --malformed $(MALFORMED) --rate $(RATE)

## status: what of the local broker and cluster runs
status: setup
	@$(PY) -m local.broker status
	@$(PY) -m local.cluster status

## down: stop the local cluster and broker
down: setup
	-$(PY) -m local.cluster down
	-$(PY) -m local.broker down

## clean: down, and remove .run (broker data, checkpoints, logs)
clean: down
	rm -rf .run

## stop: stop the job with a savepoint (JOB=id or name, default the configured one); prints the path for FROM_SAVEPOINT
stop: setup
	$(PY) -m local.cluster stop $(if $(JOB),--job $(JOB))

## reliability: TaskManager kill, savepoint resume, sink outage, fuzz, join edge cases, model and secret checks,
## on a broker + cluster of its own (free ports); ends with the table of sessions sent, decided, lost, duplicated
reliability: setup jars
	$(PY) -m pytest tests/reliability $(PYTEST_ARGS)

## model-push: publish a model to the running job: MODEL=path.pmml [NAME= VERSION= THRESHOLD=] and SHARE=0..1 (default 1, a swap) or SHADOW=1
model-push: setup
	@test -n "$(MODEL)" || { echo "error: MODEL=path/to/model.pmml is required (its metadata JSON beside it)" >&2; exit 2; }
	$(PY) -m job.model_cli push $(MODEL) $(if $(NAME),--name $(NAME)) $(if $(VERSION),--version $(VERSION)) \
	  $(if $(THRESHOLD),--threshold $(THRESHOLD)) $(if $(SHADOW),--shadow,$(if $(SHARE),--share $(SHARE)))

## model-list: the control topic's messages and the registry as the job last reported it
model-list: setup
	$(PY) -m job.model_cli list

## model-retire: stop serving or shadowing NAME=... VERSION=...
model-retire: setup
	@test -n "$(NAME)" -a -n "$(VERSION)" || { echo "error: NAME=... VERSION=... are required" >&2; exit 2; }
	$(PY) -m job.model_cli retire $(NAME) $(VERSION)
