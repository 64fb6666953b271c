"""Plain-SQL reads of whole model rows for the runner's busiest reads (a burst's Order rows, the
trades it already recorded): what `Model.objects.raw()` gives, without its per-query setup.

`raw()` resolves the columns to fields, builds every column's converters and its model-init
order anew on each query; that cost more Python than the rest of the read. Here the SQL selects
every concrete column in the model's order (`columns`), the converters are the ones the ORM's
compiler applies to those columns (the backend's, then the field's), built once per connection,
and each row becomes an object through `Model.from_db`, as the ORM builds it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)

Converters = tuple[tuple[int, Any, tuple[Callable[..., Any], ...]], ...]

# This thread's connection (each bot's DB thread has its own) and, per model and field names,
# the converters built for it.
_built = threading.local()


def columns(model: type[models.Model], connection: BaseDatabaseWrapper) -> str:
    """The model's quoted columns in its field order: what `select` expects the SQL to select."""
    name = connection.ops.quote_name
    return ", ".join(name(str(field.column)) for field in model._meta.concrete_fields)


def _field_converters(
    connection: BaseDatabaseWrapper, model: type[models.Model], names: tuple[str, ...]
) -> Converters:
    cache: tuple[BaseDatabaseWrapper, dict[Any, Converters]] | None = getattr(_built, "cache", None)
    if cache is None or cache[0] is not connection:
        cache = _built.cache = (connection, {})
    per_query = cache[1]
    found = per_query.get((model, names))
    if found is None:
        table = model._meta.db_table
        built = []
        for index, name in enumerate(names):
            # As SQLCompiler.get_converters: the backend's converters, then the expression's.
            col = model._meta.get_field(name).get_col(table)  # type: ignore[union-attr]
            funcs = (*connection.ops.get_db_converters(col), *col.get_db_converters(connection))
            if funcs:
                built.append((index, col, tuple(funcs)))
        found = per_query[(model, names)] = tuple(built)
    return found


def values(
    connection: BaseDatabaseWrapper,
    model: type[models.Model],
    names: tuple[str, ...],
    sql: str,
    params: Sequence[Any],
) -> list[list[Any]]:
    """The rows `sql` selects, its columns those of `model`'s fields `names` in that order, each
    value converted as the ORM converts that field's column."""
    converters = _field_converters(connection, model, names)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    rows: list[list[Any]] = []
    for row in found:
        converted = list(row)
        for index, col, funcs in converters:
            value = converted[index]
            for func in funcs:
                value = func(value, col, connection)
            converted[index] = value
        rows.append(converted)
    return rows


@functools.cache
def _all_fields(model: type[models.Model]) -> tuple[tuple[str, ...], list[str]]:
    fields = model._meta.concrete_fields
    return tuple(f.name for f in fields), [f.attname for f in fields]


def select(
    connection: BaseDatabaseWrapper, model: type[M], sql: str, params: Sequence[Any]
) -> list[M]:
    """The `model` objects of the rows `sql` selects (every column, as `columns` lists them),
    built as the ORM builds them (`Model.from_db`)."""
    names, attnames = _all_fields(model)
    return [
        model.from_db(connection.alias, attnames, row)
        for row in values(connection, model, names, sql, params)
    ]
