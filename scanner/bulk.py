"""Inserting many rows at once, as `bulk_create(objs, ignore_conflicts=True)` does, at a fraction of the cost on
PostgreSQL.

A scan writes several rows per file (the file instance, the image, the stage result and its data). Through
`bulk_create`, Django builds one parameter per value and psycopg then parses the long statement and adapts every
value in Python: on a batch of small photos that costs more than hashing them. Here, on PostgreSQL, the rows go
through COPY (psycopg writes them in C) into a temporary table that lives as long as the transaction, and one
`INSERT ... SELECT ... ON CONFLICT DO NOTHING` moves them: the same rows, constraints and conflict handling as
`bulk_create`. Other databases use `bulk_create` itself.

https://www.psycopg.org/psycopg3/docs/basic/copy.html
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from psycopg import sql


def _columns(model: type[models.Model]) -> list[models.Field]:
    """The columns bulk_create writes: all but generated ones and an automatic primary key."""
    return [f for f in model._meta.concrete_fields if not f.generated and not isinstance(f, models.AutoField)]


def bulk_insert(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert `objs`, skipping any that conflict with a row already there (a unique constraint). Like
    `bulk_create(ignore_conflicts=True)`, the objects do not get their primary keys."""
    db = connections[DEFAULT_DB_ALIAS]  # resolved once: `connection` looks the thread's connection up on every use
    if not objs:
        return
    if db.vendor != "postgresql":
        model.objects.bulk_create(objs, ignore_conflicts=True)
        return
    fields = _columns(model)
    values = {
        "table": sql.Identifier(model._meta.db_table),
        "staging": sql.Identifier(f"bulk_{model._meta.db_table}"),
        "columns": sql.SQL(", ").join(sql.Identifier(f.column) for f in fields),
    }
    prepare = [(f.pre_save, f.get_db_prep_save) for f in fields]
    with transaction.atomic(using=db.alias), db.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own: COPY, and statements composed with psycopg.sql
        # Shaped like the table's columns, without its constraints; emptied when the transaction ends.
        cursor.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "
                "SELECT {columns} FROM {table} WITH NO DATA"
            ).format(**values)
        )
        with cursor.copy(sql.SQL("COPY {staging} ({columns}) FROM STDIN").format(**values)) as copy:
            for obj in objs:
                copy.write_row([save(pre(obj, True), db) for pre, save in prepare])
        cursor.execute(
            sql.SQL("INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} ON CONFLICT DO NOTHING").format(
                **values
            )
        )
        # A later insert into the same table, in the same transaction, starts from an empty staging table.
        cursor.execute(sql.SQL("TRUNCATE {staging}").format(**values))
