"""Data sets: the real CDNOW and donations data (read from the installed ``lifetimes`` package
by path) and a simulator that generates a retail customer base from the model families.
"""
from clvkit.datasets.cdnow import lifetimes_data_path, load_cdnow, load_donations
from clvkit.datasets.simulate import (DEFAULT_PARAMS, SimulatedData, SimulationTruth, simulate,
                                      simulate_bgnbd_purchases)

__all__ = ["DEFAULT_PARAMS", "SimulatedData", "SimulationTruth", "lifetimes_data_path",
           "load_cdnow", "load_donations", "simulate", "simulate_bgnbd_purchases"]
