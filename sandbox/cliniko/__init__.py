"""Emulator of the Cliniko REST API v1 (read side) on loopback, backed by a synthetic clinic.

Modules: `resources` (the registry: filters, links, soft-delete fields per resource),
`filters` (q[] -> SQL), `paging` (page/per_page/sort/links), `render` (stored row -> API
JSON), `auth` (key, User-Agent, Accept), `storage` (signed bucket for attachment bytes),
`state` (loading and admin writes), `hooks` (mid-sync mutations), `api` and `admin`
(routes), `app` (wiring), `cli`, `change` (the `change` command: admin writes over HTTP),
`testing` (pytest fixtures).

Choices where Cliniko's docs and spec are silent (kept strict so client bugs surface):
unknown/malformed filters and bad page/sort parameters are 400 JSON naming the parameter;
per_page > 100 is clamped; a page past the end is empty with self/previous links; ties
sort by ascending id; single GETs hide archived/cancelled/deleted rows unless a q[] on
that field is given; deleted patients are hidden like other deleted rows; `~`/`~~` are
case-insensitive (ASCII); the 429 body is JSON with `X-RateLimit-Reset` only (no
Retry-After); missing User-Agent contact is 403 JSON; attachment content is a 302 to a
signed URL on the other loopback host name; all keys belong to the account owner.
"""
