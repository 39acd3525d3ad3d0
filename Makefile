# The two commands: `make run` (app, worker and demo agents on SQLite, DEBUG on) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

PORT ?= 8000

.PHONY: run test install bench

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: $(STAMP)
	DEBUG=1 $(PY) manage.py runapp 127.0.0.1:$(PORT)

test: $(STAMP)
	PY=$(PY) bash .ci/test

bench: $(STAMP)
	$(PY) -m bench
