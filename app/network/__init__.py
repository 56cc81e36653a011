"""The outbound network: which addresses Knobs may reach (`egress`, the SSRF policy for custom
endpoints), the HTTP client that enforces it where each connection is made (`http_client`),
and kept-alive connections that are cheap to check (`connections`). Imports nothing else of
Knobs, so every layer may lean on it.
"""
