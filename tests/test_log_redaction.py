"""The access log never shows the access token, however its query key is spelt: a key is
decoded as Starlette decodes it before it is compared."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import httpx2
import pytest
from fastapi import FastAPI
from uvicorn.logging import AccessFormatter

from tests.fake_upstream import FakeUpstream
from tests.shipped import serving


def access_line(full_path: str) -> str:
    """One line of uvicorn's access log for a GET of `full_path`, as uvicorn logs it."""
    logger = logging.getLogger("uvicorn.access")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        # The call uvicorn's protocols make, its args in the order its formatter reads them.
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", full_path, "1.1", 303)
    finally:
        logger.removeHandler(handler)
        logger.level = level
    return out.getvalue().strip()


@pytest.mark.parametrize(
    ("sent", "logged"),
    [
        ("/signin?token=s3cret", "/signin?token=***"),
        # Starlette decodes keys: these sign in just as `token=` does.
        ("/signin?%74oken=s3cret", "/signin?%74oken=***"),
        ("/signin?tok%65n=s3cret&next=%2Fruns", "/signin?tok%65n=***&next=%2Fruns"),
        (
            "/signin?next=%2Fr%2Fx&%54%4f%4b%45%4e=s3cret",
            "/signin?next=%2Fr%2Fx&%54%4f%4b%45%4e=***",
        ),
        # Not a key Knobs reads, but the token typed under the wrong key is still the token.
        ("/signin?TOKEN=s3cret", "/signin?TOKEN=***"),
        ("/x?access_token=s3cret", "/x?access_token=***"),
        # Everything else is left as it was sent.
        ("/runs?page=2&tokens=3", "/runs?page=2&tokens=3"),
        ("/signin?token=&next=%2F", "/signin?token=&next=%2F"),
        ("/healthz", "/healthz"),
    ],
)
def test_token_values_are_hidden_whatever_the_key_s_spelling(app: FastAPI, sent: str, logged: str):
    line = access_line(sent)  # `app`: create_app() installed the filter
    assert line == f'127.0.0.1:5000 - "GET {logged} HTTP/1.1" 303 See Other'
    assert ("s3cret" in line) == ("s3cret" in logged)


def test_encoded_sign_in_links_sign_in_and_stay_out_of_the_real_log(
    tmp_path: Path, fake: FakeUpstream
):
    with serving(tmp_path, fake) as url:
        log = tmp_path / "knobs.log"
        token = re.search(r"/signin\?token=(\S+)", log.read_text())
        assert token is not None
        for key in ("token", "%74oken", "tok%65n"):
            with httpx2.Client(base_url=url) as browser:
                answer = browser.get(f"/signin?{key}={token.group(1)}")
                assert answer.status_code == 303 and answer.headers["location"] == "/", key
                assert browser.get("/runs").status_code == 200
        # Keys are case-sensitive to Starlette: this is the sign-in page, not a sign-in.
        answer = httpx2.get(f"{url}/signin?TOKEN={token.group(1)}")
        assert answer.status_code == 200 and "set-cookie" not in answer.headers
    text = log.read_text()
    assert text.count(token.group(1)) == 1, text  # the start-up line that gives the link
    for key in ("token", "%74oken", "tok%65n", "TOKEN"):
        assert f"GET /signin?{key}=*** HTTP/1.1" in text, key
