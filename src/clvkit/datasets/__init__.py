"""Data sets: the real CDNOW and donations data (read from the installed ``lifetimes``
package by path) and a simulator that generates a retail customer base from the model families.
"""
from clvkit.datasets.cdnow import lifetimes_data_path, load_cdnow, load_donations

__all__ = ["lifetimes_data_path", "load_cdnow", "load_donations"]
