"""Inserting many rows at once, as `bulk_create(objs, ignore_conflicts=True)` does, at a fraction of the cost.

A scan writes several rows per file (the file instance, the image, the stage result and its data). Through
`bulk_create`, Django builds one parameter per value and the driver then parses the long statement and adapts every
value in Python: on a batch of small photos that costs more than hashing them. Rows are given as mappings of field
attribute names (`job_id`, not `job`) to values, not as model instances: making an instance costs as much as
writing its row.

- PostgreSQL: the rows go through COPY (psycopg writes them in C) into a temporary staging table, and one statement
  empties it into the table with `INSERT ... ON CONFLICT DO NOTHING`: the same rows, constraints and conflict
  handling as `bulk_create`, in two round trips. A staging table is made once per connection and emptied again
  when a transaction ends. https://www.psycopg.org/psycopg3/docs/basic/copy.html
- SQLite (the embedded configuration): one `INSERT ... ON CONFLICT DO NOTHING` run for every row by the driver's
  `executemany` (https://docs.python.org/3/library/sqlite3.html#sqlite3.Cursor.executemany). Unlike the
  `INSERT OR IGNORE` of `bulk_create`, it skips only rows that conflict, never one that breaks a NOT NULL or CHECK
  constraint.
- Other databases use `bulk_create` itself.

Either way a value is prepared as Django would prepare it for that database, except where the driver takes the
value as it is: those are read with one `itemgetter` per row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any
from weakref import WeakKeyDictionary

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone
from psycopg import sql

# One row: field attribute name -> value. Fields left out take their default.
Row = Mapping[str, Any]

# psycopg connection -> the staging tables it has; a connection that is closed and dropped leaves with its entry.
_staging_made: WeakKeyDictionary[object, set[type[models.Model]]] = WeakKeyDictionary()


# Fields whose value goes to the database as the row holds it (Django's preparation would hand back the same value
# for a value of the field's type): read with one itemgetter per row instead of a call per field. SQLite keeps
# datetimes as text, which Django's preparation writes.
_AS_IS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.FloatField,
    models.BooleanField,
    models.BinaryField,
    models.ForeignKey,
)
_AS_IS_BY_VENDOR = {"postgresql": (*_AS_IS, models.DateTimeField), "sqlite": _AS_IS}


def _columns(model: type[models.Model]) -> list[models.Field]:
    """The columns bulk_create writes: all but generated ones and an automatic primary key."""
    return [f for f in model._meta.concrete_fields if not f.generated and not isinstance(f, models.AutoField)]


def _stamped(field: models.Field) -> bool:
    """A column the insert sets to the current time, whatever the row says (as `pre_save` does)."""
    return isinstance(field, models.DateTimeField) and (field.auto_now or field.auto_now_add)


@cache
def _row_reader(
    model: type[models.Model], vendor: str
) -> tuple[list[models.Field], Callable[[Row, object, datetime], list]]:
    """The columns in insert order (those read as they are first), and a function giving a complete row's values in
    it (the row, the connection, the insert's time)."""
    fields = _columns(model)

    def as_is(field: models.Field) -> bool:
        return isinstance(field, _AS_IS_BY_VENDOR[vendor]) and not _stamped(field)

    plain = [f for f in fields if as_is(f)]
    prepared = [(f.attname, _stamped(f), f.get_db_prep_save) for f in fields if not as_is(f)]
    read = itemgetter(*(f.attname for f in plain))
    one = len(plain) == 1

    def values(row: Row, db: object, now: datetime) -> list:
        out = [read(row)] if one else list(read(row))
        out += [save(now if stamped else row[name], db) for name, stamped, save in prepared]
        return out

    return plain + [f for f in fields if not as_is(f)], values


def _complete(model: type[models.Model], rows: Sequence[Row]) -> list[Row]:
    """The rows with every column, the fields they leave out at their defaults."""
    defaults = {f.attname: f.get_default() for f in _columns(model)}
    return [defaults | row for row in rows]


@cache
def _statements(model: type[models.Model]) -> tuple[str, str, str]:
    """PostgreSQL: the staging table's creation, the COPY into it and the insert from it, composed once per model."""
    fields, _ = _row_reader(model, "postgresql")
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


@cache
def _sqlite_insert(model: type[models.Model], quote: Callable[[str], str]) -> str:
    fields, _ = _row_reader(model, "sqlite")
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    # Names from the model's own metadata, quoted by the backend; the values go as parameters.
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"  # noqa: S608


def bulk_insert(model: type[models.Model], rows: Sequence[Row]) -> None:
    """Insert `rows`, skipping any that conflict with a row already there (a unique constraint), as
    `bulk_create(ignore_conflicts=True)` would insert the instances they describe."""
    db = connections[DEFAULT_DB_ALIAS]  # resolved once: `connection` looks the thread's connection up on every use
    if not rows:
        return
    if db.vendor not in _AS_IS_BY_VENDOR:
        model.objects.bulk_create([model(**row) for row in rows], ignore_conflicts=True)
        return
    _, values = _row_reader(model, db.vendor)
    now = timezone.now()
    if db.vendor == "sqlite":
        with transaction.atomic(using=db.alias, savepoint=False), db.cursor() as cursor:
            cursor.executemany(
                _sqlite_insert(model, db.ops.quote_name), [values(row, db, now) for row in _complete(model, rows)]
            )
        return
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
            for row in _complete(model, rows):
                copy.write_row(values(row, db, now))
        cursor.execute(insert)
