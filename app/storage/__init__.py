"""Storage: saved runs and sweeps and their schema (SQLite or PostgreSQL), what counts as the
database being out of reach, the runs' export formats, and what models refused
(capabilities). May import `app.engine` (for the shapes it stores) and below; never `app.web`.
"""
