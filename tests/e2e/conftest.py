"""Fixtures of the end-to-end tests: the gateway harness of tests/proxy/conftest.py (a fake provider, config trees
written from a dict, a gateway served on a free port), registered here as well so both suites drive one setup."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_HARNESS = Path(__file__).resolve().parents[1] / "proxy" / "conftest.py"
_spec = importlib.util.spec_from_file_location("muxgate_gateway_harness", _HARNESS)
assert _spec is not None
assert _spec.loader is not None
_harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_harness)

# Fixtures are found by name in this module's namespace.
_session_fake = _harness._session_fake
_session_gateways = _harness._session_gateways
fake = _harness.fake
http = _harness.http
provider_keys = _harness.provider_keys
config_dir = _harness.config_dir
gateway = _harness.gateway
