"""pipeline.run computes a scenario once into a ScenarioResult; it round-trips through
Parquet/JSON; the model is chosen by holdout error; notebooks read the stored result (or a
cached one) instead of computing; `clvkit report` works from any folder."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from IPython.display import Markdown

from clvkit import config, notebook, pipeline, sections
from clvkit.models import Model, diagnostics
from clvkit.report import run_report
from clvkit.result import ScenarioResult, StoredResultError


def small_params(folder: Path, *, customers: int = 600, seed: int = 7, **extra) -> Path:
    """The default scenario, smaller: 600 simulated customers, few bootstrap draws."""
    params = yaml.safe_load(notebook.default_params().read_text(encoding="utf-8"))
    params["scenario"] = "small"
    params["data"]["simulate"].update(customers=customers, seed=seed)
    params["impact"]["n_boot"] = 50
    params.update(extra)
    path = folder / "small.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("result")


@pytest.fixture(scope="module")
def cfg(folder):
    return config.load(small_params(folder))


@pytest.fixture(scope="module")
def res(cfg):
    return pipeline.run(cfg, run_date="2025-01-02")


def assert_same(a, b, where="result"):
    """Equal values, frame for frame and field for field (models by parameters)."""
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, obj=where)
        assert a.attrs.keys() == b.attrs.keys(), where
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, obj=where)
    elif isinstance(a, pd.Index):
        pd.testing.assert_index_equal(a, b, obj=where)
    elif isinstance(a, Model):
        assert type(a) is type(b), where
        pd.testing.assert_series_equal(a.params_, b.params_, obj=where)
        assert a.log_likelihood_ == b.log_likelihood_ and a.time_unit_ == b.time_unit_
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            if f.metadata.get("store", True):
                assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), where
    else:
        assert a == b, (where, a, b)


# --------------------------------------------------------------------------- the result
def test_run_fills_every_section_of_the_default_scenario(res, cfg):
    assert res.info.scenario == "small" and res.info.run_date == pd.Timestamp("2025-01-02")
    assert len(res.assignments) == 600 and res.assignments["customer_id"].is_unique
    assert res.calibration is not None and res.satisfaction is not None
    assert res.impact is not None and res.grid is not None and res.migration is None
    assert res.truth is not None
    assert res.coverage["customers who bought"] == len(res.scored)
    assert res.monthly["lines"].sum() == len(res.transactions)
    # the watchlist is the scoring's, the assignments the export's
    assert set(res.warning.watchlist["customer_id"]) <= set(res.assignments["customer_id"])


def test_result_round_trips_through_parquet_and_json(res, tmp_path):
    res.save(tmp_path / "r")
    assert not list((tmp_path / "r").rglob("*.pkl"))
    back = ScenarioResult.load(tmp_path / "r")
    assert back.truth is None  # the simulation's truth is not stored
    assert_same(res, back)
    assert back.config == res.config
    # the loaded models predict as the fitted ones
    pd.testing.assert_series_equal(back.transaction_model.probability_alive(res.summary),
                                   res.transaction_model.probability_alive(res.summary))


def test_round_trip_keeps_none_sections_and_a_missing_spend_model(res, tmp_path):
    bare = dataclasses.replace(res, calibration=None, satisfaction=None, impact=None, grid=None,
                               spend_model=None)
    bare.save(tmp_path / "bare")
    back = ScenarioResult.load(tmp_path / "bare")
    assert back.calibration is None and back.spend_model is None and back.impact is None
    assert "no spend model" in repr(back)


def test_loading_a_missing_or_foreign_result_says_what_to_do(tmp_path, res):
    with pytest.raises(StoredResultError, match="no stored scenario result"):
        ScenarioResult.load(tmp_path)
    res.save(tmp_path / "r")
    doc = json.loads((tmp_path / "r" / "result.json").read_text())
    doc["format"]["version"] = 999
    (tmp_path / "r" / "result.json").write_text(json.dumps(doc))
    with pytest.raises(StoredResultError, match="compute the result again"):
        ScenarioResult.load(tmp_path / "r")


# ---------------------------------------------------------------------- model choice
def test_best_model_has_the_lowest_holdout_error_with_aic_breaking_near_ties(res, cfg):
    """Recomputed here from the diagnostics: fit each candidate on the calibration period."""
    from clvkit.rfm import calibration_holdout

    ch = calibration_holdout(res.transactions, calibration_end=cfg.summary.calibration_end,
                             observation_end=res.info.observation_end, time_unit="W", litt=True)
    from clvkit.models import registry

    cal = ch[["frequency", "recency", "T", "litt"]]
    cands = {k: spec.cls for k, spec in registry.purchase_models().items()
             if set(spec.needs) <= set(res.summary.columns)}     # the CNBD-k models need litt
    assert {"bgnbd", "paretonbd", "mbgnbd", "ggomnbd"} <= set(cands)
    fits = {k: cls().fit(cal) for k, cls in cands.items()}
    mae = {k: diagnostics.holdout_errors(f, ch)["mae"] for k, f in fits.items()}
    aic = {k: 2 * len(f.params_) - 2 * f.log_likelihood_ for k, f in fits.items()}
    best = min(mae.values())
    tied = [k for k in mae if mae[k] <= best * (1 + pipeline.HOLDOUT_TIE)]
    expected = min(tied, key=aic.get)
    choice = res.model_choice
    assert choice.criterion == "holdout" and choice.chosen == expected
    assert type(res.transaction_model) is cands[expected]
    comp = choice.comparison
    assert comp.loc[expected, "chosen"] and comp["chosen"].sum() == 1
    np.testing.assert_allclose(comp["holdout_mae"].to_dict()[expected], mae[expected])
    assert choice.name in choice.reason and "holdout" in choice.reason
    # the chosen model then scores on the full data
    full = type(fits[expected])().fit(res.summary)
    pd.testing.assert_series_equal(res.transaction_model.params_, full.params_)
    assert not np.allclose(full.params_, fits[expected].params_)


def test_case_study_in_a_second_process_equals_the_one_computed_inline(cfg, res, monkeypatch):
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_ROWS", 0)
    job = pipeline._start_impact(cfg, pipeline.load_data(cfg))
    assert job.__name__ == "result"  # the forked worker's, not the inline lambda
    assert_same(job(), res.impact)


def test_aic_decides_without_a_holdout_and_a_named_model_is_kept(res, cfg):
    no_holdout = dataclasses.replace(cfg, summary=dataclasses.replace(cfg.summary,
                                                                      calibration_end=None))
    tm, choice, cal = pipeline.choose_transaction_model(no_holdout, res.summary)
    assert choice.criterion == "aic" and cal is None
    assert choice.chosen == choice.comparison["aic"].idxmin()
    assert "summary.calibration_end" in choice.reason
    named = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, transaction="bgnbd"))
    tm, choice, _ = pipeline.choose_transaction_model(named, res.summary)
    assert choice.criterion == "params" and choice.chosen == "bgnbd"
    assert type(tm).__name__ == "BetaGeo" and "params file names it" in choice.reason


# --------------------------------------------------------------------------- sections
def test_sections_show_a_note_where_the_scenario_has_no_data(res):
    bare = dataclasses.replace(res, calibration=None, satisfaction=None, impact=None, grid=None)
    note = sections.heading(bare, "value.holdout").data
    assert note.startswith('<p class="omitted">') and "calibration period" in note
    assert sections.calibration_plot(bare) is None      # the note is said once per section
    assert "second dimension" in sections.heading(bare, "tiers.grid").data
    assert "first run" in sections.heading(bare, "tiers.migration").data
    assert "survey" in sections.heading(bare, "sat.by_tier").data
    assert "no programme" in sections.header(bare, "case_study").data
    # with data, the same calls give tables and figures, not notes
    assert not isinstance(sections.candidate_models(res), Markdown)
    assert "Verdict" in sections.header(res, "case_study").data


# ------------------------------------------------------------------------ the cache
def test_notebook_setup_computes_once_then_reads_the_cache(cfg, tmp_path, monkeypatch):
    calls = []
    real = pipeline.run
    monkeypatch.setattr(pipeline, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setenv("CLVKIT_CACHE_DIR", str(tmp_path / "cache"))
    first = notebook.setup(cfg.source, run_date="2025-01-02")
    again = notebook.setup(cfg.source, run_date="2025-01-02")
    assert len(calls) == 1 and len(list((tmp_path / "cache").iterdir())) == 1
    assert_same(first.assignments, again.assignments)
    # other data (another seed) is another key: computed again
    other = small_params(tmp_path, seed=8)
    notebook.setup(other, run_date="2025-01-02")
    assert len(calls) == 2 and len(list((tmp_path / "cache").iterdir())) == 2
    # a stored result is read, never computed
    first.save(tmp_path / "stored")
    assert notebook.setup(result_dir=tmp_path / "stored").info == first.info
    assert len(calls) == 2


# ------------------------------------------------------------------------ the report
OWN = """from clvkit.notebook import setup
res = setup(params, run_date=run_date, result_dir=result_dir)
print('buyers', len(res.scored), 'fingerprint', res.info.fingerprint)"""


def test_report_computes_once_and_a_users_own_notebooks_read_the_stored_result(
        cfg, folder, tmp_path, monkeypatch):
    calls = []
    real = pipeline.run
    monkeypatch.setattr(pipeline, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    own = tmp_path / "mine"
    own.mkdir()
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell("params = None\nrun_date = None\nresult_dir = None")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Mine"), p, nbformat.v4.new_code_cell(OWN)]
    nbformat.write(nb, own / "mine.ipynb")
    monkeypatch.setenv("CLVKIT_CACHE_DIR", str(tmp_path / "cache"))  # the kernel inherits it
    run = run_report(cfg.source, out=tmp_path / "reports", run_date="2025-01-02",
                     notebooks_dir=own)
    assert len(calls) == 1
    assert (run.path / "result" / "result.json").is_file()
    out = "".join(o.get("text", "") for c in nbformat.read(run.path / "mine.ipynb", 4).cells
                  if c.cell_type == "code" for o in c.get("outputs", []))
    assert f"fingerprint {run.fingerprint}" in out
    assert not (tmp_path / "cache").exists()  # the kernel read the stored result
    # the executed notebook, opened from the published run, points at the run's result
    injected = nbformat.read(run.path / "mine.ipynb", 4).cells[2]
    assert "injected-parameters" in injected.metadata.tags
    assert f'result_dir = "{run.path / "result"}"' in injected.source


def test_clvkit_report_runs_from_a_folder_outside_the_project(tmp_path):
    """Params file and working folder both outside the project: the bundled notebooks run."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    params = small_params(elsewhere, customers=400)
    script = Path(sys.executable).with_name("clvkit")
    env = {**os.environ, "CLVKIT_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([str(script), "report", params.name, "--out", "out",
                           "--run-date", "2025-01-02"], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    run = elsewhere / "out" / "small" / "2025-01-02"
    assert sorted(p.name for p in run.glob("*.html")) == [
        "01_data_quality.html", "02_customer_value.html", "03_tiers.html",
        "04_satisfaction_retention.html", "05_case_study.html", "appendix.html", "index.html"]
    assert not (tmp_path / "cache").exists()  # notebooks computed nothing: one compute per run
    page = (run / "03_tiers.html").read_text(encoding="utf-8")
    # "Explore further" is for analysts in JupyterLab: in the executed notebook, not on the page
    assert "Explore further" not in page and "res.assignments" not in page
    executed = (run / "03_tiers.ipynb").read_text(encoding="utf-8")
    assert "Explore further" in executed and "res.assignments" in executed


def test_nbconvert_exporter_entry_point_gives_the_offline_report_html(tmp_path):
    from nbconvert.exporters import get_exporter

    exporter = get_exporter("clvkit_html")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Mine"), nbformat.v4.new_code_cell("1 + 1")]
    body, _ = exporter().from_notebook_node(nb)
    assert "<h1" in body and "Mine" in body
    assert "require.js" not in body and "MathJax.js" not in body and "://" not in body
    assert "jp-InputPrompt" not in body.partition("<body")[2]


def test_churn_definitions_reconcile_the_reports_churn_counts(res):
    """04 shows one primary churn count and the others beside it, counted from the result."""
    from clvkit import retention, sections

    html = sections.churn_definitions(res).to_html()
    r = res.config.retention
    rec = retention.churn_reconciliation(
        r.churn_definition, stages=res.assignments.set_index("customer_id")["stage"]
        .reindex(res.scored.index), p_alive=res.scored["p_alive"], threshold=r.p_alive_threshold)
    stage_lost = rec.set_index("definition").loc["stage_lost", "churned"]
    assert stage_lost == int((res.assignments.set_index("customer_id").loc[res.scored.index,
                                                                           "stage"] == "lost").sum())
    assert f"{stage_lost:,}" in html and f"{(res.scored['p_alive'] < r.p_alive_threshold).sum():,}" in html
    assert "used in headlines" in html


def test_model_reason_warns_when_one_time_buyers_can_never_be_at_risk(cfg):
    """Under BG/NBD every one-time buyer has P(alive) = 1; the model section says so."""
    import dataclasses

    from clvkit import sections

    bg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, transaction="bgnbd"))
    res = pipeline.run(bg, run_date="2025-01-02")
    one = res.scored["frequency"] == 0
    assert (res.scored.loc[one, "p_alive"] == 1).all()
    text = sections.model_reason(res).data
    assert f"{int(one.sum()):,} one-time buyers" in text and "P(alive) = 1" in text


def test_cohort_heatmap_leaves_periods_cut_by_the_data_end_blank(res):
    import dataclasses

    from clvkit import retention, sections

    end = pd.Timestamp("2024-10-10")                             # cuts October short
    cut = dataclasses.replace(res, cohorts=retention.cohort_matrix(
        res.transactions[res.transactions["date"] <= end], observation_end=end))
    frame, partial = sections.cohort_frame(cut), cut.cohorts.partial
    assert partial.to_numpy().any() and not partial.to_numpy().all()
    for cohort, row in zip(cut.cohorts.share.index, frame.index):
        for col in frame.columns:
            if partial.loc[cohort, col]:
                assert pd.isna(frame.loc[row, col])
            else:
                assert frame.loc[row, col] == cut.cohorts.share.loc[cohort, col] or (
                    pd.isna(frame.loc[row, col]) and pd.isna(cut.cohorts.share.loc[cohort, col]))


def test_tier_and_stage_rules_are_worded_in_the_report_language(res):
    import dataclasses

    from clvkit import sections

    c = res.config
    zh = dataclasses.replace(res, config=dataclasses.replace(
        c, report=dataclasses.replace(c.report, language="zh")))
    tiers_zh, stages_zh = (sections.tier_definitions(zh).to_html(),
                           sections.stage_table(zh).to_html())
    share = f"{c.tiers.rules[0].share * 100:.4g}%"
    assert f"排名前 {share} 的购买客户" in tiers_zh and "top " not in tiers_zh
    assert f"P(活跃) &lt; {c.stages.lost_p_alive:g}" in stages_zh
    assert "single purchase" not in stages_zh
    en = sections.stage_table(res).to_html()
    assert f"a single purchase, at most {c.stages.new_days:g} days ago" in en
