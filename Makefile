# The two commands: `make run` and `make test`. Both install whatever is missing first.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
CTI   := $(VENV)/bin/cti
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test install system-deps venv node pbx lint bench clean

run: install pbx
	$(CTI) run --demo

test: install pbx-rootfs
	bash scripts/test.sh

install: system-deps venv node

# The console's browser libraries (package.json, pinned by package-lock.json), served by the app
# from node_modules/ (docs/softphone.md).
node: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	@echo "node: installing the console's browser libraries (npm ci)"
	@npm ci --no-audit --no-fund --loglevel=error

system-deps:
	@bash scripts/install-system-deps.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "python: installing the engine and its pinned dependencies into $(VENV)"
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

pbx-rootfs:
	@bash scripts/build-asterisk-rootfs.sh "$$($(PY) -c 'from cti.settings import load_settings; print(load_settings().pbx.rootfs)')"
	@$(CTI) ivr prompts

pbx: pbx-rootfs
	$(CTI) pbx up

lint: venv
	$(VENV)/bin/ruff check .

bench: install pbx-rootfs
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	-$(CTI) pbx down
	rm -rf var
