"""``python -m workbench`` and the ``workbench`` command.

Interrupts are caught before anything else is imported: a Ctrl-C in the first
fraction of a second, while the command line's modules load, still ends the
command with exit 130 rather than a traceback (see ``workbench.jobs.interrupts``).
"""

from workbench.jobs.interrupts import catch_interrupts

catch_interrupts()

from workbench.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
