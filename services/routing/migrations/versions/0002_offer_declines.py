"""offer declines: who declined a shared (team or marketplace) offer

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("work_order_offers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("declined_at", shared.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("work_order_offers", schema=None) as batch_op:
        batch_op.drop_column("declined_at")
