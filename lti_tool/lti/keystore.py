"""The app's key store, from ``KEYS_DIR``."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from lti_tool.lti.keys import KeyStore


def keys_dir() -> Path:
    configured = Path(current_app.config["KEYS_DIR"])
    if configured.is_absolute():
        return configured
    return Path(current_app.root_path).parent / configured


def key_store() -> KeyStore:
    return KeyStore(keys_dir())
