"""Muxgate's config language and its pipeline: load → validate → plan → render (and apply, in the proxy)."""
