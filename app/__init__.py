"""Knobs: one prompt, several generation settings, side by side.

The sub-packages are the map, and imports flow one way (`make lint` checks it):

    main -> web -> storage -> engine -> ops -> settings -> guard

- `engine/`  the comparison itself: presets, caps, the one module that talks to endpoints,
             fan-out, pure analysis. Knows nothing of pages or the database.
- `storage/` saved runs (SQLite or PostgreSQL), live comparisons shared by replicas, exports.
- `web/`     one module per page, the JSON API, the live stream, and the comparison service
             they all call.
- `guard/`   what stands at the door: origin check, limits, security headers, egress policy.
- `ops/`     the embedded model's process, metrics, logs.
"""
