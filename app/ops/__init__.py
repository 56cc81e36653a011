"""Operations: the embedded model's server process, Prometheus metrics, structured logs.
May import `app.settings`, `app.access`, `app.network` and `app.guard` only.
"""
