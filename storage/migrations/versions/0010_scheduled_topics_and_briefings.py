"""scheduled topics (topic.scheduled_for) and monthly briefings

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "topic", sa.Column("scheduled_for", storage.models.UtcDateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "briefing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("held_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["person.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_briefing_unit_id"), "briefing", ["unit_id"], unique=False)
    op.create_index(op.f("ix_briefing_held_at"), "briefing", ["held_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_briefing_held_at"), table_name="briefing")
    op.drop_index(op.f("ix_briefing_unit_id"), table_name="briefing")
    op.drop_table("briefing")
    with op.batch_alter_table("topic") as batch:
        batch.drop_column("scheduled_for")
