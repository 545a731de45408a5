"""Helpers the tests share: real git repositories, `muxgate serve` and other child processes, and built states."""
