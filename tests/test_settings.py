"""Every setting is documented in docs/configuration.md's table, and bad values fail early."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings

CONFIGURATION = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()


def env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    if alias is not None:
        return str(alias.choices[0])  # type: ignore[union-attr]
    return f"KNOBS_{field.upper()}"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_setting_is_documented(field):
    assert f"| `{env_name(field)}` |" in CONFIGURATION, (
        f"{env_name(field)} is missing from docs/configuration.md"
    )


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("KNOBS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KNOBS_CONCURRENCY_PER_ENDPOINT", "4")
    settings = Settings()
    assert settings.openai_base_url == "http://127.0.0.1:9/v1"
    assert settings.data_dir == tmp_path and settings.concurrency_per_endpoint == 4


@pytest.mark.parametrize(
    ("name", "value"),
    [("OPENAI_BASE_URL", "ftp://example"), ("KNOBS_CONCURRENCY_PER_ENDPOINT", "0")],
)
def test_unsafe_values_fail_at_start_up(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()
