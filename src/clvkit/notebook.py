"""A notebook's one set-up call: the scenario's result, stored by the report or computed here.

Every report notebook starts with::

    res = notebook.setup(params, run_date=run_date, result_dir=result_dir)

* Run by ``clvkit report``, ``result_dir`` is the run's build folder, where the report stored
  the result of its single :func:`clvkit.pipeline.run`: the notebook reads it and computes
  nothing.
* Run on its own (JupyterLab, ``papermill`` by hand), ``result_dir`` is None: the result is
  computed, or read from the cache when the same params, run date, clvkit version and data
  (the data fingerprint) were computed before. ``params = None`` means the bundled default
  scenario (:func:`default_params`), so a notebook runs wherever it is opened.

The cache folder is ``$CLVKIT_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/clvkit/results``, else
``~/.cache/clvkit/results``; each entry is a stored :class:`clvkit.result.ScenarioResult`, the
newest :data:`CACHE_KEEP` are kept. Delete the folder at any time to recompute.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from importlib import resources
from pathlib import Path

import pandas as pd

from clvkit.result import ScenarioResult, StoredResultError

__all__ = ["CACHE_KEEP", "cache_dir", "cached_run", "default_params", "notebooks_dir", "setup"]

#: How many computed results the cache keeps (the most recently used).
CACHE_KEEP = 8


def default_params() -> Path:
    """The bundled default scenario's params file (simulated retail data)."""
    return Path(str(resources.files("clvkit") / "scenarios" / "retail.yaml"))


def notebooks_dir() -> Path:
    """The report notebooks shipped with clvkit (what ``clvkit report`` runs by default)."""
    return Path(str(resources.files("clvkit") / "notebooks"))


def cache_dir() -> Path:
    """Where computed results are cached (see the module docstring)."""
    if os.environ.get("CLVKIT_CACHE_DIR"):
        return Path(os.environ["CLVKIT_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "clvkit" / "results"


def setup(params=None, *, run_date=None, result_dir=None) -> ScenarioResult:
    """Prepare a report notebook: apply the figure theme and return the scenario's result.

    Parameters
    ----------
    params : path, optional
        The scenario's params YAML; None: the bundled default scenario.
    run_date : date-like, optional
        As for :func:`clvkit.pipeline.run`.
    result_dir : path, optional
        A folder holding a stored result (``clvkit report`` passes its build folder); when
        given, the result is read from it and nothing is computed.

    Returns
    -------
    ScenarioResult

    Raises
    ------
    ConfigError
        A params file that is missing or invalid (the message names it).
    StoredResultError
        ``result_dir`` holds no readable result.
    """
    from clvkit import i18n, plots

    plots.set_theme()
    if result_dir is not None:
        result = ScenarioResult.load(result_dir)
    else:
        from clvkit import config

        result = cached_run(config.load(default_params() if params is None else params),
                            run_date=run_date)
    i18n.set_language(result.config.report.language)  # figure labels in the report's language
    return result


def _key(cfg, run_date: pd.Timestamp, data) -> str:
    """Hash of what determines a result: params, run date, clvkit version, data."""
    from clvkit import __version__

    h = hashlib.sha256()
    plain = cfg.to_dict()
    plain.pop("source", None)
    h.update(json.dumps(plain, sort_keys=True, default=str).encode())
    h.update(f"{run_date:%Y-%m-%d}|{__version__}|{data.fingerprint}".encode())
    for table in (data.customers, data.surveys, data.complaints, data.programme):
        if table is not None:
            h.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    if cfg.previous_run is not None and Path(cfg.previous_run).is_file():
        h.update(Path(cfg.previous_run).read_bytes())
    return h.hexdigest()[:20]


def cached_run(cfg, *, run_date=None, cache: Path | None = None) -> ScenarioResult:
    """:func:`clvkit.pipeline.run`, or the cached result of an identical earlier run.

    The data is loaded (and fingerprinted) every time, so changed data is never served from the
    cache; everything after loading is computed only on a cache miss.
    """
    from clvkit import pipeline

    cache = cache_dir() if cache is None else Path(cache)
    date = pd.Timestamp(run_date or cfg.run_date or pd.Timestamp.today()).normalize()
    data = pipeline.load_data(cfg)
    folder = cache / f"{cfg.scenario}-{_key(cfg, date, data)}"
    try:
        result = ScenarioResult.load(folder)
        os.utime(folder)  # most recently used
        result.truth = data.truth
        return result
    except StoredResultError:
        pass
    result = pipeline.run(cfg, run_date=date, data=data)
    tmp = cache / f".{folder.name}-{os.getpid()}"
    try:
        result.save(tmp)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError:  # a read-only or full cache never stops the notebook
        shutil.rmtree(tmp, ignore_errors=True)
        return result
    _prune(cache)
    return result


def _prune(cache: Path) -> None:
    entries = sorted((p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[CACHE_KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
