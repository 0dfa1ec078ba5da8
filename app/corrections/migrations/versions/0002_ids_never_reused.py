"""Ids are never reused: SQLite's AUTOINCREMENT (PostgreSQL's sequences never reuse one already).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # SQLite cannot alter a table's id: the batch copies the rows into a new AUTOINCREMENT table, and
    # the sequence starts from the largest id copied.
    with op.batch_alter_table("corrections", recreate="always",
                              table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("id", autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("corrections", recreate="always",
                              table_kwargs={"sqlite_autoincrement": False}) as batch:
        batch.alter_column("id", autoincrement=True)
