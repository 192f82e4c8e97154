"""report proposals: a report's "Đề xuất, kiến nghị" kept beside its main text for /summary

Revision ID: 0006
Revises: 0005
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROPOSAL_QUESTION = "de_xuat"


def upgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proposal", sa.Text(), nullable=True))
    # Reports sent before keep their proposals: read from the answers (JSON functions differ
    # between SQLite and PostgreSQL, so in Python, a batch at a time).
    report = sa.table("report", sa.column("id", sa.Integer()), sa.column("answers", sa.JSON()))
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(report.c.id, report.c.answers)
            .where(report.c.id > last)
            .order_by(report.c.id)
            .limit(500)
        ).all()
        if not rows:
            break
        for report_id, answers in rows:
            if isinstance(answers, str):
                answers = json.loads(answers)
            proposal = (answers or {}).get(PROPOSAL_QUESTION)
            if isinstance(proposal, str) and proposal.strip():
                bind.execute(
                    sa.text("UPDATE report SET proposal = :proposal WHERE id = :id"),
                    {"proposal": proposal.strip(), "id": report_id},
                )
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_column("proposal")
