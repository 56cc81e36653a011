"""The web layer: one module per page, the JSON API, the live stream (SSE) and the one
comparison service they all call. May import every other package; none imports it.
"""
