"""Test doubles shipped with Muxgate, so its tests, its benchmarks and its users can exercise a gateway
without a real LLM provider. `proxy.testing.fake_provider` is the fake upstream server (also runnable with
`python -m proxy.testing.fake_provider`)."""
