"""Operations: the embedded model's server process, Prometheus metrics, structured logs.
May import `app.settings` and `app.guard` only.
"""
