"""Under `make test` (KNOBS_TEST_NO_SKIPS=1) a skipped test fails; run by hand, it skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import NO_SKIPS

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_TEST = "import pytest\n\ndef test_needs_a_server():\n    pytest.skip('no server here')\n"
SKIPPED_MODULE = "import pytest\n\npytest.importorskip('a_module_nobody_has')\n"


@pytest.mark.parametrize("no_skips", [False, True])
def test_a_skip_fails_only_under_make_test(tmp_path, no_skips):
    (tmp_path / "test_skipped.py").write_text(SKIPPED_TEST)
    (tmp_path / "test_skipped_module.py").write_text(SKIPPED_MODULE)
    env = {k: v for k, v in os.environ.items() if k != NO_SKIPS}
    if no_skips:
        env[NO_SKIPS] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider"]
        + ["--continue-on-collection-errors", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if no_skips:
        assert result.returncode == 1, result.stdout
        assert "1 failed, 1 error" in result.stdout
        assert "`make test` skips nothing" in result.stdout
        assert "no server here" in result.stdout and "a_module_nobody_has" in result.stdout
    else:
        assert result.returncode == 0, result.stdout
        assert "2 skipped" in result.stdout
