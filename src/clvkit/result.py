"""One scenario's computed results as one typed object, stored as Parquet + JSON.

:func:`clvkit.pipeline.run` computes everything a scenario's reports show -- clean data and
ledger, summary, fitted and compared models with their holdout diagnostics, scores, tiers,
stages, segments, playbook, watchlist, migration, profiles, satisfaction, retention and the
programme's impact -- once, into a :class:`ScenarioResult`. The report stores it in the run's
build folder and every notebook reads it back with one call (:mod:`clvkit.notebook`), so a
report computes the scenario once and the notebooks only present it (as statsmodels' result
objects hold every estimate and draw nothing).

Storage (``ScenarioResult.save(folder)``)::

    folder/
        result.json        every scalar, date, dict and the structure (which file holds what)
        frames/*.parquet   one file per DataFrame, Series or Index
        models/*.json      the fitted models (``Model.save``)

Nothing is pickled: a stored result is read back by ``ScenarioResult.load(folder)`` into the
same types (the ``clvkit`` result dataclasses named in ``result.json``); only ``clvkit.*`` types
are rebuilt. docs/DATA.md lists the attributes.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvkit.errors import ClvkitError

__all__ = ["Calibration", "FrequencyRecency", "LakeAggregates", "ModelChoice", "RunInfo",
           "ScenarioResult",
           "StoredResultError", "FORMAT"]

#: ``result.json``'s format name and version; a different version is recomputed, not read.
FORMAT = {"name": "clvkit-scenario-result", "version": 1}


class StoredResultError(ClvkitError):
    """A stored result cannot be read (missing, damaged, or written by another version)."""


# ------------------------------------------------------------------------------ the types
@dataclass(frozen=True)
class RunInfo:
    """Facts about one computed scenario, for headers and run metadata.

    Attributes
    ----------
    scenario, title : str
        The params' ``scenario`` and its display title.
    source : str
        One line on where the data came from.
    observation_end, run_date : Timestamp
        End of the observed history; the date stamped on the exports.
    fingerprint : str
        Hash of the clean transactions (``clvkit.pipeline.fingerprint``).
    currency : str
        The params' currency.
    time_unit : str
        The model time unit in words (``weeks``).
    horizon : str
        The value horizon in words (``12 months``).
    discount : str
        The discount rate in words (``1.0% per month``).
    clvkit_version : str
        The clvkit that computed it.
    seconds : float
        Wall-clock seconds the computation took.
    """

    scenario: str
    title: str
    source: str
    observation_end: pd.Timestamp
    run_date: pd.Timestamp
    fingerprint: str
    currency: str
    time_unit: str
    horizon: str
    discount: str
    clvkit_version: str
    seconds: float = 0.0


@dataclass(frozen=True)
class ModelChoice:
    """Which purchase model scores the customers, and why.

    Attributes
    ----------
    chosen : str
        Registry key of the chosen model (``bgnbd``, ``paretonbd``, ...).
    name : str
        Its display name (``BG/NBD``).
    criterion : {"holdout", "aic", "params"}
        How it was chosen: lowest holdout error (AIC breaking near-ties), lowest AIC (no
        holdout period), or named in the params.
    reason : str
        One or two sentences for the report saying what was compared and why this one won.
    comparison : DataFrame
        One row per candidate (index: registry key): ``name``, ``n_params``,
        ``log_likelihood`` and ``aic`` -- of the fit on the calibration period when there is a
        holdout (every candidate on the same customers), else on the full data; with a holdout
        also ``holdout_mae``, ``holdout_rmse`` (per customer) and ``tied`` (within the tie
        tolerance of the best holdout error); ``chosen``.
    """

    chosen: str
    name: str
    criterion: str
    reason: str
    comparison: pd.DataFrame


@dataclass(frozen=True)
class Calibration:
    """The holdout check: the chosen model refitted on the calibration period.

    Attributes
    ----------
    calibration_end : Timestamp
        The params' ``summary.calibration_end``.
    holdout_length : float
        Length of the holdout period in model time units.
    customers : int
        Customers in the calibration period.
    errors : dict
        The chosen model's holdout errors (``clvkit.models.diagnostics.holdout_errors``):
        ``mae``, ``rmse``, ``bias``, ``actual_total``, ``predicted_total``.
    table : DataFrame
        Holdout purchases by calibration frequency, actual and predicted
        (``calibration_holdout_table``).
    tracking : DataFrame
        Actual and expected repeat transactions per period (``diagnostics.tracking``).
    candidates : DataFrame
        Every candidate purchase model fitted on the calibration period
        (``diagnostics.compare_models`` with the holdout), index: display name.
    """

    calibration_end: pd.Timestamp
    holdout_length: float
    customers: int
    errors: dict
    table: pd.DataFrame
    tracking: pd.DataFrame
    candidates: pd.DataFrame


@dataclass(frozen=True)
class FrequencyRecency:
    """Expected purchases and P(alive) on a frequency x recency grid at customer age ``T``
    (``diagnostics.frequency_recency_matrix``), ``horizon`` in model time units."""

    table: pd.DataFrame
    T: float
    horizon: float
    #: for a model with covariates, the covariate values of the grid (the commonest pattern)
    pattern: dict | None = None


@dataclass(frozen=True)
class LakeAggregates:
    """What a report at lake scale computed over every customer in Spark, and its sample.

    Set on a result by ``clvkit.spark_report.lake_run`` (``summary.engine: spark``); None for
    the single-machine engines. There, the result's per-customer frames (``transactions``,
    ``summary``, ``scored``, ``assignments`` and the per-customer series of ``tiers``,
    ``stages``, ...) hold only the sample's customers, while the tables the report shows by
    tier, stage, segment, action, migration, cohort and month are exact (``exact`` and
    ``sampled`` list which is which; README "Scale out with Spark" too).

    Attributes
    ----------
    engine, master : str
        ``spark`` and the Spark master used.
    customers, prospects, transactions : int
        Buyers scored, prospects, transaction rows -- all of them.
    sample_customers : int
        Customers in the sample (buyers and prospects).
    sample_fraction, sample_seed, sample_target : float, int, int
        The sample: customers whose id hashed with the seed falls below the fraction
        (``spark.report_sample`` / buyers, at most 1); the target size.
    tiers_path : str
        Where Spark wrote the full assignment table.
    totals : dict
        Sums over every buyer: ``buyers``, ``p_alive`` (expected active customers),
        ``p_alive_variance`` (sum of p(1 - p)), ``clv``, ``clv_at_risk``, ``revenue``, ``lost``
        (P(alive) below ``retention.p_alive_threshold``), ``one_time`` (frequency 0),
        ``top10_clv`` (CLV of the top 10 % of buyers).
    by_tier : DataFrame
        Per tier: ``customers, revenue, clv_total, clv_mean, clv_at_risk, p_alive_mean,
        expected_purchases_mean, score_min, score_max``.
    distributions : DataFrame
        ``describe()`` of the per-customer columns (index) over every buyer; quartiles from
        Spark's ``approxQuantile`` (relative rank error ``spark.quantile_error``).
    histograms : dict
        Column -> DataFrame ``left, right, customers`` (equal bins, minimum to maximum).
    actions : Series
        Customers per playbook action.
    top : DataFrame
        The ten buyers with the highest CLV.
    acquisition : dict
        First purchases: ``last_new`` (the latest), ``customers``, ``recent`` (last 6 months),
        ``before`` (the 6 months before those).
    exact, sampled : tuple of str
        What is computed over every customer, and what on the sample.
    fit : dict
        What crossed to the driver for the model fits (``clvkit.spark.compressed_statistics``).
    """

    engine: str
    master: str
    customers: int
    prospects: int
    transactions: int
    sample_customers: int
    sample_fraction: float
    sample_seed: int
    sample_target: int
    tiers_path: str
    totals: dict
    by_tier: pd.DataFrame
    distributions: pd.DataFrame
    histograms: dict
    actions: pd.Series
    top: pd.DataFrame
    acquisition: dict
    exact: tuple
    sampled: tuple
    fit: dict


@dataclass
class ScenarioResult:
    """Everything one scenario's reports show, computed once by :func:`clvkit.pipeline.run`.

    Frames are indexed or keyed by ``customer_id`` as in docs/DATA.md. A section that the
    scenario does not have is None: ``calibration`` (no ``summary.calibration_end``),
    ``grid`` (no second tier dimension), ``migration`` (no previous run), ``satisfaction``
    (no surveys), ``impact`` (no programme), ``spend_model`` (no amounts).
    ``clvkit.sections`` turns each into something a notebook shows, or a note saying why it is
    empty and what to set.

    Attributes
    ----------
    config : clvkit.config.Config
        The validated scenario.
    info : RunInfo
        Title, data source, dates, fingerprint, units.
    transactions, ledger : DataFrame, clvkit.clean.Ledger
        The clean transactions and the audit of what cleaning did.
    customers, surveys, complaints, programme : DataFrame or None
        The optional input tables.
    coverage : dict
        What the clean data holds (first and last purchase, counts, revenue).
    monthly : DataFrame
        Purchase lines (``lines``) and revenue (``revenue``) per calendar month.
    summary : DataFrame
        Per-customer ``frequency, recency, T, monetary_value`` (``clvkit.rfm.rfm_summary``).
    transaction_model, spend_model : fitted models
        The chosen purchase model and the spend model (None without amounts).
    model_choice : ModelChoice
        The candidates compared and why the chosen one won.
    calibration : Calibration or None
        Holdout diagnostics of the chosen model.
    frequency_recency : FrequencyRecency
        How the model reads a purchase history.
    scored : DataFrame
        Scored buyers (docs/DATA.md) plus ``revenue``.
    assignments : DataFrame
        The export table (``tiers.csv``): one row per customer, prospects included.
    prospects : Index
        Customers on file who never bought.
    tiers, grid, rfm, segments, stages, playbook, warning, migration, profiles
        The ``clvkit.tiers`` results (``warning.watchlist`` is the full churn watchlist).
    satisfaction : clvkit.satisfaction.SatisfactionResult or None
    cohorts : clvkit.retention.CohortMatrix
    churn : DataFrame
        Churn by tier under the labelled definitions (``retention.churn_by_tier``).
    time_to_next : clvkit.retention.SurvivalResult
    impact : clvkit.impact.ImpactResult or None
    lake : LakeAggregates or None
        With the Spark engine's report: the exact aggregates, and the sample that the
        per-customer frames hold.
    truth : object or None
        The simulation's truth (in memory only: not stored).
    effects : DataFrame or None
        The covariate effects of the purchase model (``clvkit.models.covariates.effects``: one
        row per coefficient, factor and interval); None without ``model.covariates`` or when
        the chosen model takes none.
    """

    config: Any
    info: RunInfo
    transactions: pd.DataFrame
    ledger: Any
    customers: pd.DataFrame | None
    surveys: pd.DataFrame | None
    complaints: pd.DataFrame | None
    programme: pd.DataFrame | None
    coverage: dict
    monthly: pd.DataFrame
    summary: pd.DataFrame
    transaction_model: Any
    spend_model: Any
    model_choice: ModelChoice
    calibration: Calibration | None
    frequency_recency: FrequencyRecency
    scored: pd.DataFrame
    assignments: pd.DataFrame
    prospects: pd.Index
    tiers: Any
    grid: Any
    rfm: pd.DataFrame
    segments: Any
    stages: Any
    playbook: Any
    warning: Any
    migration: Any
    profiles: Any
    satisfaction: Any
    cohorts: Any
    churn: pd.DataFrame
    time_to_next: Any
    impact: Any
    #: :class:`LakeAggregates` of a report at lake scale (Spark); None on one machine
    lake: Any = None
    truth: Any = field(default=None, metadata={"store": False})
    effects: pd.DataFrame | None = None

    # ------------------------------------------------------------------ storage
    def save(self, folder) -> Path:
        """Write the result to ``folder`` (created; an existing result there is replaced).

        Returns the path of ``result.json``.
        """
        folder = Path(folder)
        (folder / "frames").mkdir(parents=True, exist_ok=True)
        (folder / "models").mkdir(parents=True, exist_ok=True)
        writer = _Writer(folder)
        body = {f.name: writer.encode(getattr(self, f.name), f.name)
                for f in dataclasses.fields(self) if f.metadata.get("store", True)}
        doc = {"format": FORMAT, "result": body}
        path = folder / "result.json"
        tmp = folder / ".result.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=True),
                       encoding="utf-8")
        tmp.replace(path)  # written last: a folder with result.json holds a whole result
        return path

    @classmethod
    def load(cls, folder) -> ScenarioResult:
        """Read a result written by :meth:`save`.

        Raises
        ------
        StoredResultError
            When ``folder`` holds no result, a damaged one, or one of another format version.
        """
        folder = Path(folder)
        path = folder / "result.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoredResultError(f"no stored scenario result in {folder} (result.json is "
                                    "missing); compute it with clvkit.pipeline.run") from None
        except (OSError, ValueError) as exc:
            raise StoredResultError(f"{path} cannot be read ({exc}); delete the folder and "
                                    "compute the result again") from None
        if doc.get("format") != FORMAT:
            raise StoredResultError(f"{path} has format {doc.get('format')!r}, this clvkit reads "
                                    f"{FORMAT}; compute the result again")
        reader = _Reader(folder)
        try:
            values = {name: reader.decode(v) for name, v in doc["result"].items()}
            return cls(**values)
        except StoredResultError:
            raise
        except (OSError, KeyError, TypeError, ValueError, ClvkitError) as exc:
            raise StoredResultError(f"{folder}: the stored result does not match this clvkit "
                                    f"({type(exc).__name__}: {exc}); compute it again") from None

    def __repr__(self) -> str:
        i = self.info
        return (f"<ScenarioResult {i.scenario}: {len(self.scored):,} buyers, "
                f"{self.model_choice.name} + "
                f"{'no spend model' if self.spend_model is None else type(self.spend_model).__name__}"
                f", observation end {i.observation_end:%Y-%m-%d}, run {i.run_date:%Y-%m-%d}>")


# ------------------------------------------------------------------------ encoding
def _plain_scalar(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


class _Writer:
    """Turns a result into JSON-able data, writing frames and models as files beside it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.used: set[str] = set()

    def _name(self, hint: str) -> str:
        base = "".join(c if c.isalnum() or c in "._-" else "_" for c in hint) or "x"
        name, i = base, 1
        while name in self.used:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name

    def encode(self, value, hint: str):
        value = _plain_scalar(value)
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"$float": repr(value)}
        if isinstance(value, pd.Timestamp):
            return {"$timestamp": value.isoformat()}
        if isinstance(value, _dt.datetime | _dt.date):
            return {"$timestamp": pd.Timestamp(value).isoformat()}
        if isinstance(value, pd.Timedelta):
            return {"$timedelta": value.isoformat()}
        if isinstance(value, Path):
            return {"$path": str(value)}
        if isinstance(value, pd.DataFrame):
            return self._frame(value, hint)
        if isinstance(value, pd.Series):
            name = self._name(hint)
            self._write(pd.DataFrame({"values": value}), name)
            return {"$series": name, "name": self.encode(value.name, hint + ".name"),
                    "object": value.dtype == object}  # parquet reads text back as str dtype
        if isinstance(value, pd.Index):
            name = self._name(hint)
            self._write(pd.DataFrame({"values": value}), name)
            return {"$index": name, "name": self.encode(value.name, hint + ".name")}
        if _is_config(value):
            d = value.to_dict()
            d.pop("source", None)
            return {"$config": d, "source": None if value.source is None else str(value.source)}
        if _is_model(value):
            name = self._name(hint)
            value.save(self.folder / "models" / f"{name}.json")
            return {"$model": name}
        if dataclasses.is_dataclass(value):
            cls = type(value)
            return {"$dataclass": f"{cls.__module__}:{cls.__qualname__}",
                    "fields": {f.name: self.encode(getattr(value, f.name), f"{hint}.{f.name}")
                               for f in dataclasses.fields(value)
                               if f.init and f.metadata.get("store", True)}}
        if isinstance(value, dict):
            return {"$dict": [[self.encode(k, hint), self.encode(v, f"{hint}.{k}")]
                              for k, v in value.items()]}
        if isinstance(value, (list, tuple, set, frozenset)):
            kind = {list: "$list", tuple: "$tuple"}.get(type(value), "$set")
            return {kind: [self.encode(v, hint) for v in value]}
        raise TypeError(f"cannot store {hint} of type {type(value).__name__} in a scenario result")

    def _frame(self, frame: pd.DataFrame, hint: str) -> dict:
        name = self._name(hint)
        out: dict[str, Any] = {"$frame": name}
        cols = frame.columns
        if not (all(isinstance(c, str) for c in cols) and not isinstance(cols, pd.MultiIndex)
                and cols.name is None and cols.is_unique):
            # parquet wants unique string column names: keep the real ones in a file of their own
            levels = cols.to_frame(index=False) if isinstance(cols, pd.MultiIndex) \
                else pd.DataFrame({"l0": cols})
            levels.columns = [f"l{i}" for i in range(levels.shape[1])]
            self._write(levels, f"{name}.columns")
            out["columns"] = {"file": f"{name}.columns",
                              "names": [self.encode(n, hint) for n in cols.names]}
            frame = frame.set_axis([f"c{i}" for i in range(len(cols))], axis=1)
        encoded = []
        for col in frame.columns:
            if frame[col].dtype == object and not _arrow_ok(frame[col]):
                frame = frame.assign(**{col: [json.dumps(self.encode(v, hint)) for v in frame[col]]})
                encoded.append(col)
        if encoded:
            out["json_columns"] = encoded
        freq = frame.index.freqstr if isinstance(frame.index, pd.DatetimeIndex) else None
        if freq is not None:  # a DatetimeIndex's frequency is not kept by parquet
            out["freq"] = freq
        objects = [c for c in frame.columns if frame[c].dtype == object and c not in encoded]
        if objects:  # parquet reads object text back as the str dtype: restore object
            out["object_columns"] = objects
        if frame.attrs:
            out["attrs"] = self.encode(dict(frame.attrs), hint + ".attrs")
            frame = frame.copy()
            frame.attrs = {}
        self._write(frame, name)
        return out

    def _write(self, frame: pd.DataFrame, name: str) -> None:
        frame.to_parquet(self.folder / "frames" / f"{name}.parquet")


def _arrow_ok(column: pd.Series) -> bool:
    import pyarrow as pa

    try:
        pa.array(column.to_numpy(), from_pandas=True)
        return True
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        return False


class _Reader:
    """The inverse of :class:`_Writer`."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _read(self, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.folder / "frames" / f"{name}.parquet")

    def decode(self, value):
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "$float" in value:
            return float(value["$float"])
        if "$timestamp" in value:
            return pd.Timestamp(value["$timestamp"])
        if "$timedelta" in value:
            return pd.Timedelta(value["$timedelta"])
        if "$path" in value:
            return Path(value["$path"])
        if "$frame" in value:
            return self._frame(value)
        if "$series" in value:
            series = self._read(value["$series"])["values"].rename(self.decode(value["name"]))
            return series.astype(object) if value.get("object") else series
        if "$index" in value:
            return pd.Index(self._read(value["$index"])["values"], name=self.decode(value["name"]))
        if "$config" in value:
            from clvkit.config import Config

            cfg = Config.from_dict(value["$config"], source=value["source"])
            return cfg
        if "$model" in value:
            from clvkit.models import Model

            return Model.load(self.folder / "models" / f"{value['$model']}.json")
        if "$dataclass" in value:
            cls = _dataclass_type(value["$dataclass"])
            return cls(**{k: self.decode(v) for k, v in value["fields"].items()})
        if "$dict" in value:
            return {_hashable(self.decode(k)): self.decode(v) for k, v in value["$dict"]}
        if "$list" in value:
            return [self.decode(v) for v in value["$list"]]
        if "$tuple" in value:
            return tuple(self.decode(v) for v in value["$tuple"])
        if "$set" in value:
            return frozenset(_hashable(self.decode(v)) for v in value["$set"])
        raise StoredResultError(f"unknown stored value {sorted(value)!r}")

    def _frame(self, spec: dict) -> pd.DataFrame:
        frame = self._read(spec["$frame"])
        for col in spec.get("object_columns", []):
            frame[col] = frame[col].astype(object)
        for col in spec.get("json_columns", []):
            frame[col] = pd.Series([self.decode(json.loads(v)) for v in frame[col]],
                                   index=frame.index, dtype=object)
        if "columns" in spec:
            levels = self._read(spec["columns"]["file"])
            names = [self.decode(n) for n in spec["columns"]["names"]]
            cols = (pd.MultiIndex.from_frame(levels, names=names) if levels.shape[1] > 1
                    else pd.Index(levels["l0"], name=names[0]))
            frame.columns = cols
        if "freq" in spec:
            frame.index = pd.DatetimeIndex(frame.index, freq=spec["freq"])
        if "attrs" in spec:
            frame.attrs = self.decode(spec["attrs"])
        return frame


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


def _dataclass_type(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not (module == "clvkit" or module.startswith("clvkit.")):
        raise StoredResultError(f"refusing to rebuild {name}: not a clvkit type")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not dataclasses.is_dataclass(obj):
        raise StoredResultError(f"{name} is not a clvkit result type")
    return obj


def _is_config(value) -> bool:
    return type(value).__name__ == "Config" and type(value).__module__ == "clvkit.config"


def _is_model(value) -> bool:
    from clvkit.models import Model

    return isinstance(value, Model)
