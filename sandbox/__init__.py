"""Loopback emulators of the Cliniko and Pipedrive APIs, used by tests, demo and benchmarks."""
