"""Tests for clvkit.datasets: real-data loaders and the simulator."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from clvkit import DataError
from clvkit.datasets import cdnow, load_cdnow, load_donations


# --- real data read from the installed lifetimes package ---------------------------------------

def test_cdnow_sample_matches_published_size_fhl2005():
    tx = load_cdnow("sample")
    # Fader, Hardie and Lee (2005): the 1/10th sample holds 2,357 customers, all first buying in
    # the first 12 weeks of 1997; the log runs to the end of June 1998.
    assert tx["customer_id"].nunique() == 2357
    assert sorted(tx["customer_id"].unique()) == list(range(1, 2358))
    assert len(tx) == 6919  # lines in the shipped file
    assert tx.groupby("customer_id")["date"].min().max() < pd.Timestamp("1997-03-26")
    assert tx["date"].min() == pd.Timestamp("1997-01-01")
    assert tx["date"].max() == pd.Timestamp("1998-06-30")


def test_cdnow_schema():
    tx = load_cdnow()
    assert list(tx.columns[:3]) == ["customer_id", "date", "amount"]
    assert tx["customer_id"].dtype == np.int64
    assert pd.api.types.is_datetime64_dtype(tx["date"]) and tx["date"].dt.tz is None
    assert tx["amount"].dtype == np.float64
    assert tx["quantity"].dtype == np.int64
    assert (tx["quantity"] >= 1).all()


def test_cdnow_master_matches_published_size():
    tx = load_cdnow("master")
    assert tx["customer_id"].nunique() == 23570  # the full CDNOW cohort
    assert len(tx) == 69659
    assert set(tx.columns) == {"customer_id", "date", "amount", "quantity"}


def test_cdnow_sample_is_a_subset_of_master():
    sample, master = load_cdnow("sample"), load_cdnow("master")
    key = ["master_id", "date", "quantity", "amount"]
    merged = sample[key].merge(master.rename(columns={"customer_id": "master_id"}), how="left",
                               on=key, indicator=True)
    assert (merged["_merge"] == "both").all()


def test_first_sample_line_is_read_exactly():
    # first line of CDNOW_sample.txt: " 00004 0001 19970101  2   29.33"
    row = load_cdnow("sample").iloc[0]
    assert (row["master_id"], row["customer_id"], row["date"], row["quantity"], row["amount"]) == (
        4, 1, pd.Timestamp("1997-01-01"), 2, 29.33)


def test_donations_as_shipped():
    d = load_donations()
    assert list(d.columns) == ["frequency", "recency", "periods", "weights"]
    assert len(d) == 22
    assert d["weights"].sum() == 11104  # donors in Fader, Hardie and Shang (2010)
    assert (d["periods"] == 6).all()


def test_loaders_do_not_import_lifetimes():
    # a fresh interpreter: other tests in this session may import lifetimes to compare with it
    code = ("import sys; from clvkit.datasets import load_cdnow, load_donations; "
            "load_cdnow(); load_donations(); print('lifetimes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_cdnow_variant():
    with pytest.raises(DataError, match=r"unknown CDNOW data set which='full'.*'sample' or 'master'"):
        load_cdnow("full")


def test_missing_lifetimes_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(cdnow.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"'lifetimes' package that ships it is not installed.*"
                                        r"pip install lifetimes"):
        load_cdnow()


def test_lifetimes_without_the_file_is_a_clear_error(monkeypatch, tmp_path):
    class Spec:
        submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(cdnow.importlib.util, "find_spec", lambda name: Spec())
    with pytest.raises(DataError, match=r"has no datasets/donations.csv"):
        load_donations()
