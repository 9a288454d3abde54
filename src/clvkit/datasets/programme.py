"""Simulated satisfaction surveys, complaints and the tiering programme (placeholder).

Owned by the satisfaction/retention/impact work: ``add_programme`` is called by
``clvkit.datasets.simulate`` once purchase histories exist.
"""


def add_programme(*args, **kwargs):
    raise NotImplementedError("the simulated programme is not built yet")
