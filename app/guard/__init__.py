"""Guards at the door: cross-site refusal, body and rate limits, security headers, the
last-resort 500, and the egress policy for custom endpoints. Pure ASGI and plain functions;
imports nothing else of Knobs, so every layer may lean on it.
"""
