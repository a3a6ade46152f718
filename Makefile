# Two commands on a fresh machine: `make run` (local stack) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench lint unit integration e2e clean package screenshots

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# What you do is kept in .local-state/ between runs (CRM_LOCAL_STATE moves it); FRESH=1
# discards it and starts clean (docs/local-stack.md, "Between runs").
run: $(STAMP)
	$(BIN)/python -m chalicelib.local $(if $(filter 1 yes true,$(FRESH)),--fresh)

# ruff, then the import contracts of .importlinter (docs/architecture.md, "Layers").
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The console's browser tests (tests/e2e/test_console.py) drive Debian's chromium through
# Playwright (whose own browser download is not reachable from our machines): installed
# when missing, nothing to do when it is there. sudo only when not root.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(CHROMIUM):
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

# Two workers, a test file each at a time (module and session fixtures stay per worker):
# about 10 minutes here against over 30 in one process (docs/architecture.md, "Tests").
test: lint $(CHROMIUM)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile tests

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

e2e: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -q tests/e2e

# The console's screenshots in docs/screenshots/ (README, docs/console.md), from the demo shop.
screenshots: $(STAMP) $(CHROMIUM)
	CONSOLE_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider \
		"tests/e2e/test_console.py::test_screenshots_of_each_view_at_1280x800_and_on_a_phone"

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV)

# Deployable package in $(PACKAGE_DIR): Chalice's SAM template with the CloudFormation built
# from the declarations in code merged in, and the two zips it names. Needs no AWS account:
# CRM_PACKAGING=1 lets infra.build and chalice import the app for its names without a
# deployment's settings, and chalice, which opens a botocore session even to package, gets a
# region (yours if set; the template is the same for every region: the stack's region is the
# one you deploy to). docs/deploy.md has the deploy commands.
STAGE ?= dev
PACKAGE_DIR ?= build/$(STAGE)
PACKAGE_ENV = CRM_STAGE=$(STAGE) CRM_PACKAGING=1 \
	AWS_DEFAULT_REGION=$(or $(AWS_REGION),$(AWS_DEFAULT_REGION),us-east-1)
package: $(STAMP)
	rm -rf $(PACKAGE_DIR)
	$(PACKAGE_ENV) $(BIN)/python -m infra.build
	$(PACKAGE_ENV) $(BIN)/chalice package --stage $(STAGE) \
		--merge-template infra/build/resources-$(STAGE).json $(PACKAGE_DIR)
