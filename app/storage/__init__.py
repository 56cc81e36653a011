"""Storage: saved runs and their schema (SQLite or PostgreSQL), what counts as the database
being out of reach, and the runs' export formats.
May import `app.engine` (for the shapes it stores) and below; never `app.web`.
"""
