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
    # Topics stored before are numbered in the order they were made, each kind on its own.
    topic = sa.table("topic", sa.column("id", sa.Integer()), sa.column("kind", sa.String()))
    bind = op.get_bind()
    counters: dict[str, int] = {}
    for topic_id, kind in bind.execute(sa.select(topic.c.id, topic.c.kind).order_by(topic.c.id)).all():
        counters[kind] = counters.get(kind, 0) + 1
        bind.execute(
            sa.text("UPDATE topic SET number = :number WHERE id = :id"),
            {"number": counters[kind], "id": topic_id},
        )
    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.alter_column(
            "number", existing_type=sa.Integer(), server_default=None, existing_nullable=False
        )
        batch_op.create_unique_constraint("uq_topic_kind_number", ["kind", "number"])


def downgrade() -> None:
    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.drop_constraint("uq_topic_kind_number", type_="unique")
        batch_op.drop_column("number")
