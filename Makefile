# 12349 hotline platform. The two commands: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := run
VENV     := .venv
VENV_BOT := .venv-bot
VENV_AUDIT := .venv-audit
PY       := $(VENV)/bin/python
BOT_PY   := $(VENV_BOT)/bin/python
PIP_FLAGS ?= -qq --disable-pip-version-check

.PHONY: run test test-bot test-services lint bench model install clean audit

install: $(VENV)/.installed $(VENV_BOT)/.installed

# Services runtime: Python >= 3.11, exact versions from requirements/services.lock.
$(VENV)/.installed: requirements/services.lock pyproject.toml
	@python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: the services runtime needs python3 >= 3.11")'
	rm -rf $(VENV) && python3 -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -r requirements/services.lock
	$(VENV)/bin/pip install $(PIP_FLAGS) --no-deps --no-build-isolation -e .
	touch $@

# Bot runtime: Python 3.10 (Rasa 3.6), exact versions from requirements/bot.lock.
$(VENV_BOT)/.installed: requirements/bot.lock
	@scripts/find-python310 >/dev/null
	rm -rf $(VENV_BOT) && "$$(scripts/find-python310)" -m venv $(VENV_BOT)
	$(VENV_BOT)/bin/pip install $(PIP_FLAGS) -r requirements/bot.lock
	touch $@

model: $(VENV_BOT)/.installed
	scripts/train-if-changed

run: install model
	$(PY) -m hotline stack

test: install model
	$(MAKE) --no-print-directory test-bot test-services

test-bot:
	cd $(CURDIR) && RASA_TELEMETRY_ENABLED=false $(VENV_BOT)/bin/rasa data validate \
	  --config bot/config.yml --domain bot/domain.yml --data bot/data nlu_data --fail-on-warnings
	$(BOT_PY) -m pytest -c tests/bot/pytest.ini tests/bot
	scripts/test-stories

test-services:
	$(VENV)/bin/ruff check .
	$(PY) -m pytest tests/services

lint: install
	$(VENV)/bin/ruff check .

bench: install model
	$(PY) -m bench.run

# Known-vulnerability audit of both lock files (pip-audit asks PyPI's JSON API, so it needs the
# network: not part of `make test`). pip-audit lives in its own venv, pinned by
# requirements/tools.lock, so its dependencies never change what the two runtimes install; it
# reads the pins from the lock files (--no-deps --disable-pip), not from an installed venv.
# --strict: a package whose advisories could not be fetched fails the audit instead of being
# skipped (pip-audit would otherwise say "No known vulnerabilities found"). docs/audit.md.
AUDIT_FLAGS ?= --strict --progress-spinner off
$(VENV_AUDIT)/.installed: requirements/tools.lock
	rm -rf $(VENV_AUDIT) && python3 -m venv $(VENV_AUDIT)
	$(VENV_AUDIT)/bin/pip install $(PIP_FLAGS) -r requirements/tools.lock
	touch $@

audit: $(VENV_AUDIT)/.installed
	@$(VENV_AUDIT)/bin/python -c 'import sys, requests; url = "https://pypi.org/pypi/pip-audit/2.10.1/json"; \
	  code = requests.get(url, timeout=60).status_code; \
	  sys.exit(0 if code == 200 else f"make audit: PyPI answered {code} for {url}: its per-release JSON API, where pip-audit reads the advisories, is not reachable from this network, so no package can be audited here (docs/audit.md)")'
	@status=0; for lock in requirements/services.lock requirements/bot.lock; do \
	  echo "== pip-audit -r $$lock"; \
	  $(VENV_AUDIT)/bin/pip-audit -r $$lock --no-deps --disable-pip $(AUDIT_FLAGS) || status=1; \
	done; exit $$status

clean:
	rm -rf $(VENV) $(VENV_BOT) $(VENV_AUDIT) models var .pytest_cache .ruff_cache
