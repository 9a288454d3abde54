"""The one orchestrator: a scenario's steps, in order, computed once.

``run(config)`` computes everything the scenario's reports show into one
:class:`clvkit.result.ScenarioResult`: ``load_data`` (the clean tables of docs/DATA.md, whatever
the source: simulated, the real CDNOW data, or the user's files; every source goes through
``clvkit.clean.clean_transactions`` so the audit ledger always exists), the purchase model chosen
by holdout error (``choose_transaction_model``) with its calibration diagnostics, ``score``
(value, tiers, segments, stages, playbook, watchlist, migration, profiles), then satisfaction,
retention and the programme's impact. ``score_scenario`` is ``clvkit score``: the scoring part
only, written as exports.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

import pandas as pd

from clvkit.config import Config, TableSource, mask_secrets

__all__ = ["ScenarioData", "ScoreResult", "calibration_end", "choose_transaction_model",
           "Fitted", "fingerprint", "fit_models", "fit_scenario", "load_data", "run", "score",
           "score_scenario", "write_exports"]


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
    #: the resolved calibration split (``clvkit.units.calibration_end``), None without one
    calibration_end: pd.Timestamp | None = None


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
                       programme=s.programme, channel_effects=dict(s.channel_effects) or None)
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
        description = f"files: {mask_secrets(str(data.transactions.location))}"

    from clvkit.clean import clean_transactions

    c = config.cleaning
    clean, ledger = clean_transactions(
        raw, observation_end=obs_end, returns=c.returns, zero_amounts=c.zero_amounts,
        amount_cap=c.amount_cap, source=description, date_floor=c.date_floor,
        date_ceiling=(pd.Timestamp(config.run_date or pd.Timestamp.today()).normalize()
                      + pd.Timedelta(days=c.future_tolerance_days)),
        max_drop_share=c.max_drop_share, has_amount=config.has_amounts)
    if obs_end is None:
        obs_end = clean["date"].max().normalize()
    out = ScenarioData(transactions=clean, ledger=ledger, observation_end=pd.Timestamp(obs_end),
                       truth=truth, source=description, fingerprint=fingerprint(clean),
                       **tables)
    out.calibration_end = calibration_end(config, out)
    return out


def calibration_end(config: Config, data: ScenarioData) -> pd.Timestamp | None:
    """The scenario's calibration split resolved on its data (first purchase to observation
    end) by ``clvkit.units.calibration_end``; None without a split.

    Raises
    ------
    ConfigError
        A split that leaves no calibration or no holdout period, naming the key and the span.
    """
    from clvkit import units
    from clvkit.errors import ConfigError

    spec = config.summary.split
    if spec is None:
        return None
    key = ("summary.calibration" if config.summary.calibration is not None
           else "summary.calibration_end")
    try:
        return units.calibration_end(spec, data.transactions["date"].min(), data.observation_end)
    except ValueError as e:
        raise ConfigError(str(e), key=key, file=config.source,
                          fix="choose a shorter split, a share such as 0.7, or remove it") from None


def fingerprint(transactions: pd.DataFrame) -> str:
    """A stable hash of ``customer_id, date, amount``: equal data gives an equal fingerprint
    in any process (pandas' row hashing with its fixed key), so runs can be compared."""
    cols = [c for c in ("customer_id", "date", "amount") if c in transactions.columns]
    rows = pd.util.hash_pandas_object(transactions[cols], index=False)
    return "sha256:" + hashlib.sha256(rows.to_numpy().tobytes()).hexdigest()[:16]


def _reader_kwargs(table: str, src: TableSource) -> dict[str, Any]:
    """Keywords for ``clvkit.io.read_<table>`` from a TableSource (config validated which apply)."""
    kw: dict[str, Any] = {"customer_id": src.customer_id, "table": src.table, "query": src.query,
                          "sep": src.sep, "encoding": src.encoding}
    if table != "programme":
        kw.update(date_format=src.date_format, timezone=src.timezone)
    if src.date is not None:
        kw["signup_date" if table == "customers" else "date"] = src.date
    if table == "transactions":
        kw["amount"] = src.amount
    if src.thousands is not None:
        kw["thousands"] = src.thousands
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


def _compared(config: Config) -> tuple[str, ...]:
    """Registry keys of the purchase models ``best`` compares: ``model.candidates``, else the
    registry's default set (``clvkit.models.registry.default_candidates``)."""
    from clvkit.models import registry

    return tuple(config.model.candidates) or registry.default_candidates()


def _needs_litt(config: Config) -> bool:
    """Whether a purchase model to fit needs ``litt`` (the CNBD-k models): the named one, or
    with ``best`` one of the candidates."""
    from clvkit.models import registry

    m = config.model
    keys = _compared(config) if m.transaction == "best" else (m.transaction,)
    return any("litt" in registry.MODELS[k].needs for k in keys if k in registry.MODELS)


def fit_models(config: Config, summary: pd.DataFrame):
    """Fit the configured transaction model (``best``: lowest AIC of the registry's purchase
    models) and Gamma-Gamma; return ``(transaction_model, spend_model, comparison)``. Without
    amounts (``config.has_amounts`` false) there is no spend model: None."""
    from clvkit import models

    m = config.model
    tm, comparison = fit_transaction_model(config, summary)
    if not config.has_amounts:
        return tm, None, comparison
    spend = models.GammaGamma(penalizer=m.penalizer, ci_level=m.ci_level).fit(summary)
    return tm, spend, comparison


def fit_transaction_model(config: Config, summary: pd.DataFrame):
    """Fit the configured purchase model (``best``: lowest AIC of the registry's purchase models
    whose columns the summary has) on a summary (or compressed rows with ``weights``); return
    ``(model, comparison)``."""
    from clvkit.models import registry

    m = config.model
    specs = ({k: registry.MODELS[k] for k in _compared(config)} if m.transaction == "best"
             else {m.transaction: registry.get(m.transaction, kind="purchase")})
    from clvkit.errors import ModelError

    absent = [c for c in _covariate_columns(config) if c not in summary.columns]
    if absent:  # e.g. the Spark engine's compressed statistics: no customer attributes
        from clvkit.errors import ConfigError
        raise ConfigError(f"the purchase statistics carry no {', '.join(absent)} column, so the "
                          "covariates cannot be used here (the Spark scoring fits on compressed "
                          "statistics without customer attributes)", key="model.covariates",
                          file=config.source, fix="remove model.covariates for this run, or "
                          "score with summary.engine pandas or duckdb")
    rows, fitted, skipped = [], {}, {}
    for key, spec in specs.items():
        missing = [c for c in spec.needs if c not in summary.columns]
        if m.transaction == "best" and missing:
            skipped[key] = (f"the summary has no {', '.join(missing)} column "
                            f"(clvkit.rfm.rfm_summary(..., {missing[0]}=True) adds it)")
            continue
        try:
            fitted[key] = spec.cls(penalizer=m.penalizer, ci_level=m.ci_level).fit(
                summary, **_covariate_kw(config, {key: spec.cls}).get(key, {}))
        except ModelError as exc:        # in the comparison, one model that cannot fit is left out
            if m.transaction != "best":
                raise
            skipped[key] = f"not fitted: {exc}"
            continue
        ll, k = fitted[key].log_likelihood_, len(fitted[key].params_)
        rows.append({"model": key, "log_likelihood": ll, "n_params": k, "aic": 2 * k - 2 * ll})
    if not rows:
        raise ModelError("no purchase model could be fitted: " + "; ".join(
            f"{key}: {why}" for key, why in skipped.items()))
    comparison = pd.DataFrame(rows).sort_values("aic", kind="mergesort").reset_index(drop=True)
    comparison.attrs["skipped"] = skipped
    return fitted[comparison.loc[0, "model"]], comparison


def score(config: Config, data: ScenarioData, *, run_date=None,
          previous: pd.DataFrame | None = None, summary: pd.DataFrame | None = None,
          fitted=None) -> ScoreResult:
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
    summary : DataFrame, optional
        The RFM summary when already computed (:func:`run` passes it).
    fitted : tuple, optional
        ``(transaction_model, spend_model, comparison)`` when already fitted (:func:`run`
        chooses the model by holdout error); default :func:`fit_models`.

    Returns
    -------
    ScoreResult
    """
    from clvkit import export, tiers
    from clvkit.rfm import rfm_summary
    from clvkit.value import score_customers

    run_date = pd.Timestamp(run_date or config.run_date or pd.Timestamp.today()).normalize()
    if summary is None:
        summary = _summary(config, data)
    tm, sm, comparison = fitted if fitted is not None else fit_models(config, summary)
    v = config.value
    scored = score_customers(tm, sm, summary, horizon=v.horizon, horizon_unit=v.horizon_unit,
                             discount_rate=v.discount_rate, discount_unit=v.discount_unit,
                             margin=v.margin)
    tx = data.transactions
    scored["revenue"] = (tx.groupby("customer_id")["amount"].sum().reindex(scored.index)
                         .fillna(0.0) if "amount" in tx.columns else float("nan"))
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
    # without amounts M is neutral (every customer mid-scale): segments by R and F only
    rfm_in = scored if config.has_amounts else scored.assign(monetary_value=0.0)
    rfm = tiers.rfm_scores(rfm_in)
    if config.segments.method == "kmeans":
        seg_res = tiers.kmeans_segments(rfm_in)
    elif config.segments.method == "rfm8":
        seg_res = tiers.rfm8_segments(rfm_in, cut=config.segments.cut,
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
                                    prospect_label=t.prospect_label, labels=t.labels,
                                    table=pb.table, protect=pb.protect)
    table = pd.DataFrame({"customer_id": tier.index.to_numpy(), "tier": tier.array,
                          "tier_2d": (grid.tier_2d.astype("string").to_numpy() if grid is not None
                                      else pd.array([pd.NA] * len(tier), dtype="string")),
                          "stage": stage.array, "segment": segment.array})
    for col in ("r_score", "f_score", "m_score", "rfm_score"):
        table[col] = rfm[col].reindex(tier.index).astype("Int64").array
        if not config.has_amounts and col in ("m_score", "rfm_score"):
            table[col] = pd.array([pd.NA] * len(table), dtype="Int64")
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
                                  extra=table.set_index("customer_id")[["tier", "stage", "action"]],
                                  value="clv" if config.has_amounts else "expected_purchases")
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
    ``previous_run``) to ``out_dir``. Returns the paths written; nothing is written on error.
    With ``summary.engine: spark`` the summary runs in Spark and the rest here; ``clvkit score``
    scores in Spark instead (``clvkit.spark.score_scenario``, above this module)."""
    data = load_data(config)
    f = fit_scenario(config, data)
    result = score(config, data, run_date=run_date, summary=f.summary, fitted=f.fitted)
    return write_exports(config, result, out_dir)


def write_exports(config: Config, result: ScoreResult, out_dir) -> list:
    """Write a score result's tier export, watchlist and migration tables; return the paths."""
    from pathlib import Path

    from clvkit import export

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


# ------------------------------------------------------------------ the one orchestrator
#: Holdout errors within this share of the best count as a tie, broken by AIC (``best``).
HOLDOUT_TIE = 0.01
#: customers on which ``best`` fits the costly candidates (``ModelSpec.costly``: CNBD-k, GGompertz)
#: for the holdout choice when the period has more; seeded, so a run is reproducible. Their
#: log-likelihood and AIC are then evaluated at that estimate on every customer of the period,
#: and a chosen one is fitted on all the data like any other.
COMPARE_SAMPLE = 20_000
COMPARE_SEED = 0


def _summary(config: Config, data: ScenarioData) -> pd.DataFrame:
    from clvkit.rfm import rfm_summary

    summary = rfm_summary(data.transactions, observation_end=data.observation_end,
                          time_unit=config.summary.time_unit, period=config.summary.period,
                          engine=config.summary.engine, litt=_needs_litt(config),
                          amount="amount" if config.has_amounts else None)
    return with_covariates(config, data, summary)


# ------------------------------------------------------------------ covariates (model.covariates)
def _covariate_columns(config: Config) -> list[str]:
    c = config.model.covariates
    return list(dict.fromkeys([*c.purchase, *c.dropout]))


def _customers_file(config: Config) -> str:
    src = config.data.customers
    return (mask_secrets(str(src.location)) if config.data.source == "files" and src is not None
            else "the simulated customers table")


def with_covariates(config: Config, data: ScenarioData, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (indexed by ``customer_id``) with the ``model.covariates`` columns of the
    customers table joined on; ``frame`` itself without covariates.

    Every customer of ``frame`` must have a value: a buyer missing from the customers table or
    with an empty cell is an error (never dropped), as is a column the table lacks.

    Raises
    ------
    ConfigError
        No customers table, or a configured column that it does not have (naming the key).
    DataError
        Customers without a value, naming the file, the column, how many and the first ids.
    """
    from clvkit.errors import ConfigError, DataError

    cols = _covariate_columns(config)
    if not cols:
        return frame
    where = _customers_file(config)
    if data.customers is None:
        raise ConfigError("covariates are columns of the customers table, and this scenario has "
                          "none", key="model.covariates", file=config.source,
                          fix="give data.customers (one row per customer with the columns), or "
                          "remove model.covariates")
    c = config.model.covariates
    for kind in ("purchase", "dropout"):
        for i, col in enumerate(getattr(c, kind)):
            have = [str(k) for k in data.customers.columns if k != "customer_id"]
            if col not in have:
                raise ConfigError(f"column {col!r} is not in {where} (its columns: "
                                  f"{', '.join(have)})", key=f"model.covariates.{kind}[{i}]",
                                  file=config.source,
                                  fix="name one of its columns, or add the column to the table")
            if col in frame.columns:
                raise ConfigError(f"column {col!r} of {where} has the name of a summary column "
                                  f"({', '.join(map(str, frame.columns))})",
                                  key=f"model.covariates.{kind}[{i}]", file=config.source,
                                  fix="rename it in the customers table")
    table = data.customers.set_index("customer_id")[cols]
    table.index = pd.Index(_like(pd.Series(table.index), pd.Series(frame.index)),
                           name=frame.index.name)
    out = frame.join(table, how="left")
    out.attrs = dict(frame.attrs)
    for col in cols:
        bad = out[col].isna().to_numpy()
        if bad.any():
            raise DataError(f"{int(bad.sum()):,} of {len(out):,} buyers have no value (no row in "
                            "the customers table, or an empty cell); a covariate needs one for "
                            "every buyer", file=where, column=col, rows=out.index[bad],
                            fix="fill it in the customers table (e.g. a level 'unknown'), or "
                            "remove the column from model.covariates")
    return out


def _covariate_kw(config: Config, classes: dict) -> dict:
    """Fit keywords per registry key: ``purchase_covariates``/``dropout_covariates`` for the
    models that take covariates (``clvkit.models.covariates.supports``), none for the others."""
    from clvkit.models.covariates import supports

    c = config.model.covariates
    if not (c.purchase or c.dropout):
        return {}
    return {k: {"purchase_covariates": list(c.purchase), "dropout_covariates": list(c.dropout)}
            for k, cls in classes.items() if supports(cls)}


def _candidates(config: Config, summary: pd.DataFrame) -> dict:
    """Registry key -> model class of the purchase models compared: the candidates
    (:func:`_compared`) whose columns the summary has, and the named one."""
    from clvkit.models import registry

    specs = {k: registry.MODELS[k] for k in _compared(config)
             if set(registry.MODELS[k].needs) <= set(summary.columns)}
    if config.model.transaction != "best":
        spec = registry.get(config.model.transaction, kind="purchase")
        specs.setdefault(spec.key, spec)
    return {k: s.cls for k, s in specs.items()}


def _missing_columns(config: Config, summary: pd.DataFrame) -> dict:
    """Registry key -> why a candidate purchase model is left out of ``best``: columns its fit
    needs (``litt`` for the CNBD-k models) that the summary lacks."""
    from clvkit.models import registry

    out = {}
    for key in _compared(config):
        spec = registry.MODELS[key]
        missing = [c for c in spec.needs if c not in summary.columns]
        if missing:
            out[key] = (f"the summary has no {', '.join(missing)} column; "
                        f"clvkit.rfm.rfm_summary(..., {missing[0]}=True) adds it")
    return out


def _fit_each(make: dict, keys, data: pd.DataFrame, skipped: dict, *, strict: bool,
              sampled=(), info: dict | None = None, kw: dict | None = None) -> dict:
    """Fit ``make[k]()`` on ``data`` (with ``kw[k]``: covariates) for each key; with
    ``strict=False`` a model that cannot be fitted (``ModelError``) is left out and its reason
    recorded in ``skipped``. Keys in ``sampled`` are fitted on ``COMPARE_SAMPLE`` seeded random
    customers when ``data`` has more; ``info[k]`` receives the fit's seconds and the customers
    it used."""
    import time

    from clvkit.errors import ModelError

    fitted, kw = {}, kw or {}
    for k in keys:
        part = data
        if k in sampled and len(data) > COMPARE_SAMPLE:
            part = data.sample(n=COMPARE_SAMPLE, random_state=COMPARE_SEED)
        start = time.perf_counter()
        try:
            fitted[k] = make[k]().fit(part, **kw.get(k, {}))
        except ModelError as exc:
            if strict:
                raise
            skipped[k] = f"not fitted: {exc}"
            continue
        if info is not None:
            info[k] = (time.perf_counter() - start, len(part))
    if not fitted:
        raise ModelError("no purchase model could be fitted: " + "; ".join(
            f"{k}: {why}" for k, why in skipped.items()))
    return fitted


def _loglik_on(key: str, model, data: pd.DataFrame) -> float:
    """Log-likelihood of ``data`` (every customer) at ``model``'s estimate: the module-level
    likelihood of the registry's class, with its extra columns (``ModelSpec.needs``)."""
    from clvkit.models import registry

    cols = ["frequency", "recency", "T", *registry.MODELS[key].needs]
    args = [data[c].to_numpy(dtype=float) for c in cols]
    return float(type(model)._loglik(model._params(), *args).sum())


def _display_name(key: str) -> str:
    from clvkit.models.registry import model_name

    return model_name(key)


def choose_transaction_model(config: Config, summary: pd.DataFrame,
                             holdout: pd.DataFrame | None = None):
    """Fit the purchase model(s) and choose the one that scores the customers.

    With ``model.transaction: best`` and a calibration/holdout frame, every purchase model of
    the registry (``clvkit.models.registry.purchase_models``) is fitted on the calibration
    period: the chosen model has the lowest holdout error per customer (mean absolute error of
    predicted holdout purchases); candidates within ``HOLDOUT_TIE`` (1 %) of that error are
    tied and the lowest AIC among them (on the same calibration customers) wins. Only the
    chosen model is then fitted on the full ``summary``. Without a holdout every candidate is
    fitted on ``summary`` and the lowest AIC wins. A model named in the params is used as it is.
    With ``model.covariates`` (columns that :func:`with_covariates` joined onto ``summary`` and
    ``holdout``) the candidates that take covariates are fitted with them and the others without;
    the comparison's ``covariates`` column and the reason say which.

    Parameters
    ----------
    config : Config
        ``model.transaction``, ``model.penalizer`` and ``model.ci_level`` are used.
    summary : DataFrame
        The RFM summary (``frequency, recency, T``).
    holdout : DataFrame, optional
        ``clvkit.rfm.calibration_holdout`` at ``summary.calibration_end``.

    Returns
    -------
    model : fitted purchase model
        The chosen model fitted on ``summary``.
    choice : clvkit.result.ModelChoice
        The comparison table and the reason, for the report.
    calibration_fits : dict or None
        Every candidate fitted on the calibration period (None without a holdout).
    """
    from clvkit.models.diagnostics import holdout_errors
    from clvkit.result import ModelChoice

    m = config.model
    cands = _candidates(config, summary)
    keys = list(cands) if m.transaction == "best" else [m.transaction]
    make = {k: (lambda c=cands[k]: c(penalizer=m.penalizer, ci_level=m.ci_level)) for k in cands}
    skipped = _missing_columns(config, summary)
    strict = m.transaction != "best"
    kw = _covariate_kw(config, cands)
    cal_fits = None
    from clvkit.models import registry

    costly = {k for k in cands if registry.MODELS[k].costly}
    info: dict = {}
    if holdout is not None:  # every candidate on the calibration period: fit and holdout error
        cal = holdout.drop(columns=[c for c in holdout.columns if c.endswith("_holdout")])
        cal_fits = _fit_each(make, list(cands), cal, skipped, strict=False,
                             sampled=costly if m.transaction == "best" else (), info=info, kw=kw)
        if strict and m.transaction not in cal_fits:  # the named model must fit: say why not
            make[m.transaction]().fit(cal, **kw.get(m.transaction, {}))
        fits = {k: cal_fits[k] for k in keys if k in cal_fits}
    else:
        fits = _fit_each(make, keys, summary, skipped, strict=strict, info=info, kw=kw)
    data_of = summary if holdout is None else cal
    rows = pd.DataFrame({
        "name": [_display_name(k) for k in fits],
        "n_params": [len(f.params_) for f in fits.values()],
        "log_likelihood": [f.log_likelihood_ if info[k][1] == len(data_of)
                           else _loglik_on(k, f, data_of) for k, f in fits.items()],
        "fit_seconds": [info[k][0] for k in fits],
        "fit_customers": [info[k][1] for k in fits]},
        index=pd.Index(list(fits), name="model"))
    rows["aic"] = 2 * rows["n_params"] - 2 * rows["log_likelihood"]
    if kw:  # model.covariates: which candidates were fitted with them
        rows["covariates"] = [k in kw for k in fits]
    if holdout is not None:
        errors = {k: holdout_errors(fits[k], holdout) for k in fits}
        rows["holdout_mae"] = [errors[k]["mae"] for k in fits]
        rows["holdout_rmse"] = [errors[k]["rmse"] for k in fits]
        rows["tied"] = rows["holdout_mae"] <= rows["holdout_mae"].min() * (1 + HOLDOUT_TIE)
    if m.transaction != "best":
        chosen, criterion = m.transaction, "params"
        reason = (f"{_display_name(chosen)} is used because the params file names it "
                  "(model.transaction); set it to best to choose by holdout error.")
    elif holdout is not None:
        tied = rows[rows["tied"]]
        chosen = str(tied["aic"].idxmin())
        criterion = "holdout"
        best_mae = rows.loc[chosen, "holdout_mae"]
        others = ", ".join(f"{rows.loc[k, 'name']} {rows.loc[k, 'holdout_mae']:.3f}"
                           for k in keys if k != chosen)
        reason = (f"{_display_name(chosen)} is used: fitted on the purchases to "
                  f"{holdout.attrs.get('calibration_end', config.summary.calibration_end):%Y-%m-%d}, "
                  f"it predicted each customer's holdout purchases with the smallest error "
                  f"(mean absolute error {best_mae:.3f}; {others})")
        reason += (f". {', '.join(tied.loc[tied.index != chosen, 'name'])} came within "
                   f"{HOLDOUT_TIE:.0%} of it, and it has the lower AIC, which breaks the tie."
                   if len(tied) > 1 else ".")
    else:
        chosen, criterion = str(rows["aic"].idxmin()), "aic"
        reason = (f"{_display_name(chosen)} is used: it has the lowest AIC of "
                  f"{', '.join(rows['name'])}. There is no holdout period to compare predictions "
                  "on: set summary.calibration_end to choose by holdout error.")
    rows["chosen"] = rows.index == chosen
    part = rows[rows["fit_customers"] < len(data_of)]
    if len(part):
        reason += (f" {', '.join(part['name'])} "
                   f"{'was' if len(part) == 1 else 'were'} fitted on a random sample of "
                   f"{COMPARE_SAMPLE:,} of the {len(data_of):,} customers to keep the comparison "
                   "fast; the log-likelihood, AIC and holdout error are on all of them.")
    if skipped and m.transaction == "best":
        reason += " Not compared: " + "; ".join(
            f"{_display_name(k)} ({why})" for k, why in skipped.items()) + "."
    rows.attrs["skipped"] = skipped
    choice = ModelChoice(chosen=chosen, name=_display_name(chosen), criterion=criterion,
                         reason=reason, comparison=rows)
    if kw and m.transaction == "best":
        without = [_display_name(k) for k in fits if k not in kw]
        reason += (f" Fitted with the covariates ({', '.join(_covariate_columns(config))}): "
                   f"{', '.join(_display_name(k) for k in fits if k in kw)}"
                   + (f"; without (they take none): {', '.join(without)}." if without else "."))
        choice = dataclasses.replace(choice, reason=reason)
    model = fits[chosen] if holdout is None else make[chosen]().fit(summary, **kw.get(chosen, {}))
    return model, choice, cal_fits


def _calibration(config: Config, data: ScenarioData, holdout, cal_fits, chosen: str,
                 summary: pd.DataFrame | None = None):
    """The chosen model's holdout diagnostics (``clvkit.result.Calibration``); ``summary``
    gives every buyer's covariates to the tracking curve of a model with covariates."""
    from clvkit import units
    from clvkit.models import diagnostics
    from clvkit.result import Calibration

    model = cal_fits[chosen]
    unit = config.summary.time_unit
    n_cal = model.n_customers_         # candidates fitted on a sample are not compared by LL
    cal_fits = {k: f for k, f in cal_fits.items() if f.n_customers_ == n_cal}
    n_periods = int(units.convert((data.observation_end - data.transactions["date"].min()).days,
                                  "D", unit))
    candidates = diagnostics.compare_models(cal_fits, holdout=holdout)
    candidates.index = pd.Index([_display_name(k) for k in candidates.index], name="model")
    return Calibration(
        calibration_end=pd.Timestamp(data.calibration_end),
        holdout_length=float(holdout["duration_holdout"].iloc[0]), customers=len(holdout),
        errors={k: float(v) for k, v in diagnostics.holdout_errors(model, holdout).items()},
        table=diagnostics.calibration_holdout_table(model, holdout),
        tracking=diagnostics.tracking(model, data.transactions, period=unit,
                                      n_periods=max(n_periods, 1), covariates=summary),
        candidates=candidates)


def _frequency_recency(config: Config, model, summary: pd.DataFrame):
    from clvkit import units
    from clvkit.models import diagnostics
    from clvkit.result import FrequencyRecency

    T = float(summary["T"].max())
    horizon = float(units.convert(config.value.horizon, config.value.horizon_unit,
                                  config.summary.time_unit))
    pattern = None
    if getattr(model, "covariates_", None) is not None:  # the grid of the commonest pattern
        import numpy as np

        plain, inverse = model.pattern_models(summary)
        g = int(np.bincount(inverse).argmax())
        row = summary.iloc[int(np.flatnonzero(inverse == g)[0])]
        model = plain[g]
        pattern = {c: (row[c].item() if hasattr(row[c], "item") else row[c])
                   for c in _covariate_columns(config)}
    table = diagnostics.frequency_recency_matrix(
        model, T=T, max_frequency=int(min(15, summary["frequency"].quantile(0.95))),
        horizon=horizon, recency_step=max(1.0, round(T / 12)))
    return FrequencyRecency(table=table, T=T, horizon=horizon, pattern=pattern)


def _coverage(data: ScenarioData, config: Config) -> dict:
    tx = data.transactions
    facts = {"first purchase": tx["date"].min(), "last purchase": tx["date"].max(),
             "observation end": data.observation_end,
             "customers who bought": int(tx["customer_id"].nunique()),
             "purchase lines": len(tx), f"revenue ({config.currency})": (
                 float(round(tx["amount"].sum())) if "amount" in tx.columns else None)}
    optional = {"customers on file (with prospects)": data.customers,
                "survey responses": data.surveys, "complaints": data.complaints}
    facts.update({k: None if v is None else len(v) for k, v in optional.items()})
    return facts


def _effects(model) -> pd.DataFrame | None:
    """The covariate effects of the chosen model (``clvkit.models.covariates.effects``), None
    when it has no covariates."""
    from clvkit.models.covariates import effects

    return None if getattr(model, "covariates_", None) is None else effects(model)


@dataclass
class Fitted:
    """The models of a scenario, fitted once and shared by ``run`` and ``clvkit score``.

    ``holdout`` is the calibration/holdout frame (None without a split), ``choice`` the
    ``clvkit.result.ModelChoice``, ``calibration_fits`` every candidate fitted on the
    calibration period, ``spend_model`` None without amounts.
    """

    summary: pd.DataFrame
    holdout: pd.DataFrame | None
    transaction_model: Any
    spend_model: Any
    choice: Any
    calibration_fits: dict | None

    @property
    def fitted(self) -> tuple:
        """``(transaction_model, spend_model, comparison)`` as :func:`score` takes them."""
        comparison = self.choice.comparison.reset_index()[
            ["model", "log_likelihood", "n_params", "aic"]]
        return self.transaction_model, self.spend_model, comparison


def fit_scenario(config: Config, data: ScenarioData) -> Fitted:
    """Summary, holdout at the resolved calibration split, the purchase model chosen by
    :func:`choose_transaction_model`, and Gamma-Gamma (None without amounts)."""
    from clvkit import models
    from clvkit.rfm import calibration_holdout

    s = config.summary
    summary = _summary(config, data)
    holdout = None if data.calibration_end is None else calibration_holdout(
        data.transactions, calibration_end=data.calibration_end,
        observation_end=data.observation_end, time_unit=s.time_unit, period=s.period,
        engine=s.engine, litt=_needs_litt(config),
        amount="amount" if config.has_amounts else None)
    if holdout is not None:
        holdout = with_covariates(config, data, holdout)
    tm, choice, cal_fits = choose_transaction_model(config, summary, holdout)
    sm = None if not config.has_amounts else models.GammaGamma(
        penalizer=config.model.penalizer, ci_level=config.model.ci_level).fit(summary)
    return Fitted(summary=summary, holdout=holdout, transaction_model=tm, spend_model=sm,
                  choice=choice, calibration_fits=cal_fits)
#: From this many transactions on, the case study runs in a second process while the models
#: are fitted and the customers scored (it needs neither); below it, the process costs more
#: than it saves.
PARALLEL_MIN_ROWS = 100_000


def _impact(config: Config, data: ScenarioData):
    """The programme's case study (``clvkit.impact.evaluate_programme``) for the scenario."""
    from clvkit import impact

    i = config.impact
    start = i.programme_start or data.truth.programme.start
    return impact.evaluate_programme(
        data.transactions, data.programme, start=start, surveys=data.surveys,
        outcomes=[o for o in i.outcomes if config.has_amounts or o != "spend"],  # no amounts: no spend
        pre_days=i.pre_days, post_days=i.post_days, observation_end=data.observation_end,
        churn_window_days=config.retention.churn_window_days, n_boot=i.n_boot, seed=i.seed)


def _start_impact(config: Config, data: ScenarioData):
    """Start the case study; return a function that gives its result (None: no programme).

    With enough data and more than one core it runs in a forked worker process, so its
    bootstrap overlaps the model fits; any failure there is re-raised by running it here (the
    error the user sees is the same either way).
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    if not (config.impact.enabled and data.programme is not None):
        return None
    if (len(data.transactions) < PARALLEL_MIN_ROWS or (os.cpu_count() or 1) < 2
            or "fork" not in multiprocessing.get_all_start_methods()):
        return lambda: _impact(config, data)
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    future = pool.submit(_impact, config, data)

    def result():
        try:
            return future.result()
        except Exception:  # errors do not always survive pickling: compute it here instead
            return _impact(config, data)
        finally:
            pool.shutdown()
    return result


def run(config: Config, *, run_date=None, previous: pd.DataFrame | None = None,
        data: ScenarioData | None = None):
    """Compute everything a scenario's reports show, once, into one result.

    Parameters
    ----------
    config : Config
        A validated scenario (``clvkit.config.load``).
    run_date : date-like, optional
        Stamped on the exports; default ``config.run_date``, else today.
    previous : DataFrame, optional
        The previous run's assignments (default: read from ``config.previous_run`` if set).
    data : ScenarioData, optional
        The scenario's data when already loaded (default :func:`load_data`).

    Returns
    -------
    clvkit.result.ScenarioResult
        Store it with ``.save(folder)``; ``clvkit.notebook.setup`` reads it in a notebook.

    Raises
    ------
    DataError, ConfigError
        From loading, cleaning or a section's own checks.

    Examples
    --------
    >>> from clvkit.config import Config
    >>> cfg = Config.from_dict({"scenario": "cd", "data": {"source": "cdnow"},
    ...     "summary": {"calibration_end": "1997-09-30"}, "model": {"transaction": "best"},
    ...     "satisfaction": {"enabled": False}, "impact": {"enabled": False}})
    >>> res = run(cfg, run_date="1998-07-01")
    >>> res.model_choice.criterion, len(res.assignments)
    ('holdout', 2357)
    """
    import time

    from clvkit import __version__, models, retention, satisfaction, units
    from clvkit.result import RunInfo, ScenarioResult

    started = time.perf_counter()
    data = load_data(config) if data is None else data
    run_date = pd.Timestamp(run_date or config.run_date or pd.Timestamp.today()).normalize()
    s = config.summary
    impact_job = _start_impact(config, data)  # independent of the models: runs alongside
    f = fit_scenario(config, data)
    summary, holdout, tm, sm, choice, cal_fits = (f.summary, f.holdout, f.transaction_model,
                                                  f.spend_model, f.choice, f.calibration_fits)
    sc = score(config, data, run_date=run_date, previous=previous, summary=summary,
               fitted=f.fitted)
    tier, tx = sc.tiers.tier, data.transactions
    sat = None
    if config.satisfaction.enabled and data.surveys is not None:
        sat = satisfaction.analyse(data.surveys, tier, complaints=data.complaints,
                                   transactions=tx, p_alive=sc.scored["p_alive"])
    r = config.retention
    imp = None if impact_job is None else impact_job()
    monthly = (tx.assign(amount=tx["amount"] if "amount" in tx.columns else float("nan"))
               .resample("MS", on="date")["amount"].agg(["size", "sum"])
               .rename(columns={"size": "lines", "sum": "revenue"}))
    if not config.has_amounts:  # no amounts: no revenue (not a revenue of 0)
        monthly["revenue"] = float("nan")
    v = config.value
    info = RunInfo(
        scenario=config.scenario, title=config.display_title, source=data.source,
        observation_end=data.observation_end, run_date=run_date, fingerprint=data.fingerprint,
        currency=config.currency, time_unit=units.UNIT_NAMES[s.time_unit],
        horizon=f"{v.horizon:g} {units.UNIT_NAMES[v.horizon_unit]}",
        discount=f"{v.discount_rate:.1%} per {units.UNIT_NAMES[v.discount_unit].rstrip('s')}",
        clvkit_version=__version__)
    result = ScenarioResult(
        config=config, info=info, transactions=tx, ledger=data.ledger, customers=data.customers,
        surveys=data.surveys, complaints=data.complaints, programme=data.programme,
        coverage=_coverage(data, config), monthly=monthly, summary=summary,
        transaction_model=tm, spend_model=sm, model_choice=choice,
        calibration=(None if holdout is None
                     else _calibration(config, data, holdout, cal_fits, choice.chosen,
                                       summary)),
        frequency_recency=_frequency_recency(config, tm, summary),
        scored=sc.scored, assignments=sc.assignments, prospects=sc.prospects, tiers=sc.tiers,
        grid=sc.grid, rfm=sc.rfm, segments=sc.segments, stages=sc.stages, playbook=sc.playbook,
        warning=sc.warning, migration=sc.migration, profiles=sc.profiles, satisfaction=sat,
        cohorts=retention.cohort_matrix(tx, observation_end=data.observation_end),
        churn=retention.churn_by_tier(tx, tier, observation_end=data.observation_end,
                                      window_days=r.churn_window_days,
                                      p_alive=sc.scored["p_alive"], threshold=r.p_alive_threshold),
        time_to_next=retention.time_to_next_purchase(tx, tier,
                                                     observation_end=data.observation_end),
        impact=imp, truth=data.truth, effects=_effects(tm))
    result.info = dataclasses.replace(info, seconds=time.perf_counter() - started)
    return result
