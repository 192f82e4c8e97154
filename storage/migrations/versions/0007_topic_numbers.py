"""topic numbers: topics and urgent matters are numbered each on their own (1, 2…; K1, K2…)

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=False, server_default="0"))
    # Topics stored before keep the number people were shown, their id (posts already sent
    # say "#12" and "báo cáo 12"): ids are unique across kinds, so each kind's numbers are
    # too. New ones go on from the largest number of their kind.
    op.execute("UPDATE topic SET number = id")
    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.alter_column(
            "number", existing_type=sa.Integer(), server_default=None, existing_nullable=False
        )
        batch_op.create_unique_constraint("uq_topic_kind_number", ["kind", "number"])


def downgrade() -> None:
    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.drop_constraint("uq_topic_kind_number", type_="unique")
        batch_op.drop_column("number")
