"""Every malformed file in tests/data/bad/ gets the outcome its EXPECTED.yaml entry states."""
import re
from pathlib import Path

import pytest
import yaml

from clvkit.clean import clean_transactions
from clvkit.errors import DataError
from clvkit.io import read_transactions

BAD = Path(__file__).parent / "data" / "bad"
MANIFEST = yaml.safe_load((BAD / "EXPECTED.yaml").read_text(encoding="utf-8"))


def _run(name, entry):
    frame = read_transactions(BAD / name, **entry.get("read", {}))
    return clean_transactions(frame, **entry.get("clean", {}))


def test_manifest_covers_every_file_and_has_at_least_20():
    files = {p.name for p in BAD.iterdir() if p.name != "EXPECTED.yaml"}
    assert files == set(MANIFEST)
    assert len(files) >= 20
    for name, entry in MANIFEST.items():
        assert ("error" in entry) != ("ledger" in entry), name
        assert set(entry) <= {"error", "ledger", "rows_out", "read", "clean"}, name


@pytest.mark.parametrize("name", sorted(n for n, e in MANIFEST.items() if "error" in e))
def test_bad_file_raises_one_line_data_error(name):
    with pytest.raises(DataError) as info:
        _run(name, MANIFEST[name])
    message = str(info.value)
    assert "\n" not in message
    assert str(BAD / name) in message, "the message names the file"
    assert re.search(MANIFEST[name]["error"], message), message


@pytest.mark.parametrize("name", sorted(n for n, e in MANIFEST.items() if "ledger" in e))
def test_bad_rows_are_counted_in_the_ledger(name):
    entry = MANIFEST[name]
    clean, ledger = _run(name, entry)
    counts = dict(zip(ledger.table["reason"], ledger.table["rows"]))
    for reason, rows in entry["ledger"].items():
        assert counts.get(reason) == rows, (reason, counts)
    others = {r: n for r, n in counts.items() if r not in entry["ledger"] and n}
    assert others == {}
    assert len(clean) == ledger.rows_out == entry["rows_out"]
    assert ledger.rows_in == ledger.rows_out + ledger.rows_dropped
