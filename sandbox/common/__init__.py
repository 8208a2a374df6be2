"""Pieces both API emulators share: the HTTP server, fault switches, rate windows, storage."""
