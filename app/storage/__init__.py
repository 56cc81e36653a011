"""Storage: saved runs and sweeps and their schema (SQLite or PostgreSQL), what counts as the
database being out of reach, the runs' export formats, what models refused (capabilities),
rate buckets, and the frames of live views that any replica can stream (live). May import
`app.engine` (for the shapes it stores) and below; never `app.web`.
"""
