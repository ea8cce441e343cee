"""Inserting many rows at once, as `bulk_create(objs, ignore_conflicts=True)` does, at a fraction of the cost on
PostgreSQL.

A scan writes several rows per file (the file instance, the image, the stage result and its data). Through
`bulk_create`, Django builds one parameter per value and psycopg then parses the long statement and adapts every
value in Python: on a batch of small photos that costs more than hashing them. Here, on PostgreSQL, the rows go
through COPY (psycopg writes them in C) into a temporary staging table, and one statement empties it into the table
with `INSERT ... ON CONFLICT DO NOTHING`: the same rows, constraints and conflict handling as `bulk_create`, in two
round trips. A staging table is made once per connection and emptied again when a transaction ends. Other
databases use `bulk_create` itself.

https://www.psycopg.org/psycopg3/docs/basic/copy.html
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from operator import attrgetter
from weakref import WeakKeyDictionary

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from psycopg import sql

# psycopg connection -> the staging tables it has; a connection that is closed and dropped leaves with its entry.
_staging_made: WeakKeyDictionary[object, set[type[models.Model]]] = WeakKeyDictionary()


# Fields whose value goes to PostgreSQL as the attribute holds it (Django's preparation would hand back the same
# value for a value of the field's type): read with one attrgetter per row instead of two calls per field.
_AS_IS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.FloatField,
    models.BooleanField,
    models.BinaryField,
    models.ForeignKey,
)


def _columns(model: type[models.Model]) -> list[models.Field]:
    """The columns bulk_create writes: all but generated ones and an automatic primary key."""
    return [f for f in model._meta.concrete_fields if not f.generated and not isinstance(f, models.AutoField)]


def _as_is(field: models.Field) -> bool:
    if isinstance(field, models.DateTimeField):
        return not (field.auto_now or field.auto_now_add)  # those are set by pre_save
    return isinstance(field, _AS_IS)


@cache
def _row_reader(model: type[models.Model]) -> tuple[list[models.Field], Callable[[models.Model, object], list]]:
    """The columns in COPY order (those read as they are first), and a function giving an object's row in it."""
    fields = _columns(model)
    plain = [f for f in fields if _as_is(f)]
    prepared = [f for f in fields if not _as_is(f)]
    read = attrgetter(*(f.attname for f in plain)) if len(plain) > 1 else None
    name = plain[0].attname if len(plain) == 1 else ""
    prepare = [(f.pre_save, f.get_db_prep_save) for f in prepared]

    def row(obj: models.Model, db: object) -> list:
        values = list(read(obj)) if read is not None else [getattr(obj, name)] if name else []
        values += [save(pre(obj, True), db) for pre, save in prepare]
        return values

    return plain + prepared, row


@cache
def _statements(model: type[models.Model]) -> tuple[str, str, str]:
    """The staging table's creation, the COPY into it and the insert from it, composed once per model."""
    fields, _ = _row_reader(model)
    values = {
        "table": sql.Identifier(model._meta.db_table),
        "staging": sql.Identifier(f"bulk_{model._meta.db_table}"),
        "columns": sql.SQL(", ").join(sql.Identifier(f.column) for f in fields),
    }
    return tuple(
        sql.SQL(statement).format(**values).as_string()
        for statement in (
            # Shaped like the table's columns, without its constraints.
            "CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "
            "SELECT {columns} FROM {table} WITH NO DATA",
            "COPY {staging} ({columns}) FROM STDIN",
            # Emptied as it is read, so that a later insert in the same transaction starts from an empty table.
            "WITH staged AS (DELETE FROM {staging} RETURNING {columns}) "
            "INSERT INTO {table} ({columns}) SELECT {columns} FROM staged ON CONFLICT DO NOTHING",
        )
    )


def bulk_insert(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert `objs`, skipping any that conflict with a row already there (a unique constraint). Like
    `bulk_create(ignore_conflicts=True)`, the objects do not get their primary keys."""
    db = connections[DEFAULT_DB_ALIAS]  # resolved once: `connection` looks the thread's connection up on every use
    if not objs:
        return
    if db.vendor != "postgresql":
        model.objects.bulk_create(objs, ignore_conflicts=True)
        return
    _, row = _row_reader(model)
    create, copy_in, insert = _statements(model)
    # Inside the caller's transaction if there is one (a savepoint would cost two more round trips), else one of its
    # own: the staged rows must not be emptied away between the two statements.
    with transaction.atomic(using=db.alias, savepoint=False), db.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own: COPY, and statements composed with psycopg.sql
        made = _staging_made.setdefault(db.connection, set())
        if model not in made:
            cursor.execute(create)  # known to exist once this transaction commits (a rollback takes it away)
            transaction.on_commit(lambda: made.add(model), using=db.alias)
        with cursor.copy(copy_in) as copy:
            for obj in objs:
                copy.write_row(row(obj, db))
        cursor.execute(insert)
