"""The comparison engine: presets and caps in, streamed answers and flags out.

`upstream` is the only module that talks to an endpoint (`upstream_errors` says its failures
in plain terms); `fanout` runs preset x sample requests; `analysis` is pure. May import
`app.ops`, `app.settings` and `app.guard` (egress, egress_http); never `app.web` or
`app.storage`, so it can be run and tested without either.
"""
