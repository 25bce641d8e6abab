"""Load `app.yaml` over the defaults and validate it into a `Settings` object.

Validation is strict on purpose: a misspelt key in `app.yaml` silently falling
back to a default is the kind of mistake a CS team only notices weeks later.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bot import defaults
from bot.crm.settings import CrmSecrets, CrmSettings, crm_secrets
from bot.errors import ConfigError  # raised here; defined with the CLI's errors
from messages.settings import DisplaySettings
from scoring.settings import RenewalBand, ScoringSettings
from storage.columns import normalize_column

if TYPE_CHECKING:
    from storage.sources import SqlSource


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Band(_Strict):
    name: str = Field(min_length=1, max_length=40)
    min: int = Field(ge=0, le=100)
    emoji: str


class RenewalIndexSettings(_Strict):
    bands: list[Band]
    hysteresis: float = Field(ge=0, le=50)

    @field_validator("bands")
    @classmethod
    def _bands_cover_0_to_100(cls, bands: list[Band]) -> list[Band]:
        if len(bands) < 2:
            raise ValueError("needs at least two bands")
        mins = [b.min for b in bands]
        if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
            raise ValueError("bands must be listed best first with strictly decreasing 'min'")
        if mins[-1] != 0:
            raise ValueError("the last band must start at min: 0 so every score has a band")
        if len({b.name.lower() for b in bands}) != len(bands):
            raise ValueError("band names must be unique")
        return bands


class UpsellCategory(_Strict):
    name: str = Field(min_length=1, max_length=40)
    emoji: str


class UpsellIndexSettings(_Strict):
    likely: UpsellCategory
    unlikely: UpsellCategory
    threshold: float | None = Field(default=None, gt=0, lt=1)
    hysteresis: float = Field(ge=0, lt=1)


class ModelSettings(_Strict):
    """app.yaml `scoring:` (seed, label minimum, text categories)."""

    seed: int
    min_positive_labels: int = Field(ge=1)
    max_text_categories: int = Field(ge=2)


class SlackSettings(_Strict):
    command: str = Field(pattern=r"^/[a-z0-9_-]{1,31}$")
    app_name: str = Field(min_length=1, max_length=35)
    allowed_team_ids: list[str]
    admins: list[str]
    admin_channel: str | None
    summary_channel: str | None
    feedback_emoji: list[str] = Field(min_length=1)
    page_size: int = Field(ge=1, le=20)

    @field_validator("feedback_emoji")
    @classmethod
    def _no_colons(cls, names: list[str]) -> list[str]:
        return [n.strip(":") for n in names]


class CronSettings(_Strict):
    """APScheduler 3.x cron trigger fields (only the ones a schedule needs)."""

    day_of_week: str | None = None
    day: str | int | None = None
    hour: str | int | None = None
    minute: str | int | None = None


class ScheduleSettings(_Strict):
    timezone: str
    pulse: CronSettings
    summary: CronSettings
    inbox: CronSettings

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name


class PulseSettings(_Strict):
    send_when_steady: bool
    max_items: int = Field(ge=1, le=25)   # messages.pulse.MAX_MOVEMENTS_SHOWN
    snooze_days: int = Field(ge=1, le=365)


class InboxSettings(_Strict):
    path: str | None


class SmtpSettings(_Strict):
    host: str | None
    port: int = Field(ge=1, le=65535)
    starttls: bool
    username: str | None
    sender: str | None
    recipients: list[str]


class SourceSettings(_Strict):
    """A named SQL source (storage.sources): where, what, when."""

    url: str = Field(min_length=1)          # SQLAlchemy URL without the password
    password_env: str | None = None         # the environment variable holding it
    query: str = Field(min_length=1)        # may use :last_sync
    schedule: CronSettings | None = None    # null: run with `outcomes ingest --source NAME`

    def source(self, name: str) -> SqlSource:
        from storage.sources import SqlSource

        return SqlSource(name, self.url, self.query, self.password_env)


class Secrets(_Strict):
    """Secrets read from the environment only; never logged (SecretStr)."""

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    smtp_password: SecretStr | None = None


class Settings(_Strict):
    columns: dict[str, str]
    components: dict[str, list[str]]
    horizon_days: int = Field(ge=1, le=3650)
    upsell_growth: float = Field(gt=0, le=10)
    renewal_index: RenewalIndexSettings
    upsell_index: UpsellIndexSettings
    scoring: ModelSettings
    slack: SlackSettings
    schedule: ScheduleSettings
    pulse: PulseSettings
    inbox: InboxSettings
    smtp: SmtpSettings
    sources: dict[str, SourceSettings]
    crm: CrmSettings
    # Not from app.yaml: where things are and what the environment says.
    db_path: str = defaults.DEFAULT_DB_FILE
    config_path: str | None = None
    slack_api_url: str = defaults.DEFAULT_SLACK_API_URL
    secrets: Secrets = Secrets()
    crm_secrets: CrmSecrets = CrmSecrets()

    @field_validator("sources")
    @classmethod
    def _source_names(cls, sources: dict[str, SourceSettings]) -> dict[str, SourceSettings]:
        for name in sources:
            if not SOURCE_NAME.match(name):
                raise ValueError(f"source name {name!r}: use lower-case letters, digits, - and _")
        return sources

    @field_validator("columns")
    @classmethod
    def _canonical_targets(cls, mapping: dict[str, str]) -> dict[str, str]:
        return {normalize_column(k): normalize_column(v) for k, v in mapping.items()}

    @field_validator("components")
    @classmethod
    def _component_columns(cls, comps: dict[str, list[str]]) -> dict[str, list[str]]:
        seen: dict[str, str] = {}
        for comp, cols in comps.items():
            for col in cols:
                key = normalize_column(col)
                if key in seen:
                    raise ValueError(f"column {col!r} is in both {seen[key]!r} and {comp!r}")
                seen[key] = comp
        return {comp: [normalize_column(c) for c in cols] for comp, cols in comps.items()}

    # -- each layer's part, built once (model_copy drops them, so they are never stale) --

    @cached_property
    def for_scoring(self) -> ScoringSettings:
        """What scoring needs: horizon, bands, upsell categories and threshold, components."""
        return ScoringSettings(
            horizon_days=self.horizon_days,
            upsell_growth=self.upsell_growth,
            renewal_bands=tuple(RenewalBand(b.name, b.min) for b in self.renewal_index.bands),
            upsell_likely=self.upsell_index.likely.name,
            upsell_unlikely=self.upsell_index.unlikely.name,
            upsell_threshold=self.upsell_index.threshold,
            renewal_hysteresis=self.renewal_index.hysteresis,
            upsell_hysteresis=self.upsell_index.hysteresis,
            seed=self.scoring.seed,
            min_positive_labels=self.scoring.min_positive_labels,
            components={comp: tuple(cols) for comp, cols in self.components.items()},
        )

    @cached_property
    def for_messages(self) -> DisplaySettings:
        """What messages need to display things: names, the command, emoji per category."""
        upsell = (self.upsell_index.likely, self.upsell_index.unlikely)
        # A band and an upsell category of the same name: the band's emoji wins.
        emoji = {c.name: c.emoji for c in (*upsell, *reversed(self.renewal_index.bands))}
        return DisplaySettings(
            app_name=self.slack.app_name,
            command=self.slack.command,
            feedback_emoji=tuple(self.slack.feedback_emoji),
            emoji=emoji,
            scoring=self.for_scoring,
        )

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Settings:
        copy = super().model_copy(update=update, deep=deep)
        for part in ("for_scoring", "for_messages"):
            copy.__dict__.pop(part, None)
        return copy

    # -- shortcuts to those parts, for bot/ -------------------------------------------------

    @property
    def renewal_categories(self) -> list[str]:
        """Renewal Index category names, best first."""
        return self.for_scoring.renewal_categories

    @property
    def upsell_categories(self) -> list[str]:
        return self.for_scoring.upsell_categories

    def renewal_category(self, health_score: float) -> str:
        """The Renewal Index category of a 0-100 health score."""
        return self.for_scoring.renewal_category(health_score)

    def renewal_rank(self, category: str | None) -> int | None:
        """The place of a Renewal Index category (0 = best); None for none or an unknown one."""
        return self.for_scoring.renewal_rank(category)

    def emoji_for(self, category: str) -> str:
        return self.for_messages.emoji_for(category)

    def category_emoji(self, category: str | None) -> str:
        """Like emoji_for, but a missing or unknown category gets a neutral marker."""
        return self.for_messages.category_emoji(category)

    def component_of(self, column: str) -> str | None:
        """The data component a metric column belongs to, if the catalogue names it."""
        return self.for_scoring.component_of(column)


_WHOLE = {"columns", "components", "schedule.pulse", "schedule.summary", "schedule.inbox",
          "sources", "crm.hubspot.fields", "crm.salesforce.fields"}
SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _merge(base: dict[str, Any], override: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        where = f"{path}{key}"
        if key not in base:
            hint = difflib.get_close_matches(str(key), [str(k) for k in base], n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"unknown key {where!r}{suggestion}")
        # Free-form maps (columns, components, cron specs) and lists are replaced whole;
        # the fields of a replaced map are still checked by the Settings model.
        if isinstance(base[key], dict) and isinstance(value, Mapping) and where not in _WHOLE:
            out[key] = _merge(base[key], value, where + ".")
        else:
            out[key] = value
    return out


def _env_secret(env: Mapping[str, str], name: str) -> SecretStr | None:
    value = env.get(name, "").strip()
    return SecretStr(value) if value else None


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    db_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Defaults, then `app.yaml` (or `$OUTCOMES_CONFIG`), then the environment.

    A missing config file is only an error when it was asked for explicitly.
    """
    env = os.environ if env is None else env
    explicit = config_path or env.get(defaults.ENV_CONFIG)
    path = Path(explicit or defaults.DEFAULT_CONFIG_FILE)
    raw: dict[str, Any] = {}
    if path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of keys")
        raw = loaded or {}
    elif explicit:
        raise ConfigError(f"{path}: no such configuration file")

    try:
        merged = _merge(defaults.DEFAULTS, raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    merged["db_path"] = str(db_path or env.get(defaults.ENV_DB) or defaults.DEFAULT_DB_FILE)
    merged["config_path"] = str(path) if path.is_file() else None
    merged["slack_api_url"] = env.get(defaults.ENV_SLACK_API_URL) or defaults.DEFAULT_SLACK_API_URL
    merged["secrets"] = Secrets(
        slack_bot_token=_env_secret(env, defaults.ENV_SLACK_BOT_TOKEN),
        slack_signing_secret=_env_secret(env, defaults.ENV_SLACK_SIGNING_SECRET),
        slack_app_token=_env_secret(env, defaults.ENV_SLACK_APP_TOKEN),
        smtp_password=_env_secret(env, defaults.ENV_SMTP_PASSWORD),
    )
    merged["crm_secrets"] = crm_secrets(env)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
