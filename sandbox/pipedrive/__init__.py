"""Pipedrive API emulator: v2 persons/activities/products and field definitions, v1 notes,
files, users and activity types, with Pipedrive's auth, envelopes, strict v2 validation,
burst windows and daily token budget. See README-like notes in each module's docstring.
"""
