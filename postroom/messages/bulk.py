"""Multi-row INSERT, UPDATE and SELECT with plain tuples, for the tables the sync writes hundreds of rows of
in every batch.

Django's `bulk_create` builds a model instance per row and prepares every value through the field API
(about 50 µs a row for Message): on a large sync that cost more than the database itself. Here rows are
tuples, sent as multi-row INSERTs (on PostgreSQL a COPY, or an INSERT from unnest() where conflicts are
to be skipped or rows returned), and only the values that need it are converted — JSON and datetimes,
through the backend's own adapters, so what is stored is exactly what the ORM would store. Columns a
caller does not give get their field's default, evaluated once per call (a column added to a model with a
default needs no change here); a column with a database default is left to the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, TypeVar

from django.db import connection, models
from django.db.models.constants import OnConflict
from django.db.models.fields import NOT_PROVIDED
from django.db.models.signals import post_save, pre_save

Row = Sequence[Any]
Field = models.Field[Any, Any]
Convert = Callable[[Any], Any]
_M = TypeVar("_M", bound=models.Model)
IN_CHUNK = 500  # values per IN (...): stays under every backend's parameter limit

# Values of these field types go to the database driver as they are (str, int, bool, bytes, None).
_AS_IS = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BinaryField",
    "BooleanField",
    "CharField",
    "EmailField",
    "ForeignKey",
    "IntegerField",
    "OneToOneField",
    "PositiveBigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SlugField",
    "SmallIntegerField",
    "TextField",
}


def insert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Row],
    *,
    same: dict[str, Any] | None = None,
    ignore_conflicts: bool = False,
) -> int:
    """INSERT `rows` (tuples in the order of `columns`, field attnames such as "message_id") into
    `model`'s table; `same` gives columns whose value is the same in every row. With
    `ignore_conflicts`, rows that violate a constraint are skipped the way
    `bulk_create(ignore_conflicts=True)` skips them on this backend; without it, a conflict raises
    IntegrityError. Returns how many rows were inserted."""
    conflict = OnConflict.IGNORE if ignore_conflicts else None
    statement = _Insert(model, columns, same or {}, conflict)
    prepared = statement.prepare(rows)
    if not prepared:
        return 0
    if connection.vendor == "postgresql":
        if conflict is None:
            _copy(statement.target, prepared)
            return len(prepared)
        with connection.cursor() as cursor:
            cursor.execute(*_unnest_insert(statement, prepared, statement.suffix))
            inserted_rows: int = cursor.rowcount
            return max(inserted_rows, 0)
    inserted = 0
    with connection.cursor() as cursor:
        for sql, params in _statements(statement, prepared, statement.suffix):
            cursor.execute(sql, params)
            inserted += max(cursor.rowcount, 0)
    return inserted


def _copy(target: str, rows: list[tuple[Any, ...]]) -> None:
    """COPY `rows` into `target` ("table (columns)"), in text format with psycopg's own adapters.

    Django's psycopg cursor binds parameters client-side, so `executemany` sends every row as a statement
    of its own that the server parses and plans: about a tenth of PostgreSQL's CPU per synced message
    (bench.sync). COPY is parsed once. It runs on the raw connection, so errors are wrapped here as the
    ORM wraps them (a unique violation is an IntegrityError)."""
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def insert_returning_ids(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Row],
    *,
    same: dict[str, Any] | None = None,
) -> list[int]:
    """`insert`, returning the new rows' primary keys in the order of `rows`.

    Relies, as `bulk_create` does, on the database returning a multi-row INSERT's keys in row order."""
    pk = model._meta.pk
    assert pk is not None  # every model has a primary key
    return [key for (key,) in insert_returning(model, columns, rows, [pk.attname], same=same)]


def insert_returning(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Row],
    returning: Sequence[str],
    *,
    same: dict[str, Any] | None = None,
    ignore_conflicts: bool = False,
) -> list[tuple[Any, ...]]:
    """`insert`, returning the `returning` columns (attnames) of each row inserted. With
    `ignore_conflicts`, a skipped row returns nothing: return a column that tells the rows apart."""
    if not connection.features.can_return_rows_from_bulk_insert:
        raise NotImplementedError("this database cannot return the ids of inserted rows (SQLite needs 3.35+)")
    statement = _Insert(model, columns, same or {}, OnConflict.IGNORE if ignore_conflicts else None)
    fields = [_field(model, name) for name in returning]
    tail, _params = connection.ops.return_insert_columns(fields)
    prepared, tail = statement.prepare(rows), f"{statement.suffix} {tail}"
    if not prepared:
        return []
    if connection.vendor == "postgresql":
        statements = [_unnest_insert(statement, prepared, tail)]
    else:
        statements = list(_statements(statement, prepared, tail))
    found: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            found += [tuple(row) for row in cursor.fetchall()]
    return found


def _unnest_insert(statement: _Insert, prepared: list[tuple[Any, ...]], tail: str) -> tuple[str, list[Any]]:
    """`statement` over `prepared` as one `INSERT ... SELECT` from unnest() (PostgreSQL), followed by
    `tail`: one array per given column, the fixed columns once each, rows inserted (and returned) in the
    order given. Its text does not grow with the rows. Django's cursor binds parameters client-side, so a
    multi-row VALUES was split at every placeholder in Python and parsed by the server a value at a time:
    53 µs a row of a 250-row placement batch against 26 µs this way (client and server CPU)."""
    given, fixed = statement.fields[: statement.given], statement.fields[statement.given :]
    names = [f"c{i}" for i in range(len(given))]
    arrays = [list(column) for column in zip(*(row[: len(given)] for row in prepared), strict=True)]
    template = "{} SELECT {} FROM {} WITH ORDINALITY AS u ({}, n) ORDER BY n{}"  # noqa: S608 - names
    selected = ", ".join([*names, *map(_typed_placeholder, fixed)])
    sql = template.format(statement.head, selected, _unnest_sql(given), ", ".join(names), tail)
    return sql, [*statement.tail, *arrays]


def _statements(
    statement: _Insert, prepared: list[tuple[Any, ...]], tail: str
) -> Iterator[tuple[str, list[Any]]]:
    """`statement` over `prepared` as multi-row VALUES (SQLite), as many rows a statement as it takes
    parameters for, each followed by `tail`. Not `executemany`, which runs the statement once a row: on
    SQLite each run is a statement transaction of its own, whose end makes the FTS5 triggers flush their
    pending terms, and PostgreSQL parses and plans each client-bound row (measured: 3% of a 2,000-message
    sync on SQLite, 4% of a 3,000-message one on PostgreSQL)."""
    per_statement = max(1, connection.ops.bulk_batch_size(statement.fields, prepared))
    for start in range(0, len(prepared), per_statement):
        part = prepared[start : start + per_statement]
        values = ", ".join([statement.row_sql] * len(part))
        yield f"{statement.head} VALUES {values}{tail}", [v for row in part for v in row]


def create(model: type[_M], **values: Any) -> _M:
    """`model.objects.create(**values)` without the ORM's per-object save machinery (compiling the
    INSERT, the save signals' bookkeeping), which cost more CPU than the round trip: a fifth of a
    conversion's (bench.processing). Defaults, `auto_now_add` and the returned object are as the ORM
    makes them. A model something listens to the saving of (the audit log follows several) is created
    through the ORM, so no receiver is ever skipped."""
    if listened(model):
        return model.objects.create(**values)  # type: ignore[attr-defined, no-any-return]
    instance = model(**values)
    sql, fields, converters = _create_statement(model)
    row = _converted([f.pre_save(instance, True) for f in fields], converters)
    with connection.cursor() as cursor:
        cursor.execute(sql, row)
        (pk,) = cursor.fetchone()
    return as_saved(instance, pk)


# model -> receivers of its pre_save and post_save that do nothing when a row is created (see
# `ignores_creation`): creating rows of the model by hand skips nothing they would do.
_blind_to_creation: dict[type[models.Model], frozenset[Callable[..., Any]]] = {}


def ignores_creation(model: type[models.Model], *receivers: Callable[..., Any]) -> None:
    """Declare that `receivers`, connected to `model`'s pre_save and post_save, do nothing when a row of
    it is created (the audit log records only people's edits of a lead), so that `listened` may disregard
    them. Any other receiver still sends creations through the ORM."""
    _blind_to_creation[model] = _blind_to_creation.get(model, frozenset()) | frozenset(receivers)


def listened(model: type[models.Model]) -> bool:
    """Whether something listens to the creation of `model`'s rows (its pre_save or post_save, less the
    receivers declared by `ignores_creation`): then rows must be created through the ORM."""
    blind = _blind_to_creation.get(model, frozenset())
    for signal in (pre_save, post_save):
        # The receivers that would run for `model`: Django's own lookup, cached per sender, which its
        # public `has_listeners` also makes but only says whether there are any.
        sync, asynchronous = signal._live_receivers(model)
        if any(receiver not in blind for receiver in (*sync, *asynchronous)):
            return True
    return False


def as_saved(instance: _M, pk: int) -> _M:
    """`instance`, inserted by hand as row `pk`, in the state the ORM leaves a saved object in."""
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


@cache  # per model: building the statement is most of the cost of a one-row INSERT
def _create_statement(model: type[models.Model]) -> tuple[str, list[Field], list[Convert | None]]:
    pk = model._meta.pk
    assert pk is not None  # every model has a primary key
    fields = [f for f in model._meta.concrete_fields if f is not pk and f.db_default is NOT_PROVIDED]
    quote = connection.ops.quote_name
    table, columns = quote(model._meta.db_table), ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING {quote(pk.column)}"  # noqa: S608
    return sql, fields, [_converter(f) for f in fields]


def insert_select(
    model: type[models.Model],
    columns: Sequence[str],
    row: Row,
    *,
    computed: dict[str, str],
    source: str,
) -> tuple[str, list[Any]]:
    """`INSERT INTO table (...) SELECT ... FROM source RETURNING pk` of one row, and its parameters: the
    values of `columns` from `row` and the defaults of the columns not given, prepared as `insert` does,
    and SQL expressions over `source` for the `computed` columns. Inserts nothing when `source` is
    empty, which is what makes it a step of a statement that may have nothing to insert."""
    sql, converters, defaults = _insert_select(model, tuple(columns), tuple(computed.items()), source)
    values = _converted(row, converters) + [f.get_db_prep_save(f.get_default(), connection) for f in defaults]
    return sql, values


@cache  # per model and shape: building it is most of the cost of a one-row statement
def _insert_select(
    model: type[models.Model], columns: tuple[str, ...], computed: tuple[tuple[str, str], ...], source: str
) -> tuple[str, list[Convert | None], list[Field]]:
    given = [_field(model, name) for name in columns]
    defaults = [field for field, _value in _defaults(model, {*columns, *dict(computed)})]
    quote = connection.ops.quote_name
    filled = given + defaults
    names = [quote(f.column) for f in filled] + [quote(_field(model, c).column) for c, _sql in computed]
    selected = [_typed_placeholder(f) for f in filled] + [sql for _c, sql in computed]
    assert model._meta.pk is not None  # every model has a primary key
    sql = (  # names from the model, and the caller's SQL (hence the noqa)
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(names)})"  # noqa: S608
        f" SELECT {', '.join(selected)} FROM {source} RETURNING {quote(model._meta.pk.column)}"
    )
    return sql, [_converter(f) for f in given], defaults


def unnest(model: type[models.Model], columns: Sequence[str], rows: Sequence[Row]) -> tuple[str, list[Any]]:
    """`unnest(%s::type[], ...)` over `rows` (tuples in the order of `columns`, field attnames), and its
    parameters: one array per column, prepared as `insert` prepares values. A FROM item for a multi-row
    `INSERT ... SELECT` whose statement text does not grow with the rows (PostgreSQL only)."""
    fields = [_field(model, name) for name in columns]
    converters = [_converter(f) for f in fields]
    prepared = [_converted(row, converters) for row in rows]
    arrays = [list(values) for values in zip(*prepared, strict=True)] if prepared else [[] for _ in fields]
    return _unnest_sql(fields), arrays


def _unnest_sql(fields: Sequence[Field]) -> str:
    """`unnest(%s::type[], ...)`, an array parameter for each of `fields`. Text columns take text
    arrays: an explicit cast to varchar(n) would cut a longer value short where inserting it raises an
    error."""
    return "unnest({})".format(", ".join(f"%s::{_array_type(f)}[]" for f in fields))


_TEXT_TYPES = {"CharField", "EmailField", "SlugField", "TextField"}  # text is assigned to them as it is


def _array_type(field: Field) -> str:
    if field.get_internal_type() in _TEXT_TYPES:
        return "text"
    return str(field.db_type(connection))


def _typed_placeholder(field: Field) -> str:
    """A parameter cast to its column's type: a SELECT list types an untyped value (NULL above all) as
    text, which no other type is assigned from."""
    if field.get_internal_type() in _TEXT_TYPES:
        return "%s"
    return f"CAST(%s AS {field.db_type(connection)})"


def update(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Row],
    *,
    where: dict[str, Any] | None = None,
) -> int:
    """UPDATE rows of `model` by primary key: each row is (pk, value of each of `columns`). `where` adds
    columns that must have the given value too (a row that does not match is left alone). Returns how
    many rows were updated."""
    fields = [_field(model, name) for name in columns]
    conditions = [_field(model, name) for name in where or {}]
    quote = connection.ops.quote_name
    sql = "UPDATE {} SET {} WHERE {} = %s{}".format(  # noqa: S608 - names from the model, quoted
        quote(model._meta.db_table),
        ", ".join(f"{quote(f.column)} = %s" for f in fields),
        quote(model._meta.pk.column),
        "".join(f" AND {quote(f.column)} = %s" for f in conditions),
    )
    converters = [_converter(f) for f in fields]
    also = list((where or {}).values())
    prepared = [(*_converted(row[1:], converters), row[0], *also) for row in rows]
    if not prepared:
        return 0
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)
        updated: int = cursor.rowcount  # the sum over the rows, on SQLite and psycopg 3 alike
    return max(updated, 0)


def select_in(
    model: type[models.Model],
    columns: Sequence[str],
    equal: dict[str, Any],
    column: str,
    values: Sequence[Any],
) -> list[tuple[Any, ...]]:
    """`columns` of the rows of `model` whose `equal` columns have those values and whose `column` is one
    of `values`: one query per IN_CHUNK values (plain strings and numbers; nothing is converted)."""
    quote = connection.ops.quote_name
    head = "SELECT {} FROM {} WHERE {}".format(  # noqa: S608 - names from the model, quoted
        ", ".join(quote(_field(model, c).column) for c in columns),
        quote(model._meta.db_table),
        "".join(f"{quote(_field(model, c).column)} = %s AND " for c in equal),
    )
    in_column = quote(_field(model, column).column)
    found: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array parameter: the statement's text does not grow with the values (see `_unnest_insert`)
            cursor.execute(f"{head}{in_column} = ANY(%s)", [*equal.values(), list(values)])
            return [tuple(row) for row in cursor.fetchall()]
        for start in range(0, len(values), IN_CHUNK):
            part = values[start : start + IN_CHUNK]
            cursor.execute(
                f"{head}{in_column} IN ({', '.join(['%s'] * len(part))})", [*equal.values(), *part]
            )
            found += cursor.fetchall()
    return found


@dataclass(init=False)
class _Insert:
    """An INSERT statement's parts, and how to turn caller rows into its parameter rows."""

    fields: list[Field]  # the columns the rows give, then the fixed ones (`same` and defaults)
    given: int  # how many of `fields` the caller's rows give
    target: str  # table (columns)
    head: str  # INSERT INTO table (columns)
    row_sql: str  # (%s, %s, ...)
    suffix: str  # what makes conflicts skip rows, where the backend puts it at the end
    converters: list[Convert | None]
    tail: tuple[Any, ...]  # the prepared values of the `same` and default columns, after each row's

    def __init__(
        self,
        model: type[models.Model],
        columns: Sequence[str],
        same: dict[str, Any],
        conflict: OnConflict | None,
    ) -> None:
        given = [_field(model, name) for name in columns]
        fixed = [(_field(model, name), value) for name, value in same.items()]
        fixed += _defaults(model, {*columns, *same})
        self.fields = given + [f for f, _value in fixed]
        self.given = len(given)
        quote = connection.ops.quote_name
        self.target = "{} ({})".format(
            quote(model._meta.db_table), ", ".join(quote(f.column) for f in self.fields)
        )
        self.head = f"{connection.ops.insert_statement(on_conflict=conflict)} {self.target}"
        self.row_sql = "({})".format(", ".join(["%s"] * len(self.fields)))
        self.suffix = connection.ops.on_conflict_suffix_sql(self.fields, conflict, [], []) or ""
        self.suffix = f" {self.suffix}" if self.suffix else ""
        self.converters = [_converter(f) for f in given]
        self.tail = tuple(f.get_db_prep_save(value, connection) for f, value in fixed)

    def prepare(self, rows: Iterable[Row]) -> list[tuple[Any, ...]]:
        if not any(self.converters):
            return [(*row, *self.tail) for row in rows]
        return [(*_converted(row, self.converters), *self.tail) for row in rows]


def _field(model: type[models.Model], attname: str) -> Field:
    for field in model._meta.concrete_fields:
        if field.attname == attname:
            return field
    raise ValueError(f"{model.__name__} has no column {attname}")


def _defaults(model: type[models.Model], given: set[str]) -> list[tuple[Field, Any]]:
    """(field, default) for every column not given, except generated keys and database defaults."""
    return [
        (field, field.get_default())
        for field in model._meta.concrete_fields
        if field.attname not in given and not field.primary_key and field.db_default is NOT_PROVIDED
    ]


def _converter(field: Field) -> Convert | None:
    kind = field.get_internal_type()
    if kind in _AS_IS:
        return None
    if kind == "JSONField":
        return _json_converter(field)
    if kind == "DateTimeField":
        return connection.ops.adapt_datetimefield_value
    return partial(field.get_db_prep_save, connection=connection)


def _json_converter(field: Field) -> Convert:
    """The backend's JSON adapter, with the empty list (most address and reference lists) adapted once."""
    adapt = partial(connection.ops.adapt_json_value, encoder=field.encoder)  # type: ignore[attr-defined]
    empty = adapt([])
    return lambda value: empty if value == [] else adapt(value)


def _converted(row: Row, converters: Sequence[Convert | None]) -> list[Any]:
    return [
        value if convert is None else convert(value) for value, convert in zip(row, converters, strict=True)
    ]
