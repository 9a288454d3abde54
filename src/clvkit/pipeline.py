"""A scenario's steps, in order: load its data (here), then score it (``clvkit.tiers``' part).

``load_data(config)`` turns a validated :class:`clvkit.config.Config` into the clean tables of
docs/DATA.md, whatever the source: simulated, the real CDNOW data, or the user's files. Every
source goes through ``clvkit.clean.clean_transactions`` so the audit ledger always exists.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pandas as pd

from clvkit.config import Config, TableSource

__all__ = ["ScenarioData", "ScoreResult", "fingerprint", "fit_models", "load_data", "score",
           "score_scenario"]


@dataclass
class ScenarioData:
    """The clean tables of one scenario, ready for summaries and models.

    Attributes
    ----------
    transactions : DataFrame
        Clean transactions (``customer_id, date, amount``, ...), after the ledger's drops.
    ledger : clvkit.clean.Ledger
        What cleaning dropped or modified, by reason.
    customers, surveys, complaints, programme : DataFrame or None
        The optional tables (None when the source has none).
    observation_end : Timestamp
        End of the observed history: configured, the simulation's, or the last purchase date.
    truth : object or None
        The simulation's truth (``SimulatedData.truth``); None for real data.
    source : str
        A one-line description of where the data came from.
    fingerprint : str
        Stable hash of the clean transactions (see :func:`fingerprint`), for run metadata.
    """

    transactions: pd.DataFrame
    ledger: Any
    customers: pd.DataFrame | None
    surveys: pd.DataFrame | None
    complaints: pd.DataFrame | None
    programme: pd.DataFrame | None
    observation_end: pd.Timestamp
    truth: Any
    source: str
    fingerprint: str


def load_data(config: Config) -> ScenarioData:
    """Load and clean a scenario's data as its params describe.

    Parameters
    ----------
    config : Config
        A validated scenario (``clvkit.config.load``).

    Returns
    -------
    ScenarioData

    Raises
    ------
    DataError
        From intake or cleaning: a file, column or value that cannot be used.

    Examples
    --------
    >>> from clvkit.config import Config
    >>> cfg = Config.from_dict({"scenario": "cd", "data": {"source": "cdnow"},
    ...     "satisfaction": {"enabled": False}, "impact": {"enabled": False}})
    >>> load_data(cfg).transactions["customer_id"].nunique()
    2357
    """
    data, obs_end = config.data, config.cleaning.observation_end
    tables: dict[str, pd.DataFrame | None] = dict.fromkeys(
        ("customers", "surveys", "complaints", "programme"))
    truth = None
    if data.source == "simulate":
        from clvkit.datasets import simulate

        s = data.simulate
        sim = simulate(s.customers, s.seed, start=s.start.date().isoformat(),
                       observation_end=s.observation_end.date().isoformat(),
                       future_days=s.future_days, prospect_share=s.prospect_share,
                       programme=s.programme)
        raw, truth = sim.transactions, sim.truth
        tables.update({name: getattr(sim, name) for name in tables})
        obs_end = s.observation_end if obs_end is None else obs_end
        description = f"simulated: {s.customers:,} customers, seed {s.seed}"
    elif data.source == "cdnow":
        from clvkit.datasets import load_cdnow

        raw = load_cdnow(data.cdnow.which)
        description = f"CDNOW {data.cdnow.which} (Fader, Hardie & Lee 2005)"
    else:
        from clvkit import io

        raw = io.read_transactions(data.transactions.location,
                                   **_reader_kwargs("transactions", data.transactions))
        for name in tables:
            src = getattr(data, name)
            if src is not None:
                tables[name] = getattr(io, f"read_{name}")(src.location,
                                                           **_reader_kwargs(name, src))
        description = f"files: {data.transactions.location}"

    from clvkit.clean import clean_transactions

    clean, ledger = clean_transactions(
        raw, observation_end=obs_end, returns=config.cleaning.returns,
        zero_amounts=config.cleaning.zero_amounts, amount_cap=config.cleaning.amount_cap,
        source=description)
    if obs_end is None:
        obs_end = clean["date"].max().normalize()
    return ScenarioData(transactions=clean, ledger=ledger, observation_end=pd.Timestamp(obs_end),
                        truth=truth, source=description, fingerprint=fingerprint(clean),
                        **tables)


def fingerprint(transactions: pd.DataFrame) -> str:
    """A stable hash of ``customer_id, date, amount``: equal data gives an equal fingerprint
    in any process (pandas' row hashing with its fixed key), so runs can be compared."""
    rows = pd.util.hash_pandas_object(transactions[["customer_id", "date", "amount"]],
                                      index=False)
    return "sha256:" + hashlib.sha256(rows.to_numpy().tobytes()).hexdigest()[:16]


def _reader_kwargs(table: str, src: TableSource) -> dict[str, Any]:
    """Keywords for ``clvkit.io.read_<table>`` from a TableSource (config validated which apply)."""
    kw: dict[str, Any] = {"customer_id": src.customer_id, "table": src.table, "query": src.query,
                          "sep": src.sep, "encoding": src.encoding}
    if table != "programme":
        kw.update(date_format=src.date_format, timezone=src.timezone)
    if src.date is not None:
        kw["signup_date" if table == "customers" else "date"] = src.date
    if src.amount is not None:
        kw["amount"] = src.amount
    kw.update(src.columns)
    return kw


# ------------------------------------------------------------------ scoring (clvkit.tiers' part)
@dataclass
class ScoreResult:
    """Everything the score step computed, for notebooks, the CLI and the Spark engine.

    ``assignments`` is the export table (``clvkit.export.ASSIGNMENT_COLUMNS``), one row per
    customer, prospects included. ``scored`` holds the scored buyers (docs/DATA.md) plus
    ``revenue`` (historical spend); the other attributes are the ``clvkit.tiers`` results.
    ``migration`` is None without ``previous_run``; ``grid`` None without a second dimension.
    """

    assignments: pd.DataFrame
    summary: pd.DataFrame
    scored: pd.DataFrame
    prospects: pd.Index
    transaction_model: Any
    spend_model: Any
    model_comparison: pd.DataFrame
    tiers: Any
    grid: Any
    rfm: pd.DataFrame
    segments: Any
    stages: Any
    playbook: Any
    warning: Any
    migration: Any
    profiles: Any
    run_date: pd.Timestamp


_TRANSACTION_MODELS = {"bgnbd": "BetaGeo", "paretonbd": "ParetoNBD", "mbgnbd": "ModifiedBetaGeo"}


def fit_models(config: Config, summary: pd.DataFrame):
    """Fit the configured transaction model (``best``: lowest AIC of those available) and
    Gamma-Gamma; return ``(transaction_model, spend_model, comparison)``."""
    from clvkit import models

    m = config.model
    tm, comparison = fit_transaction_model(config, summary)
    spend = models.GammaGamma(penalizer=m.penalizer, ci_level=m.ci_level).fit(summary)
    return tm, spend, comparison


def fit_transaction_model(config: Config, summary: pd.DataFrame):
    """Fit the configured purchase model (``best``: lowest AIC of those available) on a summary
    (or compressed rows with ``weights``); return ``(model, comparison)``."""
    from clvkit import models
    from clvkit.errors import ConfigError

    m = config.model
    names = list(_TRANSACTION_MODELS) if m.transaction == "best" else [m.transaction]
    rows, fitted = [], {}
    for name in names:
        cls = getattr(models, _TRANSACTION_MODELS[name], None)
        if cls is None:
            if m.transaction != "best":
                raise ConfigError(f"model {name!r} is not available in this version",
                                  key="model.transaction", fix="use bgnbd")
            continue
        fitted[name] = cls(penalizer=m.penalizer, ci_level=m.ci_level).fit(summary)
        ll, k = fitted[name].log_likelihood_, len(fitted[name].params_)
        rows.append({"model": name, "log_likelihood": ll, "n_params": k, "aic": 2 * k - 2 * ll})
    comparison = pd.DataFrame(rows).sort_values("aic", kind="mergesort").reset_index(drop=True)
    return fitted[comparison.loc[0, "model"]], comparison


def score(config: Config, data: ScenarioData, *, run_date=None,
          previous: pd.DataFrame | None = None) -> ScoreResult:
    """Summary → models → value → tiers, segments, stages, playbook, warning, migration.

    Parameters
    ----------
    config : Config
        The scenario; sections ``summary, model, value, tiers, segments, stages, churn_warning,
        playbook, previous_run`` are used.
    data : ScenarioData
        From :func:`load_data`.
    run_date : date-like, optional
        Stamped on the export; default ``config.run_date``, else today.
    previous : DataFrame, optional
        The previous run's assignments (default: read from ``config.previous_run`` if set).

    Returns
    -------
    ScoreResult
    """
    from clvkit import export, tiers
    from clvkit.rfm import rfm_summary
    from clvkit.value import score_customers

    run_date = pd.Timestamp(run_date or config.run_date or pd.Timestamp.today()).normalize()
    summary = rfm_summary(data.transactions, observation_end=data.observation_end,
                          time_unit=config.summary.time_unit, period=config.summary.period,
                          engine=config.summary.engine)
    tm, sm, comparison = fit_models(config, summary)
    v = config.value
    scored = score_customers(tm, sm, summary, horizon=v.horizon, horizon_unit=v.horizon_unit,
                             discount_rate=v.discount_rate, discount_unit=v.discount_unit)
    tx = data.transactions
    scored["revenue"] = tx.groupby("customer_id")["amount"].sum().reindex(scored.index).fillna(0.0)
    customers = data.customers
    prospects = pd.Index([], name="customer_id")
    if customers is not None:
        prospects = pd.Index(customers["customer_id"]).difference(scored.index)
    t = config.tiers
    score_frame = scored
    if t.score not in scored.columns and customers is not None and t.score in customers.columns:
        score_frame = scored.join(customers.set_index("customer_id")[[t.score]])
    tier_res = tiers.assign_tiers(score_frame, t.rules, score=t.score, method=t.method,
                                  prospects=prospects, prospect_label=t.prospect_label)
    tier = tier_res.tier
    stage_res = tiers.lifecycle_stages(scored, tiers.StageRules.from_params(config.stages),
                                       prospects=prospects)
    stage = stage_res.stage.reindex(tier.index)
    rfm = tiers.rfm_scores(scored)
    if config.segments.method == "kmeans":
        seg_res = tiers.kmeans_segments(scored)
    elif config.segments.method == "rfm8":
        seg_res = tiers.rfm8_segments(scored, cut=config.segments.cut,
                                      language=config.report.language)
    else:
        seg_res = tiers.rfm_segments(rfm, config.segments.mapping or None)
    segment = seg_res.segment.astype("string").reindex(tier.index).fillna("prospect")
    grid = None
    if t.second_dimension is not None:
        grid = tiers.tier_grid(tier, _second_values(t.second_dimension.column, stage, segment,
                                                    scored, customers),
                               column=t.second_dimension.column, method=t.second_dimension.method,
                               rules=t.second_dimension.rules)
    pb = config.playbook
    playbook = tiers.assign_actions(tier, stage, tiers=pb.tiers, stages=pb.stages,
                                    require_actions=pb.require_actions,
                                    prospect_label=t.prospect_label, labels=t.labels)
    table = pd.DataFrame({"customer_id": tier.index.to_numpy(), "tier": tier.array,
                          "tier_2d": (grid.tier_2d.astype("string").to_numpy() if grid is not None
                                      else pd.array([pd.NA] * len(tier), dtype="string")),
                          "stage": stage.array, "segment": segment.array})
    for col in ("r_score", "f_score", "m_score", "rfm_score"):
        table[col] = rfm[col].reindex(tier.index).astype("Int64").array
    for col in ("clv", "p_alive", "expected_purchases", "clv_at_risk"):
        table[col] = scored[col].reindex(tier.index).to_numpy(dtype="float64")
    table["action"] = playbook.action.array
    table["run_date"] = run_date
    if previous is None and config.previous_run is not None:
        previous = export.read_assignments(config.previous_run)
    migration, prev_p = None, None
    if previous is not None:
        previous = previous.assign(customer_id=_like(previous["customer_id"], table["customer_id"]))
        migration = tiers.tier_migration(previous, table, order=t.labels)
        prev_p = previous.set_index("customer_id")["p_alive"]
    cw = config.churn_warning
    warning = tiers.churn_warning(scored, p_alive_below=cw.p_alive_below,
                                  drop_more_than=cw.drop_more_than, previous=prev_p,
                                  top_n=cw.top_n,
                                  extra=table.set_index("customer_id")[["tier", "stage", "action"]])
    profiles = tiers.tier_profiles(tier, scored, revenue=scored["revenue"], customers=customers)
    return ScoreResult(assignments=table, summary=summary, scored=scored, prospects=prospects,
                       transaction_model=tm, spend_model=sm, model_comparison=comparison,
                       tiers=tier_res, grid=grid, rfm=rfm, segments=seg_res, stages=stage_res,
                       playbook=playbook, warning=warning, migration=migration,
                       profiles=profiles, run_date=run_date)


def _second_values(column, stage, segment, scored, customers) -> pd.Series:
    """The second tier dimension: stage, segment, a scored column or a customer attribute."""
    from clvkit.errors import ConfigError

    if column == "stage":
        return stage
    if column == "segment":
        return segment
    if column in scored.columns:
        return scored[column]
    if customers is not None and column in customers.columns:
        return customers.set_index("customer_id")[column]
    known = ["stage", "segment", *scored.columns,
             *([] if customers is None else customers.columns)]
    raise ConfigError(f"unknown column {column!r}; available: {', '.join(map(str, known))}",
                      key="tiers.second_dimension.column")


def _like(ids: pd.Series, current: pd.Series) -> pd.Series:
    """Previous-run ids in the current run's id type (a CSV may read ``101`` where ids are int)."""
    if ids.dtype == current.dtype:
        return ids
    try:
        return ids.astype(current.dtype)
    except (TypeError, ValueError):
        return ids.astype("string")


def score_scenario(config: Config, out_dir, run_date=None) -> list:
    """``clvkit score``: load, score and write ``tiers.csv``/``tiers.parquet`` and
    ``watchlist.csv``/``.parquet`` (plus ``migration.csv`` and ``migration_moves.csv`` with
    ``previous_run``) to ``out_dir``. Returns the paths written; nothing is written on error."""
    from pathlib import Path

    from clvkit import export

    if config.summary.engine == "spark":  # summaries and scoring where the data lives
        from clvkit import spark

        return spark.score_scenario(config, out_dir, run_date)
    result = score(config, load_data(config), run_date=run_date)
    out, bom = Path(out_dir), config.export.csv_bom
    written = list(export.write_assignments(result.assignments, out, csv_bom=bom).values())
    for fmt in ("csv", "parquet"):
        written.append(export.write_table(result.warning.watchlist, out / f"watchlist.{fmt}",
                                          csv_bom=bom))
    if result.migration is not None:
        written.append(export.write_table(result.migration.counts.reset_index(),
                                          out / "migration.csv", csv_bom=bom))
        written.append(export.write_table(result.migration.moves, out / "migration_moves.csv",
                                          csv_bom=bom))
    return written
