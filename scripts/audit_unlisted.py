"""Second pass of the dependency audit, for packages pip-audit could not look up.

pip-audit asks PyPI for one release (``/pypi/<name>/<version>/json``); a PyPI mirror may
only answer the project's page (``/pypi/<name>/json``), whose ``vulnerabilities`` list is
PyPI's record for the latest release. For every installed package that is that latest
release, this checks the list; the rest are named as not checked.

    .venv/bin/python scripts/audit_unlisted.py NAME==VERSION ...   (exit 1 on a finding)
"""

from __future__ import annotations

import json
import sys
import urllib.request

PYPI = "https://pypi.org/pypi/{}/json"


def project(name: str) -> dict:
    with urllib.request.urlopen(PYPI.format(name), timeout=20) as answer:  # noqa: S310 - fixed https URL
        return json.load(answer)


def main(pins: list[str]) -> int:
    found, unchecked = [], []
    for pin in pins:
        name, _, version = pin.partition("==")
        try:
            data = project(name)
        except OSError as exc:
            print(f"Dependency audit FAILED: PyPI could not be reached for {name} ({exc}).")
            return 1
        if data.get("info", {}).get("version") != version:
            unchecked.append(pin)
            continue
        for vuln in data.get("vulnerabilities") or []:
            if not vuln.get("withdrawn"):
                found.append(f"{pin}: {vuln.get('id')} (fixed in "
                             f"{', '.join(vuln.get('fixed_in') or []) or 'no release yet'})")
    for line in found:
        print("  " + line)
    checked = len(pins) - len(unchecked)
    print(f"  PyPI's record for the latest release: {checked} more package(s) checked"
          + (f"; not checked (older than the latest release): {', '.join(unchecked)}"
             if unchecked else "."))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
