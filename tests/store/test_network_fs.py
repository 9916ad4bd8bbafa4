"""A SQLite store on a network filesystem is refused (WAL is unsafe there), from a fake mount table."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench.errors import StoreError
from workbench.store import database, open_store
from workbench.store.database import filesystem_type


@pytest.fixture
def mounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a mount table (``/proc/mounts`` format) that the store then reads."""
    table = tmp_path / "mounts"
    monkeypatch.setattr(database, "MOUNTS_FILE", table)
    monkeypatch.delenv("WORKBENCH_ALLOW_NETWORK_FS", raising=False)

    def write(*entries: tuple[Path | str, str]) -> None:
        lines = ["/dev/root / ext4 rw,relatime 0 0", "tmpfs /tmp tmpfs rw 0 0"]
        for point, fstype in entries:
            escaped = str(point).replace("\\", "\\134").replace(" ", "\\040")
            lines.append(f"server:/export {escaped} {fstype} rw,relatime 0 0")
        table.write_text("\n".join(lines) + "\n")

    return write


def test_the_deepest_mount_point_decides(tmp_path: Path, mounts) -> None:
    team = tmp_path / "team share"  # blanks are escaped in the table
    (team / "local").mkdir(parents=True)
    mounts((team, "nfs4"), (team / "local", "ext4"))
    assert filesystem_type(team / "store.db") == "nfs4"
    assert filesystem_type(team / "local" / "store.db") == "ext4"
    assert filesystem_type(tmp_path / "team") == "tmpfs"  # a prefix, not a parent
    assert filesystem_type(Path("/")) == "ext4"


@pytest.mark.parametrize("fstype", ["nfs", "nfs4", "cifs", "smb3", "fuse.sshfs", "9p", "ceph"])
def test_a_store_on_a_network_filesystem_is_refused(tmp_path: Path, mounts, fstype: str) -> None:
    mounts((tmp_path, fstype))
    with pytest.raises(StoreError) as caught:
        open_store(f"sqlite:///{tmp_path / 'store.db'}")
    message = str(caught.value)
    assert f"({fstype})" in message and "PostgreSQL" in message and str(tmp_path) in message
    assert "WORKBENCH_ALLOW_NETWORK_FS=1" in message and "\n" not in message
    assert not (tmp_path / "store.db").exists()  # refused before SQLite touched anything


def test_the_override_opens_it_anyway(
    tmp_path: Path, mounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    mounts((tmp_path, "nfs4"))
    monkeypatch.setenv("WORKBENCH_ALLOW_NETWORK_FS", "1")
    open_store(f"sqlite:///{tmp_path / 'store.db'}").close()


def test_a_local_filesystem_and_a_missing_table_are_fine(
    tmp_path: Path, mounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    mounts((tmp_path, "ext4"))
    open_store(f"sqlite:///{tmp_path / 'a.db'}").close()
    monkeypatch.setattr(database, "MOUNTS_FILE", tmp_path / "no-such-table")  # not Linux
    open_store(f"sqlite:///{tmp_path / 'b.db'}").close()


def test_the_cli_says_so_in_one_line(tmp_path: Path, mounts) -> None:
    from workbench.cli import cli

    mounts((tmp_path, "cifs"))
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "s.db"), "project", "list"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "network filesystem (cifs)" in result.stderr
