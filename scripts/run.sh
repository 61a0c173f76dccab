#!/usr/bin/env bash
# Sets up and runs AIU locally with SQLite, generated keys and the built-in demo Moodle.
# Usage: bash scripts/run.sh   then open http://127.0.0.1:8081/ in a browser.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e .

# instance/ is private: the database and the secret key (also tightens older checkouts).
mkdir -p instance && chmod 700 instance && find instance -maxdepth 1 -type f -exec chmod 600 {} +
if [ ! -s instance/secret_key ]; then
  (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))' > instance/secret_key)
fi
export LTI_TOOL_SECRET_KEY="$(cat instance/secret_key)"
export LTI_TOOL_BASE_URL="${LTI_TOOL_BASE_URL:-http://localhost:5000}"
export LTI_TOOL_ALLOW_INSECURE=1
export LTI_TOOL_DEMO=1

.venv/bin/flask --app lti_tool db upgrade
.venv/bin/flask --app lti_tool keys generate
exec .venv/bin/flask --app lti_tool demo
