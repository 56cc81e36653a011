"""Access: who may use Knobs and who is asking. The rules and credentials (`rules`), the door
every request passes (`door`), who the client is (`clients`), which Host names are served
(`hosts`), where Knobs listens (`listening`), session cookies (`sessions`), the users file
(`users`), the sign-in throttle (`throttle`) and tokens kept out of the access log
(`log_redaction`). May import `app.guard` and `app.network` only.
"""
