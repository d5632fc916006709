"""``python -m stemmatic``: the ``stemmatic`` command line, for an environment whose scripts are not on PATH."""

from stemmatic.cli import main

if __name__ == "__main__":
    main()
