"""One module per command of the ``cnncalc`` command line (docs/architecture.md).

:mod:`cnncalc.cli` parses the options and calls ``cnncalc.commands.<name>.run(**options)``,
loading only that module: each imports what its command needs at its top, so that
``cnncalc analyze`` never imports NumPy or the executor. A command module loads the input,
calls the computing layers, hands the result to a renderer in :mod:`cnncalc.present` (or the
lint and homework packages' own), writes it, and raises ``typer.Exit`` with the exit code.
"""
