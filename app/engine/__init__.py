"""The comparison engine: presets in (checked first by `preflight`), streamed answers and flags out.

`upstream` is the only module that talks to an endpoint (`upstream_errors` says its failures in
plain terms, `dialects` reads its stream, `capabilities` knows what each model refuses, its
connections come from `app.network`); `fanout` runs preset x sample requests, each (`sample`)
waiting its turn at its endpoint (`slots`: how many it takes at once); `analysis` and
`timing_notes` are pure, and so are `review`'s parts: `agreement`, `word_diff`, token
`probabilities` and `prices`; a sweep (`sweeps/`: `definition`, `preflight`, `measures`) is a
comparison with a preset per point, and what its chart measures. May import `app.ops`,
`app.settings`, `app.access`, `app.network` and `app.guard`; never `app.web` or `app.storage`,
so it can be run and tested without either (a store is passed in as a `CapabilityStore`).
"""
