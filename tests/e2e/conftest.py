"""Fixtures of the end-to-end tests: the gateway harness of tests/proxy/conftest.py (a fake provider, config trees
written from a dict, a gateway served on a free port), registered here as well so both suites drive one setup."""

from tests.proxy.conftest import (
    _session_fake,
    _session_gateways,
    config_dir,
    fake,
    gateway,
    http,
    provider_keys,
)

__all__ = ["_session_fake", "_session_gateways", "config_dir", "fake", "gateway", "http", "provider_keys"]
