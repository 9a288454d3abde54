"""The ``clvkit`` command line: validate, simulate, run, score and report a scenario.

Every error a user can cause (a ``ClvkitError``, or the file system refusing a write: read-only,
full, not a folder) becomes one line ``clvkit: <message>`` on stderr and exit status 2; anything
else is a bug and keeps its traceback. Output piped into a reader that stops early (``| head``)
ends quietly. A report run stopped by SIGTERM cleans up (the previous run and ``latest`` stay as
they were) and exits 143. The heavy commands
(``score``, ``report``) import their modules only when run, so ``clvkit --help`` stays fast.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import errno
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from clvkit.errors import ClvkitError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        return guarded(args.func, args)
    except BrokenPipeError:
        return _closed_pipe()


#: errno values that mean the user's file system refused: one line and exit 2, not a bug
_USER_OS_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
                   errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG}


class Stopped(BaseException):
    """The run received SIGTERM (raised by the handler ``report`` installs)."""


def guarded(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Call ``func(args)``; a ``ClvkitError`` becomes one stderr line and exit status 2."""
    try:
        return func(args) or 0
    except ClvkitError as e:
        print(f"clvkit: {' '.join(_cli_fix(e, args).split())}", file=sys.stderr)
        return 2
    except OSError as e:
        if isinstance(e, BrokenPipeError) or e.errno not in _USER_OS_ERRORS:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"clvkit: {where}{e.strerror or e}; fix: choose a writable folder (--out DIR) or "
              "free the space", file=sys.stderr)
        return 2
    except Stopped:
        print("clvkit: stopped by SIGTERM; the previous run and latest are untouched",
              file=sys.stderr)
        return 128 + signal.SIGTERM


def _closed_pipe() -> int:
    """stdout's reader went away (``clvkit validate ... | head``): stop quietly, as cat does."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail
    except (OSError, ValueError):
        pass
    return 0


#: Keyword hints of the library (``pass sep=';'``) as the options a CLI user can type.
_FLAGS = {"customer_id": "--customer-id", "date": "--date", "amount": "--amount",
          "date_format": "--date-format", "timezone": "--timezone", "sep": "--sep",
          "encoding": "--encoding", "thousands": "--thousands"}
_KEYWORD = re.compile(r"\b(" + "|".join(_FLAGS) + r")=(\"[^\"]*\"|'[^']*'|[^\s;,]+)?")
#: Params keys that ``validate --transactions`` has as flags.
_KEYS = {"data.transactions.thousands": "--thousands",
         "cleaning.max_drop_share (validate: --max-drop-share)": "--max-drop-share",
         "cleaning.max_drop_share": "--max-drop-share"}


def _cli_fix(error: ClvkitError, args: argparse.Namespace) -> str:
    """The error's line with library keyword hints rewritten as what the user can type here:
    a flag for ``validate --transactions``, the params key otherwise."""
    fix = getattr(error, "fix", None)
    if not fix:
        return str(error)
    if getattr(args, "transactions", None) is not None:
        new = _KEYWORD.sub(lambda m: " ".join(filter(None, (_FLAGS[m.group(1)], m.group(2)))),
                           fix)
        for key, flag in _KEYS.items():
            new = new.replace(key, flag)
    elif _KEYWORD.search(fix):
        table = _table_of(error, args)
        new = _KEYWORD.sub(lambda m: f"set data.{table}.{m.group(1)}: {m.group(2) or '...'}",
                           fix)
        new = re.sub(r"\bpass (set data\.)", r"\1", new)
    else:
        return str(error)
    return str(error).replace(f"fix: {fix}", f"fix: {new}")


def _table_of(error, args) -> str:
    """Which table of the params file an error's file belongs to (transactions by default)."""
    try:
        from clvkit import config

        cfg = config.load(args.params)
        for name in ("transactions", "customers", "surveys", "complaints", "programme"):
            src = getattr(cfg.data, name, None)
            if src is not None and str(src.location) == str(getattr(error, "file", None)):
                return name
    except Exception:  # the hint is a courtesy; the error itself is what matters
        pass
    return "transactions"


class _Formatter(argparse.HelpFormatter):
    """Help that shows every option's default (except empty ones and flags)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text
                and action.option_strings):
            text += " (default: %(default)s)"
        return text


# ------------------------------------------------------------------------------- parser
def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1")
    return value


def _iso_date(text: str) -> str:
    try:
        return _dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def _parser() -> argparse.ArgumentParser:
    from clvkit import __version__

    p = argparse.ArgumentParser(
        prog="clvkit", description="Customer value, tiers, churn and satisfaction from a "
        "transaction log, driven by a params file (see params/retail.yaml).",
        epilog="Errors print one line and exit with status 2.")
    p.add_argument("--version", action="version", version=f"clvkit {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    i = sub.add_parser("init", help="write a params file for your own transaction data",
                       description="Look at DATA (CSV, Parquet, DuckDB or SQLite; or a "
                       "sqlite:/// or duckdb:/// URL), infer its delimiter, encoding, columns "
                       "and date format, write a commented params file and print a summary "
                       "of the data and the next command.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    i.add_argument("data", metavar="DATA", help="the transaction export")
    i.add_argument("--out", type=Path, metavar="PARAMS",
                   help="params file to write (default: <DATA name>.yaml here)")
    i.add_argument("--scenario", metavar="NAME", help="scenario name (default: DATA's name)")
    _database_options(i)
    i.add_argument("--no-amount", action="store_true",
                   help="the data have no amounts: purchase counts only")
    i.add_argument("--force", action="store_true", help="overwrite an existing PARAMS file")
    i.set_defaults(func=_init)

    v = sub.add_parser("validate", help="check a scenario's data: audit ledger and summary",
                       formatter_class=_Formatter,
                       description="Load and clean a scenario's data (PARAMS), or one "
                       "transactions file without a params file, and print the audit ledger "
                       "and summary statistics.")
    v.add_argument("params", nargs="?", metavar="PARAMS", help="scenario params YAML")
    v.add_argument("--transactions", metavar="FILE",
                   help="a transactions file (CSV, Parquet, DuckDB, SQLite) or a database URL "
                   "(sqlite:///shop.db, duckdb:///shop.duckdb) instead of PARAMS")
    _database_options(v)
    v.add_argument("--customer-id", default="customer_id", metavar="COL",
                   help="the column of customer ids")
    v.add_argument("--date", default="date", metavar="COL", help="the column of purchase dates")
    v.add_argument("--amount", default="amount", metavar="COL",
                   help="the column of purchase amounts")
    v.add_argument("--no-amount", action="store_true",
                   help="the data have no amounts: purchase counts only")
    v.add_argument("--date-format", metavar="F", help="strftime pattern for non-ISO dates")
    v.add_argument("--timezone", metavar="TZ", help="zone to convert tz-aware dates to")
    v.add_argument("--sep", metavar="C", help="CSV delimiter")
    v.add_argument("--encoding", metavar="E", help="file encoding (default UTF-8)")
    v.add_argument("--thousands", choices=(",", ".", "'", " "), metavar="C",
                   help="thousands separator of the amounts, e.g. ',' for 1,234.50 "
                        "(detected when unambiguous)")
    v.add_argument("--observation-end", type=_iso_date, metavar="YYYY-MM-DD",
                   help="drop (and count) purchases after this date")
    v.add_argument("--returns", choices=("drop", "net"), default="drop",
                   help="negative amounts: drop, or net against same-day purchases")
    v.add_argument("--zero-amounts", choices=("keep", "drop"), default="keep",
                   help="rows with an amount of 0: keep, or drop (and count)")
    v.add_argument("--amount-cap", type=float, metavar="X",
                   help="drop (and count) rows with an amount above X")
    v.add_argument("--max-drop-share", type=_share, default=0.05, metavar="P",
                   help="stop when misread data (bad dates, text amounts, ...) would drop more "
                        "than this share of rows; raise it on purpose")
    v.set_defaults(func=_validate)

    s = sub.add_parser("simulate", help="write a simulated customer base to files",
                       description="Simulate a retail customer base (BG/NBD purchases, "
                       "Gamma-Gamma spend, attributes, surveys, programme) and write its tables "
                       "and the truth to DIR.", formatter_class=_Formatter)
    s.add_argument("--customers", type=int, default=5000, metavar="N",
                   help="customers to simulate")
    s.add_argument("--seed", type=int, default=42, metavar="S", help="random seed")
    s.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="folder for the tables")
    s.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format")
    s.add_argument("--start", type=_iso_date, default="2023-01-01", metavar="YYYY-MM-DD",
                   help="first day of the history")
    s.add_argument("--observation-end", type=_iso_date, default="2024-12-31",
                   metavar="YYYY-MM-DD", help="last day of the observed history")
    s.add_argument("--future-days", type=int, default=365, metavar="D",
                   help="days simulated after the observation end (the truth's future)")
    s.add_argument("--prospect-share", type=float, default=0.1, metavar="P",
                   help="share of customers who sign up but never buy")
    s.add_argument("--no-programme", action="store_true",
                   help="skip the simulated programme, surveys and complaints")
    s.set_defaults(func=_simulate)

    r = sub.add_parser("run", help="validate, load and summarise a scenario, saying what it did",
                       description="Validate PARAMS, simulate or load its data, clean it and "
                       "compute the RFM summary (and calibration/holdout split), printing each "
                       "step.", formatter_class=_Formatter)
    r.add_argument("params", metavar="PARAMS", help="scenario params YAML")
    r.set_defaults(func=_run)

    sc = sub.add_parser("score", help="score customers and write the tier export",
                        description="Run intake, summary, models and tiers for PARAMS and write "
                        "tiers.csv / tiers.parquet to DIR.", formatter_class=_Formatter)
    sc.add_argument("params", metavar="PARAMS", help="scenario params YAML")
    sc.add_argument("--out", required=True, metavar="DIR",  # a URI stays as given (Spark)
                    help="output folder, or a URI such as s3a://... with the spark engine")
    sc.add_argument("--run-date", type=_iso_date, metavar="YYYY-MM-DD",
                    help="date stamped on the export (default: run_date in PARAMS, else today)")
    sc.set_defaults(func=_score)

    rp = sub.add_parser("report", help="run the report notebooks into HTML",
                        description="Execute the report notebooks for PARAMS and write "
                        "self-contained HTML to OUT/<scenario>/<run-date>/.",
                        formatter_class=_Formatter)
    rp.add_argument("params", metavar="PARAMS", help="scenario params YAML")
    rp.add_argument("--out", default="reports", type=Path, metavar="DIR",
                    help="reports root folder")
    rp.add_argument("--run-date", type=_iso_date, metavar="YYYY-MM-DD",
                    help="the run's date (default: run_date in PARAMS, else today)")
    rp.add_argument("--only", action="append", metavar="NAME",
                    help="run only this notebook (repeatable), e.g. 03_tiers")
    rp.add_argument("--notebooks", type=Path, metavar="DIR",
                    help="run your own report notebooks from DIR (default: the notebooks "
                    "shipped with clvkit); each gets params, run_date and result_dir")
    rp.add_argument("--pdf", action="store_true", default=None,
                    help="also write one PDF of the summary and reports (needs Chromium; "
                         "report.pdf: true in the params does the same)")
    rp.set_defaults(func=_report)
    return p


# ----------------------------------------------------------------------------- commands
def _validate(args: argparse.Namespace) -> int:
    from clvkit import config, pipeline
    from clvkit.errors import ConfigError

    if (args.params is None) == (args.transactions is None):
        raise ConfigError("give either PARAMS or --transactions FILE",
                          fix="e.g. clvkit validate params/retail.yaml")
    if args.params is not None:
        if args.table or args.query or args.no_amount:
            raise ConfigError("--table, --query and --no-amount go with --transactions; with "
                              "PARAMS set them in its data.transactions section",
                              fix=f"e.g. clvkit validate --transactions FILE --table NAME")
        cfg = config.load(args.params)
    else:
        if not args.amount and not args.no_amount:
            raise ConfigError("--amount is empty", fix="pass --no-amount for data without "
                              "amounts, or --amount COL naming the amount column")
        source = str(args.transactions)
        if source.startswith("duckdb:///"):  # the DuckDB file itself
            source = source.removeprefix("duckdb:///")
        where = "url" if "://" in source else "path"
        tx = {where: source, "customer_id": args.customer_id, "date": args.date,
              "amount": args.amount, "date_format": args.date_format,
              "timezone": args.timezone, "encoding": args.encoding, "thousands": args.thousands,
              "sep": {"\\t": "\t", "tab": "\t"}.get(args.sep, args.sep),  # as typed in a shell
              "table": args.table, "query": args.query}
        tx = {k: v for k, v in tx.items() if v}
        if args.no_amount:
            tx["amount"] = None
        cfg = config.Config.from_dict({
            "scenario": "validate",
            "data": {"source": "files", "transactions": tx},
            "cleaning": {"observation_end": args.observation_end, "returns": args.returns,
                         "zero_amounts": args.zero_amounts, "amount_cap": args.amount_cap,
                         "max_drop_share": args.max_drop_share},
            "satisfaction": {"enabled": False}, "impact": {"enabled": False}})
    data = pipeline.load_data(cfg)
    _print_data(data)
    _print_notes(cfg)
    _print_rfm(cfg, data)
    if cfg.summary.split is not None:
        print(_holdout_line(cfg, data))
    return 0


def _init(args: argparse.Namespace) -> int:
    import os
    import re

    from clvkit import config, pipeline, sniff
    from clvkit.errors import ClvkitError, ConfigError

    data = str(args.data)
    url = "://" in data
    stem = Path(data.rsplit("/", 1)[-1]).stem or "data"
    out = args.out or Path(f"{stem}.yaml")
    if out.exists() and not args.force:
        raise ConfigError(f"{out} exists already", fix="pass --out OTHER.yaml, or --force to "
                          "overwrite it")
    scenario = args.scenario or re.sub(r"[^\w.-]+", "_", stem).strip("_") or "data"
    found = sniff.sniff(data, table=args.table, query=args.query, no_amount=args.no_amount)
    if data.startswith("duckdb:///"):  # the DuckDB file itself, as a path
        data, url = data.removeprefix("duckdb:///"), False
    location = data if url else os.path.relpath(Path(data).resolve(), out.resolve().parent)
    text = sniff.render_params(found, scenario=scenario, location=location)
    start = end = loaded = None
    problem = None
    try:
        import yaml

        cfg = config.Config.from_dict(yaml.safe_load(text), source=out)
        loaded = pipeline.load_data(cfg)
        start, end = loaded.transactions["date"].min(), loaded.observation_end
        text = sniff.render_params(found, scenario=scenario, location=location, start=start,
                                   end=end)
    except ClvkitError as e:
        problem = " ".join(str(e).split())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    print(f"read {data}" + (f" (table {found.table})" if found.table else ""))
    for key, why in found.decided.items():
        shown = getattr(found, key, None)
        print(f"  {key + ':':<13}{'' if shown is None else repr(shown) + ' '}{why}")
    if loaded is not None:
        ledger = loaded.ledger
        print(f"\n  ledger:           {ledger.rows_in:,} rows in, {ledger.rows_out:,} clean, "
              f"{ledger.rows_dropped:,} dropped")
        _print_data(loaded, indent="  ")
        _print_notes(cfg, indent="  ")
    for item in found.undecided:
        print(f"COULD NOT DECIDE: {item}")
    print(f"wrote {out}")
    if problem is not None:
        print(f"clvkit: the data cannot be read with these settings yet: {problem}",
              file=sys.stderr)
        print(f"edit {out} (see COULD NOT DECIDE at its top), then: clvkit validate {out}")
        return 2
    print(f"next: clvkit report {out}   (or: clvkit score {out} --out DIR)"
          + ("; no amounts: tiers on expected purchases" if found.amount is None else ""))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from clvkit.datasets import simulate
    from clvkit.errors import ConfigError

    if args.customers < 1:
        raise ConfigError(f"--customers must be at least 1, got {args.customers}")
    sim = simulate(args.customers, args.seed, start=args.start,
                   observation_end=args.observation_end, future_days=args.future_days,
                   prospect_share=args.prospect_share, programme=not args.no_programme)
    for path, what in _write_simulated(sim, args.out, args.format):
        print(f"wrote {path} ({what})")
    return 0


def _run(args: argparse.Namespace) -> int:
    from clvkit import config, pipeline

    t0 = time.perf_counter()
    cfg = config.load(args.params)
    print(f"1. params   {args.params}: valid (scenario '{cfg.scenario}', "
          f"data source '{cfg.data.source}')")
    _print_notes(cfg, indent="           ")
    t = time.perf_counter()
    data = pipeline.load_data(cfg)
    print(f"2. data     {data.source}: {data.ledger.rows_in:,} rows in, "
          f"{data.ledger.rows_out:,} clean, {data.ledger.rows_dropped:,} dropped by the ledger "
          f"({time.perf_counter() - t:.1f} s)")
    _print_data(data, indent="           ")
    t = time.perf_counter()
    print("3. summary  ", end="")
    _print_rfm(cfg, data, header=False)
    print(f"           ({time.perf_counter() - t:.1f} s)")
    if cfg.summary.split is not None:
        t = time.perf_counter()
        print("4. holdout  " + _holdout_line(cfg, data)
              + f" ({time.perf_counter() - t:.1f} s)")
    print(f"done in {time.perf_counter() - t0:.1f} s; next: clvkit score {args.params} --out DIR, "
          f"clvkit report {args.params}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from clvkit import config, pipeline

    cfg = config.load(args.params)
    uri = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", args.out)  # s3a://, file://: kept as written
    out = args.out if uri else Path(args.out)
    if not uri:
        _check_out(out)
    if cfg.summary.engine == "spark":  # scoring where the data lives (clvkit.spark)
        from clvkit import spark

        with _ledger_lines():
            result = spark.score_scenario(cfg, out, args.run_date)
        print(f"Spark master: {spark.master_in_use()}")
        for line in _describe_result(result):
            print(line)
        return 0
    with _ledger_lines():
        data = pipeline.load_data(cfg)
    fitted = pipeline.fit_scenario(cfg, data)  # the same model choice as clvkit report
    result = pipeline.score(cfg, data, run_date=args.run_date, summary=fitted.summary,
                            fitted=fitted.fitted)
    written = pipeline.write_exports(cfg, result, out)
    for line in _describe_score(cfg, data, result, fitted):
        print(line)
    for path in written:
        print(f"wrote {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from clvkit import report

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _stop)
    try:
        with _ledger_lines():
            result = report.run_report(args.params, out=args.out, run_date=args.run_date,
                                       only=args.only, notebooks_dir=args.notebooks,
                                       pdf=args.pdf)
    finally:
        signal.signal(signal.SIGTERM, previous)
    for line in _describe_result(result):
        print(line)
    return 0


# ------------------------------------------------------------------------------ helpers
def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", metavar="NAME", help="table of a DuckDB/SQLite source")
    parser.add_argument("--query", metavar="SQL", help="SQL query for a DuckDB/SQLite source")


def _print_notes(cfg, indent: str = "") -> None:
    """One line per section that is off or changed because its data are absent."""
    for note in cfg.notes:
        print(f"{indent}note: {note}")
def _stop(signum, frame):
    from clvkit import report

    report.stop_kernels()  # notebooks running in other threads end now, not when they finish
    raise Stopped()


class _ledger_lines:
    """Print cleaning's one-line ledger summary (logged by ``clvkit.clean``) while active."""

    def __enter__(self):
        self.logger = logging.getLogger("clvkit.clean")
        self.handler = logging.StreamHandler(sys.stdout)
        self.handler.setFormatter(logging.Formatter("%(message)s"))
        self.level = self.logger.level
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.level)


def _check_out(out: Path) -> None:
    """``--out`` must be a folder clvkit can write to (made if missing), checked before work."""
    from clvkit.errors import ConfigError

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder", fix="name a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".clvkit-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"--out {out} is not writable ({e.strerror or e})",
                          fix="choose a folder you can write to") from None


def _describe_result(result) -> list[str]:
    """Lines for whatever a score/report step returned: its paths, or its own text."""
    if result is None:
        return []
    if isinstance(result, (list, tuple)) and all(isinstance(p, (str, Path)) for p in result):
        return [f"wrote {p}" for p in result]
    index = getattr(result, "index", None)
    if isinstance(index, Path):
        return [f"report: {index}"]
    return [str(result)]


def _describe_score(cfg, data, result, fitted) -> list[str]:
    """What ``score`` did: data and ledger, the chosen model with its fit, the holdout check."""
    from clvkit.display import MODEL_NAMES

    ledger = data.ledger
    lines = [f"data:      {data.source}: {ledger.rows_in:,} rows in, {ledger.rows_out:,} clean, "
             f"{ledger.rows_dropped:,} dropped (ledger); data through "
             f"{data.observation_end:%Y-%m-%d}"]
    lines += [f"note:      {note}" for note in cfg.notes]
    lines.append(f"model:     {fitted.choice.reason}")
    models = [("purchases", result.transaction_model)]
    if result.spend_model is not None:
        models.append(("spend", result.spend_model))
    for role, model in models:
        name = type(model).__name__
        unit = getattr(model, "time_unit_", None)
        lines.append(f"{role + ':':<11}{MODEL_NAMES.get(name, name)} fitted on "
                     f"{model.n_customers_:,} customers"
                     + (f" (time unit {unit})" if unit and role == "purchases" else "")
                     + f", log-likelihood {model.log_likelihood_:,.2f}")
        for pname, row in model.summary().iterrows():
            lines.append(f"           {pname:<8}{row['estimate']:>12.4g}  (se {row['se']:.3g})")
    if result.spend_model is None:
        lines.append("spend:     not modelled (no amounts): tiers on expected purchases")
    if fitted.holdout is not None:
        from clvkit.models.diagnostics import holdout_errors

        e = holdout_errors(fitted.calibration_fits[fitted.choice.chosen], fitted.holdout)
        spec = cfg.summary.split
        spec = "" if hasattr(spec, "year") else f" ({spec})"
        lines.append(f"holdout:   fitted to {data.calibration_end:%Y-%m-%d}{spec}, predicted to "
                     f"{data.observation_end:%Y-%m-%d}: MAE {e['mae']:.3f}, RMSE {e['rmse']:.3f} "
                     f"purchases per customer; {e['predicted_total']:,.0f} predicted vs "
                     f"{e['actual_total']:,.0f} actual")
    tiers = result.assignments["tier"].value_counts()
    lines.append(f"tiers:     on {cfg.tiers.score}: " + ", ".join(
        f"{label} {int(tiers.get(label, 0)):,}" for label in cfg.tiers.labels
        if tiers.get(label, 0)))
    return lines


def _print_data(data, indent: str = "") -> None:
    tx = data.transactions
    days = tx.assign(day=tx["date"].dt.normalize()).groupby("customer_id")["day"].nunique()
    n = len(days)
    repeat = int((days > 1).sum())
    lines = [] if indent else [f"source: {data.source}", "", str(data.ledger), ""]
    lines += [f"customers:        {n:,} with purchases"
              + (f" ({len(data.customers):,} in the customer table)"
                 if data.customers is not None else ""),
              f"transactions:     {len(tx):,}, "
              + (f"total amount {tx['amount'].sum():,.2f}" if "amount" in tx.columns
                 else "no amounts (purchase counts only)"),
              f"dates:            {tx['date'].min():%Y-%m-%d} to {tx['date'].max():%Y-%m-%d} "
              f"(observation end {data.observation_end:%Y-%m-%d})",
              f"repeat buyers:    {repeat:,} ({repeat / n:.1%}) bought on more than one day"]
    for name in ("surveys", "complaints", "programme"):
        table = getattr(data, name)
        if table is not None:
            lines.append(f"{name + ':':<18}{len(table):,} rows")
    lines.append(f"fingerprint:      {data.fingerprint}")
    print("\n".join(indent + line if indent else line for line in lines))


def _print_rfm(cfg, data, header: bool = True) -> None:
    from clvkit.rfm import rfm_summary

    s = cfg.summary
    amount = "amount" if "amount" in data.transactions.columns else None
    summary = rfm_summary(data.transactions, observation_end=data.observation_end,
                          time_unit=s.time_unit, period=s.period, engine=s.engine, amount=amount)
    if header:
        print()
    print(f"RFM summary ({s.engine} engine, time unit {s.time_unit}, period {s.period}): "
          f"{len(summary):,} customers, {int((summary['frequency'] > 0).sum()):,} with repeat "
          f"purchases")
    cols = [c for c in ("frequency", "recency", "T", "monetary_value") if c in summary.columns]
    print(summary[cols].describe().loc[["mean", "std", "min", "50%", "max"]]
          .round(2).to_string())


def _holdout_line(cfg, data) -> str:
    from clvkit import pipeline
    from clvkit.rfm import calibration_holdout

    s = cfg.summary
    end = pipeline.calibration_end(cfg, data)
    amount = "amount" if "amount" in data.transactions.columns else None
    cal = calibration_holdout(data.transactions, calibration_end=end,
                              observation_end=data.observation_end, time_unit=s.time_unit,
                              period=s.period, engine=s.engine, amount=amount)
    spec = "" if isinstance(s.split, type(end)) else f" ({s.split})"
    return (f"calibration to {end:%Y-%m-%d}{spec}: {len(cal):,} customers, "
            f"{int((cal['frequency'] > 0).sum()):,} repeat buyers, "
            f"total frequency {int(cal['frequency'].sum()):,}; holdout to "
            f"{data.observation_end:%Y-%m-%d}: {int(cal['frequency_holdout'].sum()):,} "
            f"repeat purchases")


def _write_simulated(sim, out: Path, fmt: str) -> list[tuple[Path, str]]:
    """Write each table of a SimulatedData (and the truth's tables and parameters) to ``out``."""
    import dataclasses
    import json

    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    frames = {f.name: getattr(sim, f.name) for f in dataclasses.fields(sim)}
    truth = frames.pop("truth", None)
    extra = {}
    if truth is not None and dataclasses.is_dataclass(truth):
        for f in dataclasses.fields(truth):
            value = getattr(truth, f.name)
            if isinstance(value, pd.DataFrame):
                frames[f"truth_{f.name}"] = value
            else:
                extra[f.name] = value
    written = []
    for name, frame in frames.items():
        if not isinstance(frame, pd.DataFrame):
            extra.setdefault(name, frame)
            continue
        path = out / f"{name}.{fmt}"
        keep_index = frame.index.name is not None
        if fmt == "csv":
            frame.to_csv(path, index=keep_index)
        else:
            frame.to_parquet(path, index=keep_index)
        written.append((path, f"{len(frame):,} rows"))
    if extra:
        path = out / "truth.json"
        path.write_text(json.dumps(extra, indent=2, default=_json_default, ensure_ascii=False),
                        encoding="utf-8")
        written.append((path, "the true parameters: " + ", ".join(extra)))
    return written


def _json_default(value):
    import dataclasses

    import numpy as np
    import pandas as pd

    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, (pd.Timestamp, _dt.date)):
        return value.isoformat()
    if isinstance(value, pd.Series):
        return value.to_dict()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
