"""Storage: saved runs and their schema (SQLite or PostgreSQL), and their export formats.
May import `app.engine` (for the shapes it stores) and below; never `app.web`.
"""
