"""Run the report notebooks for one scenario and publish them as offline HTML.

``run_report`` executes every notebook in ``notebooks/`` with Papermill, injecting the scenario's
parameters, converts each executed notebook to HTML with the code hidden and the figures embedded,
and publishes the run as ``<out>/<scenario>/<run-date>/``::

    reports/retail/
        2024-05-01/            one good run: NN_name.html, NN_name.ipynb (executed), tiers.csv,
                               tiers.parquet, index.html (links + run metadata), run.json
        latest -> 2024-05-01   relative symlink to the newest good run (for scripts)
        latest.html            a redirect page to latest/…/index.html, for people: it opens offline
                               from any file browser, also where symlinks do not survive (zip, SMB)
        failed/2024-05-02/     the executed notebooks of a failed run, for debugging
        .lock                  held while a run of this scenario is in progress

Why this shape: a scheduler (cron, Airflow, CI) can run the same command every night and a failing
run never damages what leadership already has. Each run is built in a hidden folder next to its
destination and moved into place only when every notebook succeeded; re-running a date swaps the
folders by renames (the old run is removed only after the new one is in place). Runs of one
scenario are serialised by a lock. The run-folder rules (lock, build folder, ``latest`` only for
complete runs, retention, clean-up after killed runs) live in :mod:`clvkit.publish`; a notebook
cell that runs longer than ``report.cell_timeout`` seconds fails the run cleanly.

The HTML pages make no network request at all: the ``clvkit_report`` nbconvert template (in
``clvkit/templates``) extends JupyterLab's template and removes its require.js, MathJax, mermaid
and widget scripts, which would otherwise be fetched from a CDN.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import html
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from clvkit import publish
from clvkit.errors import ConfigError
# the run-folder rules live in clvkit.publish; these names stay importable from here
from clvkit.publish import ReportError, point_latest, scenario_lock  # noqa: F401

logger = logging.getLogger(__name__)

#: Names every report notebook's ``parameters`` cell may define; ``run_report`` injects all of them
#: (``result_dir``: the folder of the stored scenario result, None when the run computed none).
PARAMETERS = ("params", "run_date", "result_dir")
#: The stored scenario result's folder inside a run (``clvkit.result.ScenarioResult.save``).
RESULT_DIR = "result"
TEMPLATE = "clvkit_report"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class RunResult:
    """What one successful ``run_report`` produced.

    Attributes
    ----------
    scenario, run_date : str
        The scenario name (the params' ``scenario``) and the run date (``YYYY-MM-DD``).
    path : Path
        The published run folder ``<out>/<scenario>/<run_date>``.
    index : Path
        Its ``index.html``.
    reports : tuple of Path
        The HTML report of each notebook in the run, in notebook order.
    exports : tuple of Path
        The tier export files written by the score step.
    duration : float
        Wall-clock seconds of the whole run.
    fingerprint : str
        A hash of the input data (or of the params file when the score step was skipped).
    """

    scenario: str
    run_date: str
    path: Path
    index: Path
    reports: tuple[Path, ...]
    exports: tuple[Path, ...] = field(default=())
    duration: float = 0.0
    fingerprint: str = ""


def default_notebooks_dir(params_path: str | os.PathLike | None = None) -> Path:
    """The report notebooks shipped with clvkit (package data), so a run needs no project folder.

    ``params_path`` is accepted for compatibility and not used: a user's own notebook set is
    passed explicitly (``run_report(notebooks_dir=...)``, ``clvkit report --notebooks DIR``).
    """
    from clvkit.notebook import notebooks_dir

    return notebooks_dir()


def select_notebooks(notebooks_dir: str | os.PathLike, only=None) -> list[Path]:
    """The notebooks of a run, sorted by name; ``only`` keeps those named (``03_tiers`` or ``tiers``).

    Raises
    ------
    ConfigError
        When the folder holds no notebook, or a name in ``only`` matches none of them.
    """
    folder = Path(notebooks_dir)
    found = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not found:
        raise ConfigError(f"no report notebooks (*.ipynb) in {folder}", key="notebooks",
                          fix="pass a folder of .ipynb files with --notebooks DIR, or leave it "
                              "out to run the notebooks shipped with clvkit")
    if only is None:
        return found
    wanted = [only] if isinstance(only, str) else list(only)
    chosen = []
    for name in wanted:
        stem = Path(name).stem
        hits = [p for p in found if p.stem == stem or re.sub(r"^\d+_", "", p.stem) == stem]
        if not hits:
            raise ConfigError(f"no report notebook named {name!r}", key="only",
                              fix=f"use one of {', '.join(p.stem for p in found)}")
        chosen += [p for p in hits if p not in chosen]
    return sorted(chosen)


def check_run_date(run_date) -> str:
    """Return the run date as ``YYYY-MM-DD`` (today when None); raise ConfigError otherwise."""
    if run_date is None:
        return _dt.date.today().isoformat()
    text = run_date.isoformat()[:10] if isinstance(run_date, _dt.date) else str(run_date)
    try:
        ok = bool(_DATE.match(text)) and _dt.date.fromisoformat(text).isoformat() == text
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"run date {run_date!r} is not a calendar date YYYY-MM-DD", key="run_date",
                          fix="pass e.g. --run-date 2024-05-01")
    return text


def _kernel_manager(socket_dir: str):
    """A kernel manager that starts ipykernel in *this* interpreter, whatever kernelspecs exist.

    The name ``python3`` alone can resolve to a kernelspec installed elsewhere (``~/.local/share/
    jupyter/kernels``); with no kernel dirs only ipykernel's native spec, built from
    ``sys.executable``, is left, so cron, CI and a fresh venv all run the notebooks here. The
    kernel talks over local IPC sockets in ``socket_dir`` (no TCP port, no warning about one).
    The manager is the asynchronous one nbclient expects: with a blocking client, a cell that
    never answers would block the event loop and the per-cell timeout could never fire.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    return AsyncKernelManager(kernel_name="python3",
                              kernel_spec_manager=KernelSpecManager(kernel_dirs=[]),
                              transport="ipc", ip=str(Path(socket_dir) / "kernel"))


def execute(notebook: Path, output: Path, parameters: dict, *, cwd: Path | None = None,
            km=None, timeout: float | None = None) -> None:
    """Execute one notebook with Papermill into ``output``; the progress bar only on a terminal.

    ``km``: a started kernel manager to run it on (its namespace is emptied first, so no name
    is left over from an earlier notebook, while the imported modules stay loaded); by default
    the notebook gets a kernel of its own (:func:`_kernel`), shut down afterwards.
    ``timeout`` is the longest a single cell may run, in seconds (``report.cell_timeout``); a
    cell that takes longer is interrupted and fails the notebook.

    Raises ``papermill.PapermillExecutionError`` when a cell fails (the partial notebook is
    written to ``output`` first), ``nbclient`` 's ``CellTimeoutError`` on a timeout.
    """
    import papermill

    def run(km) -> None:
        # the kernel works in ``cwd`` (started there, or moved there by _reset_kernel); papermill's
        # own ``cwd`` would chdir this whole process, which notebooks run in threads must not do
        _reset_kernel(km, cwd or notebook.parent)
        quiet = logging.NullHandler()  # nbclient logs a timeout itself; the run's error line says it
        logging.getLogger("papermill").addHandler(quiet)
        try:
            papermill.execute_notebook(
                str(notebook), str(output), parameters=parameters, kernel_name="python3",
                language="python", km=km, progress_bar=sys.stderr.isatty(), log_output=False,
                execution_timeout=timeout)
        finally:
            logging.getLogger("papermill").removeHandler(quiet)

    if km is not None:
        return run(km)
    with _kernel() as km:
        run(km)


@contextlib.contextmanager
def _kernel():
    """A kernel manager for this run, shut down on exit. Its sockets and connection file live in
    one temporary folder named with this process's id, so the next run removes it if this one
    is killed (:func:`clvkit.publish.cleanup`); while it runs, :func:`stop_kernels` can kill it."""
    from jupyter_core.utils import run_sync

    from clvkit.publish import KERNEL_PREFIX

    with tempfile.TemporaryDirectory(prefix=f"{KERNEL_PREFIX}{os.getpid()}-") as socket_dir:
        km = _kernel_manager(socket_dir)
        km.connection_file = str(Path(socket_dir) / "kernel.json")
        _RUNNING.add(km)
        try:
            yield km
        finally:  # a kernel manager passed in is not shut down by nbclient
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
            _RUNNING.discard(km)


#: Kernel managers of the notebooks executing now (in any thread), for :func:`stop_kernels`.
_RUNNING: set = set()


def stop_kernels() -> None:
    """Kill the kernels of the notebooks this process is executing (on SIGTERM): their cells
    fail at once, so the run unwinds and removes its build folder instead of waiting for them."""
    import signal

    for km in list(_RUNNING):
        pid = getattr(getattr(km, "provisioner", None), "pid", None)
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _reset_kernel(km, cwd: Path) -> None:
    """Start ``km``'s kernel in ``cwd`` if it is not running, else empty its user namespace
    (``%reset``) and change to ``cwd``. (``km`` is asynchronous: see :func:`_kernel_manager`.)"""
    from jupyter_core.utils import run_sync

    if not km.has_kernel or not run_sync(km.is_alive)():
        run_sync(km.start_kernel)(cwd=str(cwd))
        return
    kc = km.client()
    kc.start_channels()
    try:
        run_sync(kc.wait_for_ready)(timeout=60)
        run_sync(kc.execute_interactive)(
            "get_ipython().run_line_magic('reset', '-f'); "
            f"__import__('os').chdir({str(cwd)!r})", timeout=60, output_hook=lambda msg: None)
    finally:
        kc.stop_channels()


#: Notebooks executed at the same time, at most one per core: the notebooks only read the
#: stored result, so they are independent of each other. Each worker keeps one kernel for its
#: notebooks (emptied between them), so the imports are paid once per worker, not per notebook.
MAX_PARALLEL = 2


def execute_all(notebooks, folder: Path, parameters: dict, *, timeout: float | None = None
                ) -> dict:
    """Execute each notebook into ``folder``, up to ``MAX_PARALLEL`` at a time; return
    ``{notebook: exception}`` of those that failed, in notebook order (empty when all
    succeeded). Every notebook runs to its end even when another fails. The HTML is written
    afterwards by :func:`publish_pages`, when every page's title is known for the nav bar."""
    import queue
    from concurrent.futures import ThreadPoolExecutor

    todo: queue.Queue = queue.Queue()
    for nb in notebooks:
        todo.put(nb)
    errors: dict = {}

    def worker() -> None:
        with _kernel() as km:
            while True:
                try:
                    nb = todo.get_nowait()
                except queue.Empty:
                    return
                executed = folder / nb.name
                logger.info("executing %s", nb.name)
                try:
                    execute(nb, executed, parameters, cwd=nb.parent, km=km, timeout=timeout)
                except Exception as exc:  # reported by the caller, with the notebook
                    errors[nb] = exc

    workers = max(1, min(MAX_PARALLEL, os.cpu_count() or 1, len(notebooks)))
    with ThreadPoolExecutor(workers, thread_name_prefix="clvkit-notebook") as pool:
        for f in [pool.submit(worker) for _ in range(workers)]:
            f.result()
    return {nb: errors[nb] for nb in notebooks if nb in errors}


def repoint_result(notebooks, build: Path, dest: Path) -> None:
    """Make the executed notebooks' ``result_dir`` name the published run, not the build folder,
    so an executed notebook opened from the run re-runs on the run's stored result."""
    import nbformat
    from papermill.translators import PythonTranslator

    for nb in notebooks:
        path = build / nb.name
        if not path.exists():
            continue
        doc = nbformat.read(path, as_version=4)
        for cell in doc.cells:
            if "injected-parameters" in cell.metadata.get("tags", []):
                old, new = (PythonTranslator.translate(str(d / RESULT_DIR)) for d in (build, dest))
                cell.source = cell.source.replace(old, new)
        nbformat.write(doc, path)


def to_html(notebook: Path, output: Path, *, language: str = "en", nav: dict | None = None) -> Path:
    """Convert an executed notebook to a self-contained HTML page with the code hidden.

    Parameters
    ----------
    notebook, output : Path
        The executed notebook and the page to write.
    language : {"en", "zh"}
        Sets ``<html lang>`` (``zh-CN`` for Chinese) and the words of the TOC.
    nav : dict, optional
        From :func:`clvkit.pages.nav_resources`; without it the page has no nav bar.
    """
    import nbformat

    from clvkit import i18n, pages
    from clvkit.nbexport import ClvkitHTMLExporter

    from traitlets.config import Config

    # no pygments stylesheet: the code is hidden, so its ~10 KB of CSS would be dead weight
    # the "Explore further" cells (tagged analyst) are for JupyterLab, not for readers
    exporter = ClvkitHTMLExporter(config=Config({
        "CSSHTMLHeaderPreprocessor": {"enabled": False},
        "TagRemovePreprocessor": {"enabled": True, "remove_cell_tags": {"analyst"}}}),
        language_code=language)
    nb = nbformat.read(notebook, as_version=4)
    body, _ = exporter.from_notebook_node(
        nb, resources={"metadata": {"name": notebook.stem}, "clvkit": nav or {}})
    body = pages.add_toc(body, label=i18n.t("nav.contents", language=language))
    # nbconvert accepts only two-letter codes; the page says zh-CN (simplified Chinese)
    body = re.sub(r'<html lang="[^"]*"', f'<html lang="{i18n.HTML_LANG[language]}"', body, count=1)
    output.write_text(body, encoding="utf-8")
    return output


def _fingerprint_params(params_path: Path) -> str:
    return "params-sha256:" + hashlib.sha256(params_path.read_bytes()).hexdigest()[:16]


def score_step(config, folder: Path, run_date: str, previous_dir: Path | None = None):
    """Compute the scenario once for the run: store the result, write the tier export.

    ``clvkit.pipeline.run`` computes everything every notebook shows; the result is stored in
    ``folder/result`` (``ScenarioResult.save``), which the notebooks read with one call, and the
    export is the same table ``clvkit score`` writes (``clvkit.export.write_assignments``).
    With ``summary.engine: spark`` the result is computed at lake scale
    (``clvkit.spark_report.lake_run``): exact aggregates, a stated sample of customers, and
    ``tiers.parquet/`` of every customer written by Spark (no ``tiers.csv``).
    Returns the data fingerprint, the export files and the data's observation end (the
    index's "data through" line). Without ``previous_run`` in the params,
    the previous good run's ``tiers.csv`` (``previous_dir``) feeds tier migration and the
    watchlist's fall in P(alive).
    """
    from clvkit import export, pipeline

    previous = None
    if config.summary.engine == "spark":  # lake scale: aggregates in Spark, rows stay there
        import dataclasses

        from clvkit import spark_report

        found = [] if config.previous_run is not None or previous_dir is None else [
            previous_dir / n for n in ("tiers.parquet", "tiers.csv")
            if (previous_dir / n).exists()]
        if found:  # Spark reads the previous run's export itself (a folder of part files)
            config = dataclasses.replace(config, previous_run=found[0])
        result = spark_report.lake_run(config, folder, run_date=run_date)
        written = {"parquet": Path(result.lake.tiers_path)}   # every customer, written by Spark
    else:
        if config.previous_run is None and previous_dir is not None:
            found = [previous_dir / n for n in ("tiers.parquet", "tiers.csv")
                     if (previous_dir / n).is_file()]
            previous = export.read_assignments(found[0]) if found else None
        result = pipeline.run(config, run_date=run_date, previous=previous)
    shutil.rmtree(folder / RESULT_DIR, ignore_errors=True)  # a rerun of ``only`` copied the old one
    result.save(folder / RESULT_DIR)
    if result.lake is None:
        written = export.write_assignments(result.assignments, folder,
                                           csv_bom=config.export.csv_bom)
    return result.info.fingerprint, tuple(written.values()), result.info.observation_end


def _failure_line(nb_name: str, exc: Exception, kept: Path) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        evalue = (str(exc.evalue).strip().splitlines() or [""])[0]
        where = f"cell {exc.cell_index} (execution count {exc.exec_count})"
        what = f"{exc.ename}: {evalue}"
    elif type(exc).__name__ == "CellTimeoutError":  # nbclient's; the kept notebook shows which
        where = _running_cell(kept / nb_name)
        what = "CellTimeoutError: it ran longer than report.cell_timeout, and was stopped"
    else:
        where, what = "before or between cells", f"{type(exc).__name__}: {exc}".splitlines()[0]
    return f"report failed in notebook {nb_name}, {where}: {what}; executed notebook kept in {kept}"


def _running_cell(path: Path) -> str:
    """"cell N" for the last cell papermill started in a partial notebook (the one stopped)."""
    try:
        import nbformat

        cells = nbformat.read(path, as_version=4).cells
        started = [i for i, c in enumerate(cells)
                   if c.get("metadata", {}).get("papermill", {}).get("start_time")]
        return f"cell {started[-1]}"
    except Exception:  # a partial notebook may be unreadable; the line still names the notebook
        return "a cell"


#: Shipped reports that need a part of the data the scenario may not have: left out (with one
#: line on the index) rather than published as a page saying "not available".
_NEEDS = {"05_case_study": lambda cfg: cfg.impact.enabled}


def _has_data(cfg, stem: str) -> bool:
    return _NEEDS.get(stem, lambda cfg: True)(cfg)


def previous_good_run(scenario_dir: Path, run_date: str) -> Path | None:
    """The newest good run of the scenario dated before ``run_date`` (None when there is none).

    A good run is a dated folder with an ``index.html`` (runs are moved into place only when
    every notebook succeeded, so failed runs never qualify).
    """
    if not scenario_dir.is_dir():
        return None
    runs = sorted(p.name for p in scenario_dir.iterdir() if p.is_dir() and not p.is_symlink()
                  and _DATE.match(p.name) and p.name < run_date and (p / "index.html").exists())
    return scenario_dir / runs[-1] if runs else None




def _title(notebook: Path) -> str:
    """The first level-1 heading of a notebook (in a markdown cell or, in an executed notebook,
    in a cell's Markdown output, where the report notebooks write it in the report's language),
    else its file name."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        texts = [cell.source] if cell.cell_type == "markdown" else [
            o.get("data", {}).get("text/markdown", "") for o in cell.get("outputs", [])]
        for text in texts:
            for line in str(text).splitlines():
                if line.startswith("# "):
                    return line.lstrip("#").strip()
    return notebook.stem


def render_index(folder: Path, meta: dict, *, cfg=None, previous_dir: Path | None = None) -> Path:
    """Write ``index.html`` (the executive summary) and ``appendix.html`` (run details, config).

    With the run's stored result (``folder/result``) the index is the executive summary of
    ``clvkit.briefing`` (KPIs with intervals and changes since ``previous_dir``'s
    ``summary.json``, what changed, one decision per tier), and ``summary.json`` is written for
    the next run; without one (``export=False``) it lists the reports only.
    """
    from clvkit import briefing, i18n, pages
    from clvkit.result import ScenarioResult, StoredResultError

    language = cfg.report.language if cfg is not None else "en"
    tr = i18n.translator(language)
    title = cfg.display_title if cfg is not None else meta["scenario"]
    entries = [pages.Page(nb.with_suffix(".html").name, _title(nb))
               for nb in sorted(folder.glob("[0-9]*.ipynb")) if nb.with_suffix(".html").exists()]
    index_nav = pages.nav_resources(entries, "index.html", brand=title, run_date=meta["run_date"],
                                    language=language)
    try:
        res = ScenarioResult.load(folder / RESULT_DIR)
    except StoredResultError:
        res = None
    if res is not None:
        previous = briefing.load_summary(previous_dir)
        items = briefing.kpis(res, previous, language=language)
        briefing.save_summary(folder, items, res)
        body = pages.summary_body(
            res, items=items, left_out=meta.get("left_out", []), changed=briefing.what_changed(res, language=language),
            decisions=briefing.decisions(res, language=language), reports=entries,
            exports=meta.get("exports", []),
            previous_date=previous_dir.name if previous and previous_dir is not None else None,
            language=language)
    else:
        body = (f"<h1>{html.escape(title)}</h1><h2>{html.escape(tr('summary.reports'))}</h2><ul>"
                + "".join(f'<li><a href="{html.escape(p.href)}">{html.escape(p.title)}</a></li>'
                          for p in entries) + "</ul>")
    path = folder / "index.html"
    path.write_text(pages.page(title, body, language=language, nav=index_nav), encoding="utf-8")
    facts = {tr("appendix.scenario"): meta["scenario"], tr("appendix.run_date"): meta["run_date"],
             tr("appendix.generated"): meta["generated"],
             tr("appendix.version"): meta["clvkit_version"],
             tr("appendix.duration"): f'{meta["duration_seconds"]:.1f} s',
             tr("appendix.fingerprint"): meta["fingerprint"],
             tr("appendix.params"): Path(meta["params_path"]).name}
    if meta.get("previous_run"):
        facts[tr("appendix.previous")] = meta["previous_run"]
    if res is not None and res.lake is not None:  # lake scale: what is exact, what sampled
        lake = res.lake
        facts[tr("appendix.exact")] = "; ".join(lake.exact)
        facts[tr("appendix.sampled")] = (
            f"{'; '.join(lake.sampled)} ({lake.sample_customers:,} of "
            f"{lake.customers + lake.prospects:,} customers, seed {lake.sample_seed}, "
            f"target {lake.sample_target:,})")
    config_text = pages.effective_config(cfg) if cfg is not None else meta.get("params_text", "")
    appendix_nav = pages.nav_resources(entries, "appendix.html", brand=title,
                                       run_date=meta["run_date"], language=language)
    (folder / "appendix.html").write_text(
        pages.page(tr("appendix.title"), pages.appendix_body(facts, config_text, language=language),
                   language=language, nav=appendix_nav), encoding="utf-8")
    return path


def publish_pages(folder: Path, cfg, run_date: str) -> list[Path]:
    """Convert every executed notebook in ``folder`` to HTML, with the run's nav bar.

    Runs after all notebooks are executed, so each page's nav lists every report of the run
    (also those kept from an earlier ``--only`` run of the same date).
    """
    from clvkit import pages

    executed = sorted(folder.glob("[0-9]*.ipynb"))
    entries = [pages.Page(nb.with_suffix(".html").name, _title(nb)) for nb in executed]
    written = []
    for nb, entry in zip(executed, entries):
        nav = pages.nav_resources(entries, entry.href, brand=cfg.display_title, run_date=run_date,
                                  language=cfg.report.language)
        written.append(to_html(nb, nb.with_suffix(".html"), language=cfg.report.language,
                                     nav=nav))
    return written


def run_report(params_path, out="reports", run_date=None, only=None, *,
               notebooks_dir=None, export=True, pdf=None) -> RunResult:
    """Execute the report notebooks for a scenario and publish the HTML reports.

    Parameters
    ----------
    params_path : path
        The scenario's params YAML (validated with ``clvkit.config.load``); its ``scenario`` key
        names the output folder, its ``report.notebooks`` the default notebooks.
    out : path
        The reports root; the run goes to ``<out>/<scenario>/<run_date>/``.
    run_date : str or date, optional
        ``YYYY-MM-DD``; by default the params' ``run_date``, else today. Re-running a date
        replaces that run atomically.
    only : str or list of str, optional
        Run only these notebooks (``03_tiers`` or ``tiers``); the other reports of an existing
        run of that date are kept.
    notebooks_dir : path, optional
        A folder of one's own report notebooks; by default the notebooks shipped with clvkit.
        Each gets the parameters ``params``, ``run_date`` and ``result_dir``.
    export : bool
        Compute the scenario once (``clvkit.pipeline.run``), store its result in the run
        (``result/``, read by the notebooks) and write the tier export (``tiers.csv``,
        ``tiers.parquet``). False: the notebooks get ``result_dir=None``.
    pdf : bool, optional
        Also write one PDF of the summary and reports (``clvkit.pdf``); default the params'
        ``report.pdf``.

    Returns
    -------
    RunResult

    Raises
    ------
    ConfigError
        Missing or invalid params file, bad run date, unknown notebook name.
    ReportError
        A notebook failed (one line naming notebook and cell; the previous run and ``latest`` are
        untouched, the failed executed notebooks are kept under ``failed/<run_date>/``), or another
        run of the scenario holds the lock.
    """
    from clvkit import config as _config

    started = time.perf_counter()
    params = Path(params_path).resolve()
    cfg = _config.load(params)
    date = check_run_date(run_date if run_date is not None else cfg.run_date)
    if only is None and cfg.report.notebooks:
        only = list(cfg.report.notebooks)
    folder = notebooks_dir or default_notebooks_dir(params)
    notebooks = select_notebooks(folder, only)
    full_set = select_notebooks(folder, list(cfg.report.notebooks) or None)
    want_pdf = cfg.report.pdf if pdf is None else pdf
    if want_pdf:  # no browser: say so now, not after the notebooks ran
        from clvkit import pdf as _pdf

        _pdf.check_ready()
    left_out = [] if notebooks_dir is not None else [nb.stem for nb in full_set
                                                     if not _has_data(cfg, nb.stem)]
    notebooks = [nb for nb in notebooks if nb.stem not in left_out]
    full_set = [nb for nb in full_set if nb.stem not in left_out]  # what a complete run holds
    scenario = cfg.scenario
    scenario_dir = publish.check_out_dir(Path(out)).resolve() / scenario
    publish.check_scenario_dir(scenario_dir)
    dest = scenario_dir / date

    with scenario_lock(scenario_dir):
        build = publish.build_dir(scenario_dir, date, copy_from=dest if only is not None else None)
        try:
            previous_dir = previous_good_run(scenario_dir, date)
            through = None
            if export:
                fingerprint, exports, end = score_step(cfg, build, date, previous_dir)
                from clvkit.display import data_through

                through = data_through(end, date)
            else:
                fingerprint, exports = _fingerprint_params(params), ()
            parameters = {"params": str(params), "run_date": date,
                          "result_dir": str(build / RESULT_DIR) if export else None}
            errors = execute_all(notebooks, build, parameters, timeout=cfg.report.cell_timeout)
            for nb, exc in errors.items():  # the first failing notebook, in notebook order
                failed = scenario_dir / "failed" / date
                failed.parent.mkdir(parents=True, exist_ok=True)
                publish.replace_dir(build, failed)
                raise ReportError(_failure_line(nb.name, exc, failed)) from exc
            written = publish_pages(build, cfg, date)
            from clvkit import __version__

            meta = {"scenario": scenario, "run_date": date,
                    "generated": _dt.datetime.now().isoformat(timespec="seconds"),
                    "clvkit_version": __version__, "params_path": str(params),
                    "config": cfg.public_dict(), "fingerprint": fingerprint,
                    "notebooks": [nb.name for nb in notebooks],
                    "complete": all((build / f"{nb.stem}.html").exists() for nb in full_set),
                    "exports": [p.name for p in exports],
                    "data_through": through, "notes": list(cfg.notes),
                    "duration_seconds": time.perf_counter() - started}
            if previous_dir is not None:
                meta["previous_run"] = previous_dir.name
            meta["left_out"] = left_out
            index = render_index(build, meta, cfg=cfg, previous_dir=previous_dir)
            (build / "run.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False),
                                            encoding="utf-8")
            if want_pdf:
                _pdf.write_pdf([index, *written], build / f"{scenario}-{date}.pdf")
            repoint_result(notebooks, build, dest)
            publish.replace_dir(build, dest)
        finally:
            if build.exists():
                shutil.rmtree(build)
        point_latest(scenario_dir)
        publish.prune(scenario_dir, cfg.report.keep_runs)

    return RunResult(scenario=scenario, run_date=date, path=dest, index=dest / index.name,
                     reports=tuple(dest / (nb.stem + ".html") for nb in notebooks),
                     exports=tuple(dest / p.name for p in exports),
                     duration=time.perf_counter() - started, fingerprint=fingerprint)
