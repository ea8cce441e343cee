"""`field__any=values`: the rows `field__in=values` gives, asked for with one array parameter on PostgreSQL.

A discovery batch and its stages look up a few hundred hashes or image ids at a time. With `__in`, Django makes a
placeholder and a prepared parameter per value, and psycopg splits the long statement again around them: per batch
of photos that cost more than PostgreSQL spent answering. `field = ANY(%s::type[])` sends the values as one array.
Other databases get `IN (...)` as before.

https://docs.djangoproject.com/en/5.2/howto/custom-lookups/
"""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject
from django.db.models.lookups import In


class AnyOf(In):
    lookup_name = "any"

    def as_postgresql(self, compiler, connection):
        if not self.rhs_is_direct_value():  # a subquery: as `__in` does it
            return super().as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(v, connection, prepared=True) for v in dict.fromkeys(self.rhs)]
        values = [v for v in values if v is not None]  # NULL is never equal to anything
        if not values:
            raise EmptyResultSet
        return f"{lhs} = ANY(%s::{field.db_type(connection)}[])", (*lhs_params, values)


# Relations look their lookups up on themselves only; their values here are ids (the `*_id` attributes).
Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)
