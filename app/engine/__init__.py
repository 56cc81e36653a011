"""The comparison engine: presets and caps in, streamed answers and flags out.

`upstream` is the only module that talks to an endpoint; `fanout` runs preset x sample
requests; `analysis` is pure. May import `app.ops`, `app.settings` and `app.guard.egress`;
never `app.web` or `app.storage`, so it can be run and tested without either.
"""
