"""Emulator of the Cliniko REST API v1 (read side) on loopback, backed by a synthetic clinic."""
