"""Real data sets that ship with the installed ``lifetimes`` package, read by path.

The CDNOW transaction logs (Fader, Hardie and Lee 2005) and the donations table are data
files inside the ``lifetimes`` distribution. We locate the package with
``importlib.util.find_spec`` and read the files directly: importing ``lifetimes`` would set a
global pandas option, and its own loaders need the deprecated ``pkg_resources``.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from clvkit.errors import DataError

_INSTALL_FIX = "pip install lifetimes==0.11.3 (it carries the data files; clvkit never imports it)"


def lifetimes_data_path(filename: str) -> Path:
    """Return the path of ``lifetimes/datasets/<filename>`` without importing ``lifetimes``.

    Raises
    ------
    DataError
        If ``lifetimes`` is not installed or the file is missing from it.
    """
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"cannot find the data file '{filename}': the 'lifetimes' package that "
                        "ships it is not installed", fix=_INSTALL_FIX)
    for location in spec.submodule_search_locations:
        path = Path(location) / "datasets" / filename
        if path.is_file():
            return path
    raise DataError(f"the installed 'lifetimes' package has no datasets/{filename}",
                    file=list(spec.submodule_search_locations)[0], fix=_INSTALL_FIX)


def load_cdnow(which: str = "sample") -> pd.DataFrame:
    """Load the real CDNOW transaction log (purchases of CDs, January 1997 to June 1998).

    Parameters
    ----------
    which : {"sample", "master"}
        ``"sample"``: the 1/10th sample of 2,357 customers used by Fader, Hardie and Lee (2005),
        6,919 rows; ``customer_id`` is the sample's 1..2357 id (the id of the published summary),
        ``master_id`` the id in the master file. ``"master"``: all 23,570 customers, 69,659 rows.

    Returns
    -------
    pandas.DataFrame
        One row per purchase line: ``customer_id`` (int64), ``date`` (datetime64), ``amount``
        (float64, dollars), ``quantity`` (int64, number of CDs), and for the sample ``master_id``.

    Raises
    ------
    DataError
        If ``which`` is unknown or ``lifetimes`` (which carries the files) is not installed.

    References
    ----------
    Fader, Hardie and Lee (2005), "Counting your customers the easy way: an alternative to the
    Pareto/NBD model", Marketing Science 24(2).

    Examples
    --------
    >>> tx = load_cdnow("sample")
    >>> tx["customer_id"].nunique()
    2357
    """
    if which == "sample":
        path = lifetimes_data_path("CDNOW_sample.txt")
        names = ["master_id", "customer_id", "date", "quantity", "amount"]
        raw = pd.read_csv(path, sep=r"\s+", header=None, names=names, dtype={"date": str})
        columns = ["customer_id", "date", "amount", "quantity", "master_id"]
    elif which == "master":
        path = lifetimes_data_path("CDNOW_master.txt")
        names = ["customer_id", "date", "quantity", "amount"]
        raw = pd.read_csv(path, sep=r"\s+", header=0, names=names, dtype={"date": str})
        columns = ["customer_id", "date", "amount", "quantity"]
    else:
        raise DataError(f"unknown CDNOW data set which={which!r}", fix="use 'sample' or 'master'")
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    raw["amount"] = raw["amount"].astype("float64")
    for col in ("customer_id", "quantity", "master_id"):
        if col in raw:
            raw[col] = raw[col].astype("int64")
    return raw[columns]


def load_donations() -> pd.DataFrame:
    """Load the donations table shipped with ``lifetimes``, as shipped.

    A compressed discrete-time summary for the BG/BB model: ``frequency`` (repeat donations),
    ``recency`` (period of the last donation), ``periods`` (opportunities, 6) and ``weights``
    (number of donors with that history), 22 rows, 11,104 donors (Fader, Hardie and Shang 2010).

    Raises
    ------
    DataError
        If ``lifetimes`` (which carries the file) is not installed.
    """
    return pd.read_csv(lifetimes_data_path("donations.csv"))
