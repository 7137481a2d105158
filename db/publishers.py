"""Publishers: the ids every fan-out (daily pipeline, weekly reports, metrics) iterates over."""

from __future__ import annotations

from sqlalchemy import Connection, select

from db.models import Publisher


def publisher_ids(connection: Connection) -> list[str]:
    return list(connection.execute(select(Publisher.id).order_by(Publisher.id)).scalars())


def publisher_known(connection: Connection, publisher_id: str) -> bool:
    return connection.execute(select(Publisher.id).where(Publisher.id == publisher_id)).first() is not None
