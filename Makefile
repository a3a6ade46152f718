# Two commands on a fresh machine: `make run` (local stack) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench lint unit integration e2e clean package

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m chalicelib.local

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

e2e: $(STAMP)
	$(BIN)/python -m pytest -q tests/e2e

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV)

# Deployable package: CloudFormation from the declarations in code, merged into Chalice's SAM template.
STAGE ?= dev
package: $(STAMP)
	CRM_STAGE=$(STAGE) $(BIN)/python -m infra.build
	$(BIN)/chalice package --stage $(STAGE) --merge-template infra/build/resources-$(STAGE).json build/$(STAGE)
