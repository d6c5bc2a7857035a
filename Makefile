# Every job is a target. `make run` and `make test` install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/dev.lock pyproject.toml | cksum | cut -d' ' -f1)
# The commands' own defaults apply (broadsheet <command> --help shows them); a variable
# set here or on the command line is passed on: make build-site CONTENT=../paper OUT=/tmp/x
# An option only when its value is given, the value quoted (a path may hold spaces).
opt = $(if $(2),$(1) "$(2)")

SCAN_VENV ?= .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed-$(shell cat requirements/scan.lock | cksum | cut -d' ' -f1)
PACKAGE := build/package

.PHONY: help setup scan-setup test unit lint validate build-site run serve bench soak new-article \
	lock browser-deps clean build deploy deploy-check promote rollback destroy publish sam-setup

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): requirements/dev.lock pyproject.toml
	@rm -f $(VENV)/.installed-*
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

setup: $(STAMP) ## create .venv from the lock file

# checkov pins versions the test tools cannot share, so it gets a venv of its own.
$(SCAN_STAMP): requirements/scan.lock
	@rm -f $(SCAN_VENV)/.installed-*
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/scan.lock
	@touch $@

scan-setup: $(SCAN_STAMP) ## install the template's security scanner (checkov)

SAM_VENV ?= .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed-$(shell cat requirements/sam.lock | cksum | cut -d' ' -f1)
SAM := $(SAM_VENV)/bin/sam

# The SAM CLI's lock is installed by version, not yet by hash: pip wants the extras
# aws-sam-cli names (boto3-stubs[...], botocore[crt]) pinned in that form, which uv
# does not write. It is a maintainer's tool; nothing it installs runs in publish.
$(SAM_STAMP): requirements/sam.lock
	@rm -f $(SAM_VENV)/.installed-*
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	sed -e '/^ *--hash=/d' -e 's/ *\\$$//' requirements/sam.lock > $(SAM_VENV)/sam.txt
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(SAM_VENV)/sam.txt
	@touch $@

sam-setup: $(SAM_STAMP) ## install the AWS SAM CLI into .venv-sam

# Debian's Chromium for the browser tests; nothing is downloaded by a test tool itself.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null) \
	      || echo "make: could not install chromium; browser tests will be skipped"; \
	  else echo "make: chromium is missing and this is not root: sudo apt-get install chromium"; fi; \
	fi

test: setup scan-setup sam-setup browser-deps ## run the whole suite (installs what it needs)
	$(BIN)/lint-imports --no-cache
	node --test tests/cloudfront/
	$(BIN)/python -m pytest -q

unit: setup ## the fast tests only
	$(BIN)/python -m pytest -q tests/unit

lint: setup ## ruff, mypy, the layer contracts (import-linter) and cfn-lint
	$(BIN)/ruff check functions tests benchmarks
	$(BIN)/ruff format --check functions tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/cfn-lint infra/template.yaml

validate: setup ## check every article in content/
	$(BIN)/broadsheet validate $(call opt,--content,$(CONTENT))

build-site: setup ## render the whole site into _site/
	$(BIN)/broadsheet build $(call opt,--content,$(CONTENT)) $(call opt,--out,$(OUT))

run: setup ## the real pipeline on loopback, serving content/ at http://127.0.0.1:8000 (PORT=)
	$(BIN)/broadsheet run $(call opt,--content,$(CONTENT)) $(call opt,--port,$(PORT))

serve: build-site ## preview a plain build of content/ (no pipeline) at http://127.0.0.1:8000
	$(BIN)/broadsheet serve $(call opt,--content,$(CONTENT)) $(call opt,--out,$(OUT)) $(call opt,--port,$(PORT))

bench: setup build ## measure; prints figures and writes benchmarks/results/latest.json (ONLY=site,search: those parts again)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/bench.lock
	$(BIN)/python -m benchmarks.run $(call opt,--only,$(ONLY))

soak: setup ## the convergence oracle for MINUTES (default 10); prints the seed of a failure
	$(BIN)/python -m tests.soak $(call opt,--minutes,$(MINUTES))

# ARTICLE_LANG, not LANG: LANG is the system locale (C.UTF-8) in every shell.
new-article: setup ## make new-article ISSUE=412 SLUG=my-story [ARTICLE_LANG=es]
	@test -n "$(ISSUE)" -a -n "$(SLUG)" || { echo "usage: make new-article ISSUE=<n> SLUG=<slug> [ARTICLE_LANG=<language of site.yml>]"; exit 2; }
	$(BIN)/broadsheet new-article $(call opt,--content,$(CONTENT)) --issue "$(ISSUE)" --slug "$(SLUG)" $(call opt,--language,$(ARTICLE_LANG))

build: setup ## the Lambda package (arm64, Python 3.12) and build/template.yaml, no Docker
	rm -rf $(PACKAGE) && mkdir -p $(PACKAGE)
	$(BIN)/pip install --quiet --disable-pip-version-check --target $(PACKAGE) \
	  --platform manylinux2014_aarch64 --implementation cp --python-version 3.12 \
	  --only-binary=:all: --require-hashes -r requirements/lambda.lock
	cp -r functions/broadsheet $(PACKAGE)/broadsheet
	rm -rf $(PACKAGE)/broadsheet/local $(PACKAGE)/broadsheet/build $$(find $(PACKAGE) -name __pycache__ -o -name '*.dist-info' -prune)
	rm -rf build/layer-redirects && $(BIN)/pip install --quiet --disable-pip-version-check \
	  --target build/layer-redirects/python --platform manylinux2014_aarch64 \
	  --implementation cp --python-version 3.12 --only-binary=:all: --require-hashes -r requirements/redirects.lock
	rm -rf build/layer-photos && $(BIN)/pip install --quiet --disable-pip-version-check \
	  --target build/layer-photos/python --platform manylinux2014_aarch64 \
	  --implementation cp --python-version 3.12 --only-binary=:all: --require-hashes -r requirements/photos.lock
	rm -rf build/layer-search && $(BIN)/pip install --quiet --disable-pip-version-check \
	  --target build/layer-search/python --platform manylinux2014_aarch64 \
	  --implementation cp --python-version 3.12 --only-binary=:all: --require-hashes -r requirements/search.lock
	$(if $(LANGUAGES),LANGUAGES=$(LANGUAGES)) $(BIN)/python -m broadsheet.local.package $(PACKAGE) build/template.yaml
	@du -sh $(PACKAGE)

# The environment of infra/samconfig.toml: default (production) or staging.
ENV ?= default
DEPLOYS := $(BIN)/python -m broadsheet.local.deploys --sam $(CURDIR)/$(SAM)

deploy-check: setup
	@$(DEPLOYS) committed $(if $(filter 1,$(DIRTY)),--allow-dirty)

deploy: deploy-check build sam-setup ## package the commit once, keep it by release in .deploys/, deploy it (ENV=staging; guided the first time)
	cd build && ../$(SAM) validate --lint --template template.yaml
	cd build && ../$(SAM) package --config-file ../infra/samconfig.toml --config-env $(ENV) \
	  --template-file template.yaml --output-template-file packaged.yaml
	$(DEPLOYS) keep build/packaged.yaml --commit "$$(git rev-parse HEAD)$(if $(filter 1,$(DIRTY)),+uncommitted)"
	cd build && ../$(SAM) deploy --config-file ../infra/samconfig.toml --config-env $(ENV) \
	  --template-file packaged.yaml $(if $(wildcard infra/.deployed-$(ENV)),,--guided)
	@touch infra/.deployed-$(ENV)

promote: setup sam-setup ## deploy to production the package the staging stack runs (its Release)
	$(DEPLOYS) promote --from staging --to default

rollback: setup sam-setup ## deploy a kept release again: make rollback RELEASE=<digest> [ENV=staging]
	@test -n "$(RELEASE)" || { echo "usage: make rollback RELEASE=<digest> [ENV=staging] (kept: $$(ls .deploys 2>/dev/null | sed 's/.yaml//' | tr '\n' ' '))"; exit 2; }
	$(DEPLOYS) rollback --env $(ENV) --release $(RELEASE)

destroy: setup ## delete the stack of ENV after typing its name (the buckets and the packaged code stay: see README)
	$(DEPLOYS) destroy --env $(ENV) $(call opt,--confirm,$(CONFIRM))

publish: setup ## publish the commits since the last publish (STACK=, CONTENT=)
	$(BIN)/broadsheet publish $(call opt,--stack,$(STACK)) $(call opt,--content,$(CONTENT))

LOCKS := lambda dev scan redirects photos search sam bench publish
# What each lock installs on: the Lambda package and layers, arm64 Python 3.12; the tools,
# CI's Python 3.11; the content workflow's publisher, x86-64 Python 3.12. A lock holds the hash of every file of each version the registry has.
LAMBDA_TARGET := --python-version 3.12 --python-platform aarch64-manylinux2014
TOOL_TARGET := --python-version 3.11.7 --python-platform x86_64-manylinux2014
PUBLISH_TARGET := --python-version 3.12 --python-platform x86_64-manylinux2014  # content.yml's
target_of = $(if $(filter lambda redirects photos search,$(1)),$(LAMBDA_TARGET),$(if $(filter publish,$(1)),$(PUBLISH_TARGET),$(TOOL_TARGET)))

# Every lock is installed with --require-hashes: a file that is not the one locked is refused.
lock: setup ## hashed requirements/*.lock from requirements/*.in, keeping the locked versions (UPGRADE=1: the newest)
	@set -e; for name in $(LOCKS); do \
	  $(BIN)/uv pip compile --quiet --generate-hashes --no-header --no-annotate \
	    $(call target_of,$$name) $(if $(UPGRADE),,--constraint requirements/$$name.lock) \
	    --output-file .lock.tmp requirements/$$name.in; \
	  { echo "# Generated by 'make lock' from requirements/$$name.in (uv pip compile --generate-hashes)."; \
	    cat .lock.tmp; } > requirements/$$name.lock; \
	  echo "requirements/$$name.lock"; \
	done; rm -f .lock.tmp

clean: ## remove what builds, tests and setup made: _site, caches, build/, the three venvs
	rm -rf _site .broadsheet-cache .pytest_cache .mypy_cache .ruff_cache .hypothesis build \
	  .lockenv $(VENV) $(SCAN_VENV) $(SAM_VENV)
