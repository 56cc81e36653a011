"""Guards at the door: cross-site refusal, body and rate limits, security headers, the
last-resort 500, and refusals said one way. Pure ASGI and plain functions; imports nothing
else of Knobs, so every layer may lean on it.
"""
