"""The `clvkit` command line (filled in by the foundation work)."""


def main(argv=None) -> int:
    raise SystemExit("clvkit: command line not built yet")
