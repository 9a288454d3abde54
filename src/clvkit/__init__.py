"""clvkit: customer tiering, lifetime value, churn, satisfaction and retention."""
from importlib.metadata import PackageNotFoundError, version

from clvkit.errors import (ClvkitError, ConfigError, ConvergenceError, DataError, ModelError,
                           NotFittedError, StatisticalWarning, UnitWarning)

try:
    __version__ = version("clvkit")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["ClvkitError", "ConfigError", "ConvergenceError", "DataError", "ModelError",
           "NotFittedError", "StatisticalWarning", "UnitWarning", "__version__"]
