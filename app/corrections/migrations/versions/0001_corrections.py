"""The corrections table.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("strokes", sa.Text),
        sa.Column("image_png", sa.LargeBinary),
        sa.Column("width", sa.Float),
        sa.Column("height", sa.Float),
        sa.Column("label", sa.SmallInteger, nullable=False),
        sa.Column("model_digit", sa.SmallInteger, nullable=False),
        sa.Column("model_probabilities", sa.Text, nullable=False),
        sa.Column("model_sha256", sa.String(64), nullable=False),
    )
    op.create_index("corrections_created", "corrections", ["created"])


def downgrade() -> None:
    op.drop_index("corrections_created", "corrections")
    op.drop_table("corrections")
