"""Muxgate's gateway: the Litestar proxy that routes client requests to providers by workspace mux rules."""
