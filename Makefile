# 12349 hotline platform. The two commands: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := run
VENV     := .venv
VENV_BOT := .venv-bot
PY       := $(VENV)/bin/python
BOT_PY   := $(VENV_BOT)/bin/python
PIP_FLAGS ?= -qq --disable-pip-version-check

.PHONY: run test test-bot test-services lint bench model install clean

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

clean:
	rm -rf $(VENV) $(VENV_BOT) models var .pytest_cache .ruff_cache
