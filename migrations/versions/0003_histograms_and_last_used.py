"""layer value histograms; the project used last

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 21:30:00.000000

Rules (README, "Adding a migration"): additive and data-preserving; never
import the models; test the upgrade on a database holding data.

* ``layer_stats.histograms``: a layer's value distributions (its output's and its
  weights', fixed bins around the encoding range) that the analysis measured.
* ``projects.last_used_at``: when a run last started in the project or the TUI last
  opened it; ``workbench tui`` opens the newest. Filled from each project's newest run.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('layer_stats', schema=None) as batch_op:
        batch_op.add_column(sa.Column('histograms', sa.JSON(), nullable=True))
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
    projects = sa.table('projects', sa.column('id'), sa.column('last_used_at'))
    runs = sa.table('runs', sa.column('project_id'), sa.column('started_at'))
    newest = (
        sa.select(sa.func.max(runs.c.started_at))
        .where(runs.c.project_id == projects.c.id)
        .scalar_subquery()
    )
    op.execute(projects.update().values(last_used_at=newest))


def downgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
    with op.batch_alter_table('layer_stats', schema=None) as batch_op:
        batch_op.drop_column('histograms')
