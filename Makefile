# Two commands: `make run` (everything, on one machine) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
WEB_PORT ?= 5000
REDIS_PORT ?= 6399
export FLASK_APP := wsgi

ifdef REDIS_URL
PROCESSES := web worker scheduler
else
export REDIS_URL := redis://127.0.0.1:$(REDIS_PORT)/0
PROCESSES := redis web worker scheduler
endif
# Mail goes to a local catcher, shown at /mailbox, unless a real MAIL_SERVER is given.
ifndef MAIL_SERVER
run: export MAIL_SERVER := 127.0.0.1
run: export MAIL_PORT := 8025
run: export MAILBOX_DIR := $(CURDIR)/instance/mailbox
run: PROCESSES += mail
endif
# Sessions are signed with SECRET_KEY; without one, `make run` keeps a random key of its own.
ifndef SECRET_KEY
run: export SECRET_KEY_FILE := $(CURDIR)/instance/secret_key
endif
# DEMO=1 (the default) seeds a demo MSP into an empty database; DEMO=0 starts empty and prints
# a one-time /setup address, its token kept in instance/setup_token for every web worker.
DEMO ?= 1
ifndef SETUP_TOKEN
run: export SETUP_TOKEN_FILE := $(CURDIR)/instance/setup_token
endif
# Invitation and password reset mails link to the address `make run` serves.
ifndef PUBLIC_URL
run: export PUBLIC_URL := http://127.0.0.1:$(WEB_PORT)
endif
export WEB_PORT REDIS_PORT DEMO
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test chaos lint format bench audit clean system-packages

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	@mkdir -p instance
	@if [ -z "$$SECRET_KEY" ] && [ ! -s instance/secret_key ]; then \
		(umask 077; $(BIN)/python -c "import secrets; print(secrets.token_hex(32))" > instance/secret_key); \
	fi
	$(BIN)/flask db upgrade
	@echo
	@echo "  Operations dashboard: http://127.0.0.1:$(WEB_PORT)/   (health: http://127.0.0.1:$(WEB_PORT)/healthz)"
ifeq ($(DEMO),0)
	@$(BIN)/flask setup-token --new --base http://127.0.0.1:$(WEB_PORT)
else
	@echo "  On the first start the demo sign-ins are printed below (manager@example.com / demo-manager)."
endif
	@echo "  Redis: $(REDIS_URL)   Database: $${DATABASE_URL:-SQLite in instance/}"
	@echo "  Ctrl-C stops everything."
	@echo
	$(BIN)/honcho start $(PROCESSES)

# What pip cannot install (Chromium, PostgreSQL, systemd-analyze): installed when run as root,
# otherwise the one apt-get command to run is printed and nothing else runs.
system-packages:
	@bash tools/system_packages.sh

test: system-packages $(VENV)/.installed lint
	$(BIN)/python -m pytest
	@echo "== the same suite on PostgreSQL (the browser tests ran above) =="
	TEST_DATABASE=postgresql $(BIN)/python -m pytest -m "not browser"

# The fault tests and fuzzers alone, on SQLite and PostgreSQL, with their counts.
chaos: system-packages $(VENV)/.installed
	$(BIN)/python -m pytest -m "chaos or fuzz"
	TEST_DATABASE=postgresql $(BIN)/python -m pytest -m "chaos or fuzz"

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# The pinned requirements against PyPI's vulnerability data; says plainly what it could not check.
AUDIT_VENV := .venv-audit
$(AUDIT_VENV)/.installed: requirements-audit.txt
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/pip install --quiet -r requirements-audit.txt
	touch $@

audit: $(AUDIT_VENV)/.installed
	$(AUDIT_VENV)/bin/python tools/audit.py

clean:
	rm -rf $(VENV) $(AUDIT_VENV) .pytest_cache .ruff_cache .hypothesis
