"""Plain-SQL inserts for the runner's busiest writes: its intents' Order rows, its Fill rows and
its BotEvent rows (every fill writes all three).

One `INSERT ... VALUES (...), (...) RETURNING id` statement per batch, built from the model's
own quoted table and column names; every value is a parameter prepared by its field exactly as
the ORM's insert prepares it (`pre_save(obj, add=True)` then `get_db_prep_save`: auto_now
timestamps are set on the object, JSON and Decimals are adapted by the backend's own rules).
The objects come back as the ORM's `bulk_create` leaves them: primary key set,
`_state.adding = False`, `_state.db` the connection's alias. No signals are sent (the ORM's
`bulk_create` sends none either; the models written here have no receivers).

Why: the ORM's insert machinery (query, compiler, per-object bookkeeping) was about a third of
a bot's DB thread CPU per fill (docs/benchmarks.md, "CPU per fill"). SQLite >= 3.35 and
PostgreSQL both support RETURNING and `ON CONFLICT ... DO NOTHING`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, TypeVar

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)


@cache
def _insert_fields(model: type[models.Model]) -> tuple[Any, ...]:
    """The columns an insert writes: every concrete field but the auto primary key."""
    return tuple(
        field
        for field in model._meta.concrete_fields
        if not field.generated and not isinstance(field, models.AutoField)
    )


def insert(
    connection: BaseDatabaseWrapper,
    objs: Sequence[M],
    *,
    skip_conflicts_on: tuple[str, ...] = (),
) -> list[M]:
    """Insert the unsaved `objs` (one model, no primary key yet): one statement per batch the
    backend allows, RETURNING their ids. Returns the objects inserted, in the given order.

    `skip_conflicts_on`: field names of a unique constraint; a row that would violate it is not
    inserted (`ON CONFLICT (...) DO NOTHING`) and its object is left out of the result, unsaved.
    The objects must then be distinct on those fields.
    """
    if not objs:
        return []
    model = type(objs[0])
    fields = _insert_fields(model)
    name = connection.ops.quote_name
    opts = model._meta
    key = name(str(opts.pk.column))
    conflict: list[Any] = [opts.get_field(f) for f in skip_conflicts_on]
    returning = [key, *(name(str(f.column)) for f in conflict)]
    head = (
        f"INSERT INTO {name(opts.db_table)} "  # noqa: S608
        f"({', '.join(name(str(f.column)) for f in fields)}) VALUES "
    )
    tail = ""
    if conflict:
        tail += f" ON CONFLICT ({', '.join(returning[1:])}) DO NOTHING"
    tail += f" RETURNING {', '.join(returning)}"
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    batch = max(1, connection.ops.bulk_batch_size(list(fields), list(objs)))
    inserted: list[M] = []
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch):
            chunk = objs[start : start + batch]
            params: list[Any] = []
            for obj in chunk:
                # As the ORM's SQLInsertCompiler: pre_save (auto_now), then the db value.
                params.extend(
                    field.get_db_prep_save(field.pre_save(obj, True), connection)
                    for field in fields
                )
            cursor.execute(head + ", ".join([row] * len(chunk)) + tail, params)
            found = cursor.fetchall()
            pairs: Iterable[tuple[M, Any]]
            if not conflict:
                if len(found) != len(chunk):  # pragma: no cover - the database's promise
                    raise RuntimeError(f"insert returned {len(found)} ids for {len(chunk)} rows")
                pairs = zip(chunk, (r[0] for r in found), strict=True)
            else:
                # Only the rows inserted come back: matched on the conflict columns' values.
                ids = {tuple(r[1:]): r[0] for r in found}
                pairs = (
                    (obj, ids[k])
                    for obj in chunk
                    if (k := tuple(getattr(obj, f.attname) for f in conflict)) in ids
                )
            for obj, pk in pairs:
                obj.pk = pk
                obj._state.adding = False
                obj._state.db = connection.alias
                inserted.append(obj)
    return inserted
