"""Declarative base, naming convention and column types shared by every table."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime, MetaData, String, event
from sqlalchemy.orm import DeclarativeBase, Mapper
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations can refer to them on every backend
# (SQLite batch mode needs names to drop or alter a constraint).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no zone, PostgreSQL keeps one: this type makes both return the
    same aware ``datetime``. Naive values are refused, they are ambiguous.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use workbench.store.utcnow()")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """As the type's own, but a value that is no timestamp (a tampered row) reads as
        None instead of failing every query that meets the row."""
        convert = super().result_processor(dialect, coltype)
        if convert is None:
            return None

        def lenient(value: Any) -> datetime | None:
            try:
                return convert(value)
            except (ValueError, TypeError, OverflowError):
                return None

        return lenient

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Base class of every table; its metadata is what migrations must match."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


@event.listens_for(Base, "before_insert", propagate=True)
@event.listens_for(Base, "before_update", propagate=True)
def _fit_text(mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    """Make text fit every backend before it is written.

    PostgreSQL refuses NUL characters in text and strings longer than a
    ``String(n)`` column; SQLite takes both. Names that come from outside
    (a model's file name, an ONNX node name) can hold either, so both
    backends store NUL as U+FFFD and cut an over-long value to the column's
    length, ending in "…".
    """
    state = target.__dict__
    for attr in mapper.column_attrs:
        value = state.get(attr.key)
        if not isinstance(value, str):
            continue
        column_type = attr.columns[0].type
        if not isinstance(column_type, String):
            continue
        fitted = value.replace("\x00", "\ufffd") if "\x00" in value else value
        length = column_type.length
        if length is not None and len(fitted) > length:
            fitted = fitted[: length - 1] + "…"
        if fitted is not value:
            setattr(target, attr.key, fitted)
