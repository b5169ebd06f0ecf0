# Two commands do all the set-up: `make run` and `make test`.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: install
	$(VENV)/bin/fieldops run

test: install
	$(PYTHON) -m pytest -q -p no:cacheprovider

bench: install
	$(PYTHON) bench/lifecycle.py --lifecycles 20 --concurrency 4

clean:
	rm -rf $(VENV)
