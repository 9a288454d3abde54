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

__all__ = ["ScenarioData", "load_data", "fingerprint"]


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
