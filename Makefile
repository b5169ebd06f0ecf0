# Two commands do all the set-up: `make run` and `make test`.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

WEB_ASSETS := services/web/node_modules/.package-lock.json

.PHONY: install run test lint bench clean browser

install: $(STAMP) $(WEB_ASSETS)

# The portal's front-end assets, at the exact versions of the lockfile; npm ci only when they changed.
$(WEB_ASSETS): services/web/package.json services/web/package-lock.json
	cd services/web && npm ci --no-audit --no-fund --loglevel=error

# The portal's browser tests drive Debian's Chromium; nothing is downloaded at run time.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	  else echo "make test needs Chromium for the portal's browser tests: run 'sudo apt-get install chromium'"; exit 1; fi; }

$(STAMP): pyproject.toml constraints.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[dev,local]'
	touch $(STAMP)

run: install
	$(VENV)/bin/fieldops run

# Lint and types ([tool.ruff] and [tool.mypy] in pyproject.toml): every finding fails the build.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: install browser lint
	$(PYTHON) -m pytest -q -p no:cacheprovider --durations=15

bench: install
	$(PYTHON) bench/lifecycle.py --lifecycles 20 --concurrency 4

clean:
	rm -rf $(VENV)
