"""bench/_results.record: each benchmark rewrites only its own section of RESULTS.md."""
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "_results", Path(__file__).resolve().parents[1] / "bench" / "_results.py")
_results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_results)


def test_record_appends_then_replaces_only_its_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\nintro\n", encoding="utf-8")
    _results.record("bench_a", "## A\n\nfirst\n", path)
    _results.record("bench_b", "## B\n\nb\n", path)
    path.write_text(path.read_text(encoding="utf-8").replace(
        "<!-- bench_a:end -->", "<!-- bench_a:end -->\n\nhand-written note on A"), encoding="utf-8")
    _results.record("bench_a", "## A\n\nsecond", path)
    text = path.read_text(encoding="utf-8")
    assert "first" not in text and text.count("second") == 1
    assert text.index("intro") < text.index("second") < text.index("hand-written note on A") \
        < text.index("## B")
    assert text.count("<!-- bench_a:start -->") == 1 and text.count("<!-- bench_b:end -->") == 1


def test_record_refuses_a_section_whose_end_marker_is_gone(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n<!-- bench_a:start -->\nold\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bench_a:end"):
        _results.record("bench_a", "new", path)
    assert path.read_text(encoding="utf-8").endswith("old\n")
