"""photo urls of any length: an urgent matter's photo may be a Zalo URL

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.alter_column(
            "photo_file_id", existing_type=sa.String(length=255), type_=sa.Text(), existing_nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.alter_column(
            "photo_file_id", existing_type=sa.Text(), type_=sa.String(length=255), existing_nullable=True
        )
