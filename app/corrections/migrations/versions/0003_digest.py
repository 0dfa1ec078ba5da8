"""A correction is stored once: each row's digest (sha256 of its drawing or picture and label) is unique.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows stored before have no digest (NULL): both SQLite and PostgreSQL allow many NULLs in a unique index.
    op.add_column("corrections", sa.Column("digest", sa.String(64), nullable=True))
    op.create_index("corrections_digest", "corrections", ["digest"], unique=True)


def downgrade() -> None:
    op.drop_index("corrections_digest", table_name="corrections")
    op.drop_column("corrections", "digest")
