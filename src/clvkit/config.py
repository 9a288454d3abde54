"""Scenario parameters: one YAML file per scenario, validated into typed, frozen dataclasses.

The schema *is* the dataclasses below: a small generic builder (``_convert``) walks each
dataclass's fields and type hints, so adding a field to a section is one line and gets the same
checks as every other key: an unknown key names the closest valid key, a missing required key
says so, and a wrong type or out-of-range value names its full path (``tiers.rules[1].share``).
Relative paths are resolved against the params file's folder; dates are ISO dates
(``2024-12-31``) and become ``pandas.Timestamp``. Rules that tie several keys together (shares
summing to 1, ordered thresholds, a playbook action for every tier, ...) have one owner: the
module that uses them (``clvkit.tiers``, ``clvkit.impact``, ``clvkit.models.registry``). Each
section's ``_validate`` calls that module's check, so a bad params file fails at load with the
same message the library gives, and there is no second copy to drift.

Sections are grouped below by the module that owns their meaning: data and cleaning (intake),
summary / model / value (models), tiers ... export (tiers), satisfaction / retention / impact,
report and spark. Only ``scenario`` and ``data.source`` are required.

Example
-------
>>> cfg = Config.from_dict({"scenario": "demo", "data": {"source": "simulate"}})
>>> cfg.tiers.rules[0].label, cfg.value.horizon
('VIP', 12.0)
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import math
import operator
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from clvkit import impact, retention, tiers
from clvkit.errors import ConfigError
from clvkit.models import registry

__all__ = ["Config", "load", "mask_secrets", "DataConfig", "TableSource", "SimulateConfig", "CdnowConfig",
           "CleaningConfig", "SummaryConfig", "ModelConfig", "ValueConfig", "TierRule",
           "SecondDimension", "TiersConfig", "SegmentsConfig", "StagesConfig",
           "ChurnWarningConfig", "PlaybookConfig", "ExportConfig", "SatisfactionConfig",
           "RetentionConfig", "ImpactConfig", "ReportConfig", "SparkConfig"]



def _f(default: Any = dataclasses.MISSING, *, ge=None, gt=None, le=None, lt=None,
       yaml: bool = True) -> Any:
    """A dataclass field with a numeric range the builder checks (``ge`` = ">=" etc.).

    A mutable default (list, dict, dataclass instance) is wrapped in a factory.
    ``yaml=False`` marks a field that is set by code, never read from the file.
    """
    meta = {k: v for k, v in {"ge": ge, "gt": gt, "le": le, "lt": lt}.items() if v is not None}
    meta["yaml"] = yaml
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return field(default_factory=lambda d=default: _copy(d), metadata=meta)
    return field(default=default, metadata=meta)


def _copy(value):
    return dict(value) if isinstance(value, dict) else value


def _err(path: str, problem: str, fix: str | None = None) -> ConfigError:
    return ConfigError(problem, key=path or "(top level)", fix=fix)


# --------------------------------------------------------------------------- data and cleaning
@dataclass(frozen=True)
class TableSource:
    """Where one input table comes from, and how its columns map to clvkit's (``clvkit.io``).

    ``path`` is a CSV / Parquet / DuckDB file (relative to the params file); ``url`` an
    SQLAlchemy URL (e.g. ``sqlite:///shop.db``) read with ``table`` or ``query``. ``date`` and
    ``amount`` name the source columns when they differ from clvkit's (``date`` is the signup
    date for customers); ``columns`` maps the table's other columns (e.g. ``csat: score``).
    ``amount: null`` says the transactions have no amounts: purchase counts only.
    """

    path: Path | None = None
    url: str | None = None
    table: str | None = None
    query: str | None = None
    customer_id: str = "customer_id"
    date: str | None = None
    amount: str | None = "amount"
    columns: dict[str, str | None] = _f({})
    date_format: str | None = None
    timezone: str | None = None
    sep: str | None = None
    encoding: str | None = None
    thousands: str | None = None  # transactions: "," for 1,234.50 ("." for 1.234,50)

    @property
    def location(self) -> Path | str:
        """The ``source`` argument for the ``clvkit.io`` readers (a ``duckdb:///file`` URL is
        the DuckDB file itself, which ``clvkit.io`` reads without SQLAlchemy)."""
        if self.path is None and self.url.startswith("duckdb:///"):
            return Path(self.url.removeprefix("duckdb:///")).expanduser()
        return self.path if self.path is not None else self.url

    def _resolve(self, base: Path) -> TableSource:
        """A relative ``sqlite:///file.db`` is relative to the params file, as ``path`` is."""
        m = re.match(r"^(sqlite(?:\+\w+)?:///)(?!/)(?!:memory:)([^?]+)(.*)$", self.url or "")
        if not m:
            return self
        return dataclasses.replace(self, url=f"{m.group(1)}{(base / m.group(2)).resolve()}"
                                              f"{m.group(3)}")

    def _validate(self, path: str) -> None:
        if (self.path is None) == (self.url is None):
            raise _err(path, "give exactly one of 'path' (a file) or 'url' (a database URL)")
        if self.table is not None and self.query is not None:
            raise _err(f"{path}.query", "give 'table' or 'query', not both")
        if self.url is not None and self.table is None and self.query is None:
            raise _err(f"{path}.url", "a database URL needs 'table' or 'query'")
        if self.timezone is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise _err(f"{path}.timezone", f"unknown time zone {self.timezone!r}",
                           "use an IANA name such as 'Asia/Shanghai' or 'UTC'") from None
        table = path.rsplit(".", 1)[-1]
        allowed = _TABLE_KEYS.get(table, ())
        for key in ("date", "amount", "date_format", "timezone", "thousands"):
            unset = "amount" if key == "amount" else None
            if getattr(self, key) != unset and key not in allowed:
                raise _err(f"{path}.{key}", f"not used for the {table} table; remove it")
        extra = _TABLE_COLUMNS.get(table, ())
        for key in self.columns:
            if key not in extra:
                hint = _suggest(key, extra) if extra else " (this table has no other columns)"
                raise _err(f"{path}.columns.{key}", f"unknown column for the {table} table{hint}")


#: keys of TableSource that each table uses, and the other columns its reader maps
_TABLE_KEYS = {"transactions": ("date", "amount", "date_format", "timezone", "thousands"),
               "customers": ("date", "date_format", "timezone"),
               "surveys": ("date", "date_format", "timezone"),
               "complaints": ("date", "date_format", "timezone"),
               "programme": ()}
_TABLE_COLUMNS = {"surveys": ("csat", "nps"),
                  "complaints": ("category", "resolved", "resolution_days"),
                  "programme": ("eligible", "treated")}


@dataclass(frozen=True)
class SimulateConfig:
    """Arguments of ``clvkit.datasets.simulate`` for a simulated scenario."""

    customers: int = _f(5000, ge=1)
    seed: int = 42
    start: pd.Timestamp = pd.Timestamp("2023-01-01")
    observation_end: pd.Timestamp = pd.Timestamp("2024-12-31")
    future_days: int = _f(365, ge=0)
    prospect_share: float = _f(0.1, ge=0.0, lt=1.0)
    programme: bool = True
    #: acquisition channel as a cause of the purchase rate: a coefficient per ``channel`` level
    #: (``{referral: 0.6}``: referred customers buy exp(0.6) = 1.8 times as often), for the
    #: covariate models (``model.covariates``); empty: the channel only leans on value
    channel_effects: dict[str, float] = _f({})

    def _validate(self, path: str) -> None:
        if self.start >= self.observation_end:
            raise _err(f"{path}.observation_end",
                       f"{self.observation_end.date()} is not after start {self.start.date()}")


@dataclass(frozen=True)
class CdnowConfig:
    """Which CDNOW file ``clvkit.datasets.load_cdnow`` reads."""

    which: Literal["sample", "master"] = "sample"


_TABLES = ("transactions", "customers", "surveys", "complaints", "programme")


@dataclass(frozen=True)
class DataConfig:
    """Where the scenario's data comes from: simulated, the real CDNOW data, or files."""

    source: Literal["simulate", "files", "cdnow"]
    simulate: SimulateConfig = _f(SimulateConfig())
    cdnow: CdnowConfig = _f(CdnowConfig())
    transactions: TableSource | None = None
    customers: TableSource | None = None
    surveys: TableSource | None = None
    complaints: TableSource | None = None
    programme: TableSource | None = None

    def _validate(self, path: str) -> None:
        given = [t for t in _TABLES if getattr(self, t) is not None]
        if self.source == "files" and self.transactions is None:
            raise _err(f"{path}.transactions", "required when data.source is 'files'",
                       "add data.transactions: {path: ..., customer_id: ..., date: ..., "
                       "amount: ...}")
        if self.source != "files" and given:
            raise _err(f"{path}.{given[0]}", f"is set but data.source is '{self.source}'",
                       "set data.source: files, or remove the table")


@dataclass(frozen=True)
class CleaningConfig:
    """Options of ``clvkit.clean.clean_transactions`` (every dropped row goes to the ledger)."""

    returns: Literal["drop", "net"] = "drop"
    zero_amounts: Literal["keep", "drop"] = "keep"
    amount_cap: float | None = _f(None, gt=0.0)
    observation_end: pd.Timestamp | None = None
    #: stop when misread data drops more than this share of rows (per reason and in total)
    max_drop_share: float = _f(0.05, ge=0.0, le=1.0)
    #: purchases before this date are implausible (dropped and counted); null: no floor
    date_floor: pd.Timestamp | None = pd.Timestamp("1990-01-01")
    #: purchases dated more than this many days after the run date (or today) are implausible
    future_tolerance_days: int = _f(1, ge=0)


# --------------------------------------------------------------------- summary, models, value
@dataclass(frozen=True)
class SummaryConfig:
    """RFM summary options (``clvkit.rfm``); a calibration split enables a holdout check.

    ``calibration`` is a date (``2024-06-30``), a duration from the first purchase (``104W``,
    ``18M``) or a share of the days (``0.7``), resolved against the data by
    ``clvkit.units.calibration_end``; ``calibration_end`` is the older, date-only spelling.
    """

    time_unit: Literal["D", "W", "M", "Y"] = "W"
    period: Literal["D", "W", "M"] = "D"
    engine: Literal["pandas", "duckdb", "spark"] = "pandas"
    calibration_end: pd.Timestamp | None = None
    calibration: pd.Timestamp | float | str | None = None

    @property
    def split(self) -> pd.Timestamp | float | str | None:
        """The calibration split as written (``calibration`` or ``calibration_end``)."""
        return self.calibration if self.calibration is not None else self.calibration_end

    def _validate(self, path: str) -> None:
        from clvkit.units import parse_duration

        if self.calibration is not None and self.calibration_end is not None:
            raise _err(f"{path}.calibration", "give 'calibration' or 'calibration_end', not both")
        cal = self.calibration
        if isinstance(cal, float) and not 0.0 < cal < 1.0:
            raise _err(f"{path}.calibration", f"a share must be between 0 and 1, got {cal:g}",
                       "e.g. 0.7 (the first 70 % of the days), or a duration such as 104W")
        if isinstance(cal, str):
            try:
                parse_duration(cal)
            except ValueError as e:
                raise _err(f"{path}.calibration", str(e),
                           "or give a date (2024-06-30) or a share (0.7)") from None


@dataclass(frozen=True)
class CovariateConfig:
    """Customer columns that shift the purchase rate and the dropout process
    (``clvkit.models.covariates``; BG/NBD, MBG/NBD and Pareto/NBD, in CLVTools'
    parameterisation): columns of ``data.customers`` (the simulated customers table has
    ``channel``, ``region``, ``city_tier``, ...). A text column becomes one dummy per level
    against the first level in sorted order; every buyer needs a value (an empty cell or a buyer
    missing from the table is an error). With ``model.transaction: best`` the candidates that
    take covariates are fitted with them, the others without (the report says which)."""

    purchase: tuple[str, ...] = ()
    dropout: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelConfig:
    """Which purchase model (a key of ``clvkit.models.registry``, or ``best`` = chosen by the
    diagnostics) and spend model to fit."""

    transaction: str = "bgnbd"
    #: the purchase models ``best`` compares (empty: the registry's default set, every purchase
    #: model; the CNBD-k and GGompertz fits use a sample of large calibration periods, see
    #: ``clvkit.pipeline.COMPARE_SAMPLE``); list e.g. ``[bgnbd, paretonbd, mbgnbd]`` for fewer
    candidates: tuple[str, ...] = ()
    spend: Literal["gammagamma"] = "gammagamma"
    penalizer: float = _f(0.0, ge=0.0)
    ci_level: float = _f(0.95, gt=0.0, lt=1.0)
    covariates: CovariateConfig = field(default_factory=CovariateConfig)

    def _validate(self, path: str) -> None:
        if self.transaction != "best":
            registry.get(self.transaction, kind="purchase", params_key=f"{path}.transaction")
        for i, key in enumerate(self.candidates):
            registry.get(key, kind="purchase", params_key=f"{path}.candidates[{i}]")
        if self.covariates.purchase or self.covariates.dropout:
            from clvkit.models.covariates import supports

            keys = ((self.candidates or registry.default_candidates())
                    if self.transaction == "best" else (self.transaction,))
            if not any(supports(registry.MODELS[k].cls) for k in keys):
                with_cov = [k for k, s in registry.purchase_models().items() if supports(s.cls)]
                raise ConfigError(f"covariates need a purchase model that takes them "
                                  f"({', '.join(with_cov)}), not {', '.join(keys)}",
                                  key=f"{path}.covariates",
                                  fix="name one of them in model.transaction (or in "
                                  "model.candidates with best), or remove the covariates")


@dataclass(frozen=True)
class ValueConfig:
    """CLV horizon and discount rate, each with its time unit (see ``clvkit.units``)."""

    horizon: float = _f(12.0, gt=0.0)
    horizon_unit: Literal["D", "W", "M", "Y"] = "M"
    discount_rate: float = _f(0.01, ge=0.0, lt=1.0)
    discount_unit: Literal["D", "W", "M", "Y"] = "M"
    #: gross margin share: CLV is margin × discounted revenue; null = CLV is discounted revenue
    margin: float | None = _f(None, gt=0.0, le=1.0)


# ---------------------------------------------------------------------------------- tiers
@dataclass(frozen=True)
class TierRule:
    """One tier, listed from the top down: a ``share`` of customers or a ``min`` score."""

    label: str
    share: float | None = _f(None, gt=0.0, le=1.0)
    min: float | None = None


@dataclass(frozen=True)
class SecondDimension:
    """A second tiering dimension (engagement, stage, an attribute) for a 2-D grid of tiers.

    ``method: categories`` uses the column's own values (e.g. ``stage``, ``region``) and no rules.
    """

    column: str
    method: Literal["quantile", "threshold", "categories"] = "quantile"
    rules: tuple[TierRule, ...] = ()

    def _validate(self, path: str) -> None:
        tiers.check_grid_rules(self.method, self.rules, path)


_DEFAULT_TIERS = (TierRule("VIP", 0.1), TierRule("regular", 0.4), TierRule("potential", 0.5))


@dataclass(frozen=True)
class TiersConfig:
    """Value tiers from a score column (``clv`` by default), top tier first.

    Without amounts (``data.transactions.amount: null``) a quantile tiering on ``clv`` moves to
    ``expected_purchases`` (noted in the run's log); ``score: expected_purchases`` says so.

    ``prospect_label`` is the tier of customers who signed up but never bought.
    """

    score: str = "clv"
    method: Literal["quantile", "threshold"] = "quantile"
    rules: tuple[TierRule, ...] = _DEFAULT_TIERS
    prospect_label: str = "prospect"
    second_dimension: SecondDimension | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        """Tier labels from the top down, then the prospect label."""
        return tuple(r.label for r in self.rules) + (self.prospect_label,)

    def _validate(self, path: str) -> None:
        tiers.parse_rules(self.rules, self.method, path, prospect_label=self.prospect_label)


@dataclass(frozen=True)
class SegmentsConfig:
    """RFM segments: by rules (``mapping`` of RFM patterns to names; empty = the documented
    default in ``clvkit.tiers``), by k-means clustering, or ``rfm8``: the eight high/low classes
    (重要价值客户 …; R, F, M each high or low against ``cut``, the mean or the median), named in
    the report's language."""

    method: Literal["rules", "kmeans", "rfm8"] = "rules"
    mapping: dict[str, str] = _f({})
    cut: Literal["mean", "median"] = "mean"

    def _validate(self, path: str) -> None:
        if self.method == "rules":
            tiers.parse_segments(self.mapping or None, key=f"{path}.mapping")


@dataclass(frozen=True)
class StagesConfig:
    """Lifecycle stage thresholds (days and P(alive)); definitions live in ``clvkit.tiers``."""

    new_days: int = _f(90, gt=0)
    loyal_min_purchases: int = _f(4, ge=2)
    loyal_min_p_alive: float = _f(0.7, ge=0.0, le=1.0)
    dormant_days: int = _f(180, gt=0)
    dormant_p_alive: float = _f(0.5, ge=0.0, le=1.0)
    lost_p_alive: float = _f(0.2, ge=0.0, le=1.0)

    def _validate(self, path: str) -> None:
        tiers.StageRules.from_params(self, key=path)


@dataclass(frozen=True)
class ChurnWarningConfig:
    """Early-warning list: P(alive) below a level, or fallen by more than a margin since the
    previous run; the ``top_n`` by CLV at risk are exported."""

    p_alive_below: float = _f(0.3, ge=0.0, le=1.0)
    drop_more_than: float = _f(0.2, ge=0.0, le=1.0)
    top_n: int = _f(100, ge=1)


@dataclass(frozen=True)
class PlaybookConfig:
    """Follow-up actions per tier label, per lifecycle stage and per (tier, stage) cell; the
    precedence and its validation are owned by ``clvkit.tiers.playbook``. ``protect``: tiers
    whose action a generic stage action never replaces (null = the top tier)."""

    require_actions: bool = False
    tiers: dict[str, str] = _f({})
    stages: dict[str, str] = _f({})
    table: dict[str, dict[str, str]] = _f({})
    protect: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ExportConfig:
    """Tier export options (``tiers.csv`` / ``tiers.parquet``). ``csv_bom``: write a UTF-8
    byte-order mark so Excel reads Chinese correctly; by default on when ``report.language`` is
    ``zh``, off otherwise."""

    csv_bom: bool | None = None


# ------------------------------------------------------------ satisfaction, retention, impact
@dataclass(frozen=True)
class SatisfactionConfig:
    """CSAT / NPS bands; ``enabled: auto`` (default) is on exactly when there are surveys."""

    enabled: bool | Literal["auto"] = "auto"
    csat_top_box_min: int = _f(4, ge=1, le=5)
    nps_promoter_min: int = _f(9, ge=0, le=10)
    nps_detractor_max: int = _f(6, ge=0, le=10)

    def _validate(self, path: str) -> None:
        if self.nps_detractor_max >= self.nps_promoter_min:
            raise _err(f"{path}.nps_detractor_max", f"{self.nps_detractor_max} must be below "
                       f"nps_promoter_min ({self.nps_promoter_min})")


@dataclass(frozen=True)
class RetentionConfig:
    """Churn definitions: no purchase within a window, or P(alive) below a threshold; the
    ``churn_definition`` every headline uses (the others are footnoted with their numbers:
    ``clvkit.retention.churn_reconciliation``)."""

    churn_window_days: int = _f(180, gt=0)
    p_alive_threshold: float = _f(0.5, ge=0.0, le=1.0)
    churn_definition: str = "stage_lost"

    def _validate(self, path: str) -> None:
        retention.check_churn_definition(self.churn_definition, key=f"{path}.churn_definition")


@dataclass(frozen=True)
class ImpactConfig:
    """The programme case study; ``programme_start`` defaults to the simulation's truth.

    ``enabled: auto`` (default) is on exactly when there is a programme table.

    ``post_days`` null = from the start to the data end; ``pre_days`` null = as long as the post
    window (the windows the simulated programme's true effects are defined on).
    """

    enabled: bool | Literal["auto"] = "auto"
    programme_start: pd.Timestamp | None = None
    pre_days: int | None = _f(None, gt=0)
    post_days: int | None = _f(None, gt=0)
    outcomes: tuple[str, ...] = ("csat", "nps", "repurchase", "churn", "spend")
    n_boot: int = _f(1000, ge=1)
    seed: int = 0
    #: how treatment was assigned: ``random`` (a randomised programme) or ``rule`` (say which in
    #: ``rule``); only random assignment lets the headline say "effect of" (clvkit.impact)
    assignment: Literal["random", "rule"] = "random"
    rule: str | None = None
    cost_per_customer: float | None = _f(None, ge=0.0)  # per treated customer: the report's ROI

    def _validate(self, path: str) -> None:
        impact.check_outcomes(self.outcomes, key=f"{path}.outcomes")
        impact.check_assignment(self.assignment, self.rule, key=path)


# ------------------------------------------------------------------------- report, spark
@dataclass(frozen=True)
class ReportConfig:
    """Which report notebooks to run (empty = all), the report title, the language of every
    heading, sentence and label (``en`` or ``zh``, from ``clvkit.i18n``'s catalogues), whether
    ``clvkit report`` also writes one PDF of the summary and reports (``pdf: true``);
    ``cell_timeout`` (seconds) fails a run whose notebook cell hangs, ``keep_runs`` keeps only
    the newest runs (null: all; the run ``latest`` points at is never deleted)."""

    notebooks: tuple[str, ...] = ()
    title: str | None = None
    language: Literal["en", "zh"] = "en"
    pdf: bool = False
    cell_timeout: float = _f(3600.0, gt=0.0)
    keep_runs: int | None = _f(None, ge=1)


@dataclass(frozen=True)
class SparkConfig:
    """Spark session settings for ``summary.engine: spark``."""

    master: str = "local[2]"
    app_name: str = "clvkit"
    conf: dict[str, str | int | float | bool] = _f({})
    quantile_error: float = _f(0.001, gt=0.0, le=0.1)  # narrows exact tier cuts (clvkit.spark)
    max_spend_rows: int = _f(2_000_000, gt=0)         # Gamma-Gamma rows brought to the driver
    report_sample: int = _f(100_000, gt=0)            # customers a lake-scale report samples
    sample_seed: int = _f(0, ge=0)                    # which ones (clvkit.spark_report)


# ---------------------------------------------------------------------------------- root
@dataclass(frozen=True)
class Config:
    """A validated scenario. Build with :func:`load` or :meth:`Config.from_dict`."""

    scenario: str
    data: DataConfig
    title: str | None = None
    currency: str = "USD"
    run_date: pd.Timestamp | None = None
    cleaning: CleaningConfig = _f(CleaningConfig())
    summary: SummaryConfig = _f(SummaryConfig())
    model: ModelConfig = _f(ModelConfig())
    value: ValueConfig = _f(ValueConfig())
    tiers: TiersConfig = _f(TiersConfig())
    segments: SegmentsConfig = _f(SegmentsConfig())
    stages: StagesConfig = _f(StagesConfig())
    churn_warning: ChurnWarningConfig = _f(ChurnWarningConfig())
    playbook: PlaybookConfig = _f(PlaybookConfig())
    export: ExportConfig = _f(ExportConfig())
    previous_run: Path | None = None
    satisfaction: SatisfactionConfig = _f(SatisfactionConfig())
    retention: RetentionConfig = _f(RetentionConfig())
    impact: ImpactConfig = _f(ImpactConfig())
    report: ReportConfig = _f(ReportConfig())
    spark: SparkConfig = _f(SparkConfig())
    #: the params file this came from (None when built from a dict without ``source``)
    source: Path | None = _f(None, yaml=False)
    @property
    def notes(self) -> tuple[str, ...]:
        """One line per section that is off, or changed, because its data are absent: for the
        run's log and the report's index (not an error)."""
        present = _present_tables(self.data)
        notes = []
        for section, table in (("satisfaction", "surveys"), ("impact", "programme")):
            if not getattr(self, section).enabled and table not in present:
                notes.append(f"{section}: off, no {table} data (give data.{table} to turn it on)")
        for table, what in (("complaints", "complaints are not shown"),
                            ("customers", "no prospects and no customer attributes")):
            if table not in present:
                notes.append(f"{table}: none given, {what} (give data.{table} to add them)")
        if not self.has_amounts:
            notes.append("spend: not modelled, the transactions have no amounts (counts only); "
                         "CLV is not computed and RFM segments use recency and frequency only")
            if self.tiers.score == "expected_purchases":
                notes.append("tiers: on expected purchases (the transactions have no amounts)")
        return tuple(notes)

    @property
    def has_amounts(self) -> bool:
        """False when the transactions have no amounts (``amount: null``): counts only."""
        tx = self.data.transactions
        return not (self.data.source == "files" and tx is not None and tx.amount is None)

    @property
    def display_title(self) -> str:
        """``title`` if given, else the scenario name."""
        return self.title or self.scenario

    @classmethod
    def from_dict(cls, d: Any, *, source: str | Path | None = None) -> Config:
        """Validate a mapping (as read from YAML) into a Config.

        ``source`` is the params file: it names the file in errors and is the folder that
        relative paths are resolved against (else the current directory).

        Raises
        ------
        ConfigError
            Naming the file, the key path and the fix.
        """
        src = Path(source).resolve() if source is not None else None
        base = src.parent if src is not None else Path.cwd()
        if not isinstance(d, dict):
            raise ConfigError(f"expected a mapping of keys at the top, got {type(d).__name__}",
                              file=source, fix="start the file with 'scenario: <name>'")
        try:
            cfg = _convert(cls, d, "", base)
            cfg = _resolve_absent(cfg)
        except ConfigError as e:
            raise ConfigError(e.problem, key=e.key, file=source, fix=e.fix) from None
        if cfg.export.csv_bom is None:  # Excel needs the BOM to read Chinese CSV as UTF-8
            cfg = dataclasses.replace(cfg, export=dataclasses.replace(
                cfg.export, csv_bom=cfg.report.language == "zh"))
        return dataclasses.replace(cfg, source=src)

    def to_dict(self) -> dict:
        """Plain-Python form (ISO dates, str paths, lists) e.g. for run metadata."""
        return _plain(self)

    def public_dict(self) -> dict:
        """The effective configuration (defaults filled in) safe to publish in a report or
        ``run.json``: database URL passwords and secret-looking settings (``password``,
        ``secret``, ``token``, ``key`` in a name or URL query) are replaced by ``***``.
        Comments and anything else of the params file that is not configuration are absent."""
        return _mask(self.to_dict())

    def _validate(self, path: str) -> None:
        if not re.fullmatch(r"[\w.-]+", self.scenario):
            raise _err("scenario", f"{self.scenario!r} is not usable as a folder name",
                       "use letters, digits, '_', '-' or '.'")
        obs = self.cleaning.observation_end
        if self.data.source == "simulate":
            sim_end = self.data.simulate.observation_end
            if obs is not None and obs > sim_end:
                raise _err("cleaning.observation_end", f"{obs.date()} is after the simulated "
                           f"data ends (data.simulate.observation_end {sim_end.date()})")
            obs = sim_end if obs is None else obs
        cal, key = self.summary.split, ("summary.calibration" if self.summary.calibration
                                        is not None else "summary.calibration_end")
        if isinstance(cal, pd.Timestamp) and obs is not None and cal >= obs:
            raise _err(key, f"{cal.date()} is not before the observation end {obs.date()}")
        if cal is not None and self.data.source == "simulate":  # the span is known here
            from clvkit.units import calibration_end

            try:
                calibration_end(cal, self.data.simulate.start, obs)
            except ValueError as e:
                raise _err(key, str(e)) from None
        if not self.has_amounts and self.summary.engine == "spark":
            raise _err("summary.engine", "the Spark engine needs amounts, and the transactions "
                       "have none (amount: null)", "use engine pandas or duckdb")
        self._validate_playbook()
        self._validate_needs("satisfaction", self.satisfaction.enabled is True, "surveys")
        self._validate_needs("impact", self.impact.enabled is True, "programme")
        if (self.impact.enabled is True or (self.impact.enabled == "auto"
                                            and self.data.programme is not None)) and (
                self.data.source == "files" and self.impact.programme_start is None):
            raise _err("impact.programme_start", "required for file data",
                       "give the programme's start date, or set impact.enabled: false")

    def _validate_playbook(self) -> None:
        pb = self.playbook
        tiers.check_playbook(self.tiers.labels, pb.tiers, pb.stages,
                             require_actions=pb.require_actions,
                             prospect_label=self.tiers.prospect_label, table=pb.table,
                             protect=pb.protect)

    def _validate_needs(self, section: str, enabled: bool, table: str) -> None:
        if not enabled:
            return
        fix = f"set {section}.enabled: false"
        if self.data.source == "cdnow":
            raise _err(f"{section}.enabled", f"the CDNOW data has no {table} table", fix)
        if self.data.source == "simulate" and not self.data.simulate.programme:
            raise _err(f"{section}.enabled", f"data.simulate.programme is false, so the "
                       f"simulated data has no {table}",
                       f"set data.simulate.programme: true, or {fix}")
        if self.data.source == "files" and getattr(self.data, table) is None:
            raise _err(f"{section}.enabled", f"needs data.{table}",
                       f"add data.{table}, or {fix}")


_SPEND_SCORES = ("clv", "clv_at_risk", "expected_spend", "revenue")


def _present_tables(data: DataConfig) -> set[str]:
    """The tables a scenario's data source has."""
    if data.source == "files":
        present = {t for t in _TABLES if getattr(data, t) is not None}
    elif data.source == "simulate" and data.simulate.programme:
        present = {"customers", "surveys", "complaints", "programme"}
    elif data.source == "simulate":
        present = {"customers"}
    else:
        present = set()
    return present | {"transactions"}


def _resolve_absent(cfg: Config) -> Config:
    """Turn ``enabled: auto`` into true/false from the data present, and move quantile tiers
    on a spend score to expected purchases for data without amounts (``Config.notes`` says
    so)."""
    present = _present_tables(cfg.data)
    changes: dict[str, Any] = {}
    for section, table in (("satisfaction", "surveys"), ("impact", "programme")):
        sec = getattr(cfg, section)
        if sec.enabled == "auto":
            changes[section] = dataclasses.replace(sec, enabled=table in present)
    if not cfg.has_amounts:
        t = cfg.tiers
        if t.score in _SPEND_SCORES:
            if t.method == "threshold":
                raise _err("tiers.score", f"'{t.score}' needs amounts, and the transactions "
                           "have none (amount: null)", "set tiers.score: expected_purchases "
                           "with thresholds on purchases")
            changes["tiers"] = dataclasses.replace(t, score="expected_purchases")
    return dataclasses.replace(cfg, **changes)


def load(path: str | Path) -> Config:
    """Read and validate a params YAML file.

    Raises
    ------
    ConfigError
        If the file is missing, is not valid YAML, or does not validate (the message names the
        file, the key path and the fix).
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError("params file not found", file=path,
                          fix="check the path (e.g. params/retail.yaml)")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError("params file is not UTF-8 text", file=path,
                          fix="save it as UTF-8") from None
    try:
        raw = yaml.load(text, Loader=_loader())  # noqa: S506 -- a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        twice = "appears twice" in problem
        raise ConfigError(f"not valid YAML{where}: {problem}", file=path,
                          fix="keep one of the two" if twice
                          else "check indentation and quoting there") from None
    if raw is None:
        raise ConfigError("params file is empty", file=path,
                          fix="start it with 'scenario: <name>' and a 'data:' section")
    return Config.from_dict(raw, source=p)


def _loader():
    """PyYAML's SafeLoader, strict where a silent choice would hide a mistake: a key given twice
    in one mapping is an error (PyYAML keeps the last), and dates stay text so an impossible
    date such as 2024-13-01 is reported by the key that holds it (PyYAML raises a bare
    ValueError)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping (first on line "
                    f"{seen[key] + 1}); the second would silently win", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return loader.construct_mapping(node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    StrictLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return StrictLoader


# ------------------------------------------------------------------------ generic builder
def _suggest(name: str, valid) -> str:
    close = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.5)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f" (valid: {', '.join(map(str, valid))})"


def _kind(value: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "text",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _convert(tp: Any, value: Any, path: str, base: Path) -> Any:
    """Check ``value`` against type hint ``tp`` and return it converted; ``path`` names it."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise _err(path, "must not be empty")
        options = [a for a in args if a is not type(None)]
        for opt in options[:-1]:
            try:
                return _convert(opt, value, path, base)
            except ConfigError:
                continue
        return _convert(options[-1], value, path, base)
    if value is None:
        raise _err(path, "must not be empty")
    if dataclasses.is_dataclass(tp):
        return _build_dataclass(tp, value, path, base)
    if origin is Literal:
        if value not in args:
            raise _err(path, f"{value!r} is not one of {', '.join(map(str, args))}"
                       + (_suggest(value, args) if isinstance(value, str) else ""))
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _err(path, f"must be a list, got {_kind(value)}")
        return tuple(_convert(args[0], v, f"{path}[{i}]", base) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _err(path, f"must be a mapping, got {_kind(value)}")
        return {_convert(args[0], k, f"{path}.{k}", base): _convert(args[1], v, f"{path}.{k}", base)
                for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _err(path, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _err(path, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _err(path, f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise _err(path, f"must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _err(path, f"must be text, got {_kind(value)} {value!r}",
                       "put it in quotes")
        return value
    if tp is pd.Timestamp:
        return _date(value, path)
    if tp is Path:
        if not isinstance(value, str) or not value.strip():
            raise _err(path, f"must be a file path, got {value!r}")
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", value):  # s3a://, hdfs://, file://: untouched
            return value
        p = Path(value).expanduser()
        return p if p.is_absolute() else (base / p).resolve()
    raise TypeError(f"config builder cannot handle type {tp!r} at {path}")  # a bug, not input


def _date(value: Any, path: str) -> pd.Timestamp:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return pd.Timestamp(value)
    if isinstance(value, str):
        try:
            return pd.Timestamp(_dt.datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise _err(path, f"{value!r} is not an ISO date", "write it as YYYY-MM-DD, e.g. 2024-12-31")


def _build_dataclass(cls: type, value: Any, path: str, base: Path) -> Any:
    if not isinstance(value, dict):
        raise _err(path, f"must be a mapping of keys, got {_kind(value)} {value!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("yaml", True)}
    for key in value:
        if key not in fields:
            sub = f"{path}.{key}" if path else str(key)
            raise _err(sub, f"unknown key{_suggest(key, fields)}")
    kwargs = {}
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _err(sub, "required key is missing")
            continue
        raw = _days(value[name], sub) if name.endswith("_days") else value[name]
        v = _convert(hints[name], raw, sub, base)
        _check_range(v, f.metadata, sub)
        kwargs[name] = v
    obj = cls(**kwargs)
    if hasattr(obj, "_resolve"):
        obj = obj._resolve(base)
    if hasattr(obj, "_validate"):
        obj._validate(path)
    return obj


def _days(value: Any, path: str) -> Any:
    """A ``*_days`` key also takes a duration in any time unit (``26W``, ``6M``, ``1Y``): it is
    read as the nearest whole number of days (a month is 30.44 days, ``clvkit.units``)."""
    if not isinstance(value, str):
        return value
    from clvkit.units import DAYS_PER_UNIT, parse_duration
    try:
        amount, unit = parse_duration(value)
    except ValueError as exc:
        raise _err(path, str(exc).replace("365D", "365D, or a whole number of days")) from None
    return max(1, round(amount * DAYS_PER_UNIT[unit]))


def _check_range(v: Any, meta: typing.Mapping, path: str) -> None:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return
    for op, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if op in meta and not getattr(operator, op)(v, meta[op]):
            raise _err(path, f"{v!r} out of range: must be {word} {meta[op]}")


_SECRET = re.compile(r"pass(word|wd)?|pwd|secret|token|api[_-]?key|access[_-]?key|credential"
                     r"|auth", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][\w+.-]*://[^/:@\s]*:)(?P<pw>[^@/\s]*)(?=@)", re.I)
_QUERY_SECRET = re.compile(r"(?P<key>[?&;][^=&;#\s]*(?:pass|pwd|secret|token|key|auth)[^=&;#\s]*=)"
                           r"[^&;#\s]*", re.I)


def mask_secrets(text: str) -> str:
    """``text`` with URL passwords and secret-looking query values (``?token=...``) replaced by
    ``***``: for any line that names a data source on a page or in a log."""
    return _QUERY_SECRET.sub(r"\g<key>***", _URL_PASSWORD.sub(r"\g<head>***", text))


def _mask(obj: Any, key: str = "", by_name: bool = False) -> Any:
    """Secrets in a plain config tree replaced by ``***`` (see ``Config.public_dict``): URL
    passwords and secret query values everywhere; whole values by a secret-looking name in the
    free-form ``spark`` settings (elsewhere names are labels, e.g. playbook tiers)."""
    if isinstance(obj, dict):
        return {k: _mask(v, str(k), by_name or k == "spark") for k, v in obj.items()}
    if isinstance(obj, list):
        return [_mask(v, key, by_name) for v in obj]
    if by_name and _SECRET.search(key) and obj is not None:
        return "***"
    if isinstance(obj, str):
        return mask_secrets(obj)
    return obj


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat() if obj != obj.normalize() else obj.date().isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (tuple, list)):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj
