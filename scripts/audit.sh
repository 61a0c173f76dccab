#!/usr/bin/env bash
# Checks the installed dependencies (.venv, the project itself excluded) for known
# vulnerabilities with pip-audit, using PyPI's vulnerability data. Fails on any finding, and
# says so plainly when PyPI cannot be reached. Usage: bash scripts/audit.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=$(mktemp /tmp/aiu-audit.XXXXXX)
trap 'rm -f "$OUT"' EXIT
# pip-audit (requests) trusts certifi's bundle unless told otherwise; pip itself follows
# pip.conf. Use the machine's own trust store, as pip and urllib do, so a site's TLS proxy
# or private CA works the same for the audit (env -i clears PIP_CERT/REQUESTS_CA_BUNDLE).
if [ -z "${REQUESTS_CA_BUNDLE:-}" ]; then
  for bundle in "${PIP_CERT:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [ -n "$bundle" ] && [ -r "$bundle" ]; then export REQUESTS_CA_BUNDLE="$bundle"; break; fi
  done
fi

.venv/bin/pip-audit --vulnerability-service pypi --skip-editable --progress-spinner off \
  >"$OUT" 2>&1
status=$?
if [ "$status" -eq 0 ]; then
  echo "Dependency audit (pip-audit, PyPI): no known vulnerabilities."
  # Packages whose release PyPI (or its mirror) did not answer for: a second look.
  skipped=$(sed -n 's/.*could not be audited: \([^ ]*\) (\(.*\))$/\1==\2/p' "$OUT")
  if [ -n "$skipped" ]; then
    # shellcheck disable=SC2086
    .venv/bin/python scripts/audit_unlisted.py $skipped || {
      echo "Dependency audit FAILED: known vulnerabilities above."; exit 1; }
  fi
  exit 0
fi
if grep -Eq "ConnectionError|ProxyError|Max retries exceeded|NameResolutionError|Temporary failure in name resolution|timed out|SSLError" "$OUT"; then
  echo "Dependency audit FAILED: pip-audit could not reach PyPI (https://pypi.org) to look up"
  echo "known vulnerabilities. Check the network or proxy settings (HTTPS_PROXY) and run"
  echo "bash scripts/test.sh again. pip-audit said:"
  grep -E "Error|error" "$OUT" | tail -n 3
  exit 1
fi
echo "Dependency audit FAILED: pip-audit found known vulnerabilities (upgrade the packages"
echo "below, or pin a fixed version in pyproject.toml):"
grep -v "could not be audited" "$OUT"
exit 1
