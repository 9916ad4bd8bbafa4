"""Where the migrations live (no Alembic import: opening a current store stays fast)."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import StoreError


def script_location() -> Path:
    """The migrations folder: packaged beside the code, or the source tree's."""
    import workbench

    package_dir = Path(workbench.__file__).resolve().parent
    # The wheel carries the folder as workbench/_migrations (a symlink to
    # ../migrations in the source tree); a checkout without symlinks falls back.
    for candidate in (package_dir / "_migrations", package_dir.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise StoreError(f"the migrations folder is missing from this installation ({package_dir})")


def versions_dir() -> Path:
    return script_location() / "versions"
