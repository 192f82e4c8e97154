"""channels and identities: one integer address per chat on every channel

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.alter_column("telegram_id", new_column_name="chat_id", existing_type=sa.BigInteger())
        batch_op.alter_column(
            "telegram_username",
            new_column_name="username",
            existing_type=sa.String(length=64),
        )
    with op.batch_alter_table("chat_group", schema=None) as batch_op:
        batch_op.alter_column("telegram_chat_id", new_column_name="chat_id", existing_type=sa.BigInteger())
    with op.batch_alter_table("topic_post", schema=None) as batch_op:
        batch_op.alter_column("telegram_chat_id", new_column_name="chat_id", existing_type=sa.BigInteger())

    op.create_table(
        "person_identity",
        sa.Column("address", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("address"),
    )
    with op.batch_alter_table("person_identity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_identity_person_id"), ["person_id"], unique=False)
    # Everyone so far came through Telegram: their chat id is their user id.
    op.execute(
        "INSERT INTO person_identity (address, person_id, channel, created_at) "
        "SELECT chat_id, id, 'telegram', created_at FROM person"
    )

    op.create_table(
        "channel_chat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("is_group", sa.Boolean(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "external_id", name="uq_channel_chat_external"),
    )
    op.create_table(
        "chat_menu",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("menu", sa.JSON(), nullable=False),
        sa.Column("updated_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id"),
    )


def downgrade() -> None:
    op.drop_table("chat_menu")
    op.drop_table("channel_chat")
    with op.batch_alter_table("person_identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_identity_person_id"))
    op.drop_table("person_identity")
    with op.batch_alter_table("topic_post", schema=None) as batch_op:
        batch_op.alter_column("chat_id", new_column_name="telegram_chat_id", existing_type=sa.BigInteger())
    with op.batch_alter_table("chat_group", schema=None) as batch_op:
        batch_op.alter_column("chat_id", new_column_name="telegram_chat_id", existing_type=sa.BigInteger())
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.alter_column(
            "username",
            new_column_name="telegram_username",
            existing_type=sa.String(length=64),
        )
        batch_op.alter_column("chat_id", new_column_name="telegram_id", existing_type=sa.BigInteger())
