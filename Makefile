# The two commands a newcomer types: `make run` and `make test`.
VENV     ?= .venv
PYTHON   ?= python3
CARELOOP := $(VENV)/bin/careloop
AXE_JS   := $(VENV)/axe/node_modules/axe-core/axe.min.js
# A real, certified OpenID Connect provider for the single sign-on tests (8.8.1 runs on Node 18-21).
OIDC_PROVIDER := $(VENV)/oidc-provider/node_modules/oidc-provider/package.json
VNU_JAR  := $(VENV)/vnu/node_modules/vnu-jar/build/dist/vnu.jar
HOST     ?= 127.0.0.1
PORT     ?= 5000
PYTEST_ARGS ?=

.PHONY: install install-test run test test-pg browser vnu oidc-provider lint clean translations lock wheel-check

# Dependencies come from the lock files (pinned, hashes checked): requirements.lock for running,
# requirements-test.lock for testing too. `make lock` writes them again from pyproject.toml.
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.lock
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements-test.lock
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## make run: set up, upgrade the database, load demo data once, serve on http://127.0.0.1:5000 (PORT=…)
# Links in messages and the feed use the address served on, unless CARELOOP_BASE_URL says otherwise.
run: export CARELOOP_BASE_URL ?= http://$(HOST):$(PORT)
run: install
	$(CARELOOP) db upgrade
	$(CARELOOP) demo-data
	@echo "Careloop is at $(CARELOOP_BASE_URL) (Ctrl-C stops it). Messages people would receive: sign in as admin, open Outbox."
	@echo "Outgoing webhooks (admin: Webhooks) are sent by \`$(CARELOOP) send-webhooks --watch\` in another terminal, beside \`$(CARELOOP) send-mail --watch\`."
	$(CARELOOP) run --host $(HOST) --port $(PORT)

## make lock: pin every dependency with hashes (plain requirements form, no registry address)
LOCK_COMPILER ?= pip-compile
LOCK_FLAGS := --quiet --generate-hashes --no-emit-index-url --no-emit-find-links --strip-extras --allow-unsafe
lock:
	$(LOCK_COMPILER) $(LOCK_FLAGS) --extra server -o requirements.lock pyproject.toml
	$(LOCK_COMPILER) $(LOCK_FLAGS) --extra server --extra test -o requirements-test.lock pyproject.toml

## make wheel-check: build the wheel, install it outside the checkout and run it as in production
wheel-check: install-test
	.ci/wheel-check

# Browser tests need Debian's Chromium (never a downloaded browser), axe-core from npm, and the
# W3C Nu HTML checker (npm vnu-jar, run by Debian's Java) for the pages they visit.
browser: $(AXE_JS) vnu
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  else echo "Browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

$(AXE_JS):
	npm install --silent --prefix $(VENV)/axe axe-core@4 --no-audit --no-fund

# tests/e2e/test_sso_standard_provider.py runs panva's oidc-provider on loopback (no network at test time).
oidc-provider: $(OIDC_PROVIDER)

$(OIDC_PROVIDER):
	npm install --silent --prefix $(VENV)/oidc-provider oidc-provider@8.8.1 --no-audit --no-fund
# --ignore-scripts: vnu-jar's install step would try to download a JDK.
vnu: $(VNU_JAR)
	@command -v java >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jre-headless; \
	  else echo "The HTML check needs Java: sudo apt-get install default-jre-headless" >&2; exit 1; fi; }

$(VNU_JAR):
	npm install --silent --prefix $(VENV)/vnu vnu-jar --ignore-scripts --no-audit --no-fund

## make test: set up and run every test (unit, integration, plugins, browser)
test: install-test browser oidc-provider lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## make lint: pyflakes, import order and complexity (settings in pyproject.toml); part of make test
lint: install-test
	$(VENV)/bin/ruff check .

## make translations: extract marked strings into the .pot, update every catalog, compile the .mo files
## (commit all three: a plain install uses the compiled .mo). Then translate what is new or fuzzy and run it again.
PYBABEL := $(VENV)/bin/pybabel
translations: install
	$(PYBABEL) extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 --no-location --sort-output \
	  --project=Careloop --msgid-bugs-address=careloop@localhost -o app/translations/messages.pot .
	$(PYBABEL) --quiet update -i app/translations/messages.pot -d app/translations --ignore-obsolete
	$(PYBABEL) compile --statistics -d app/translations

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache
