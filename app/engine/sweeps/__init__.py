"""Sweeps: a comparison with one preset per point of one knob's values (or a grid of two).
`definition` says what is asked and makes its points, `preflight` what it will send and whether
it may (the comparison's caps, by the sweep's own fields), `measures` what its chart shows.
"""
