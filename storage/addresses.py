"""Addresses: one integer for every chat and user, on every channel.

Telegram's ids are numbers below 2**53 (groups negative). Zalo's are strings; each Zalo user
or group gets a row in `channel_chat` and the address `ZALO_ADDRESS_BASE + id`, negative for
groups as on Telegram. So the inbox, the outbox, the pacer and every table keep one integer
chat id, a group is still `address < 0`, and the channel is read off the number.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Channel, ChannelChat

ZALO_ADDRESS_BASE = 1 << 56


# A person who asked to be forgotten keeps a row (their reports count) but no address: theirs
# is a number no chat has, below every chat's and above the keys of chatless updates.
FORGOTTEN_BASE = -(1 << 60)


def forgotten_address(person_id: int) -> int:
    return FORGOTTEN_BASE - person_id


def channel_of(address: int) -> Channel:
    return Channel.ZALO if abs(address) >= ZALO_ADDRESS_BASE else Channel.TELEGRAM


def is_group(address: int) -> bool:
    return address < 0


def zalo_address(row_id: int, *, group: bool) -> int:
    address = ZALO_ADDRESS_BASE + row_id
    return -address if group else address


def row_id_of(address: int) -> int:
    return abs(address) - ZALO_ADDRESS_BASE


async def zalo_address_for(*, session: AsyncSession, external_id: str, group: bool, title: str = "") -> int:
    """The address of a Zalo user or group, given one the first time it is seen."""
    row = await _find(session, external_id)
    if row is None:
        try:
            async with session.begin_nested():
                row = ChannelChat(
                    channel=Channel.ZALO, external_id=external_id, is_group=group, title=title[:255]
                )
                session.add(row)
        except IntegrityError:  # seen meanwhile by another process
            row = await _find(session, external_id)
            assert row is not None
    assert row.id is not None
    return zalo_address(row.id, group=row.is_group)


async def _find(session: AsyncSession, external_id: str) -> ChannelChat | None:
    statement = select(ChannelChat).where(
        ChannelChat.channel == Channel.ZALO, ChannelChat.external_id == external_id
    )
    return (await session.exec(statement)).first()


async def zalo_chats_after(*, session: AsyncSession, after_id: int) -> list[tuple[int, str]]:
    """(address, Zalo id) of every Zalo user and group numbered after `after_id`, in order:
    a sender learns them all in one read rather than one read per chat."""
    rows = await session.exec(
        select(ChannelChat.id, ChannelChat.external_id, ChannelChat.is_group)
        .where(ChannelChat.channel == Channel.ZALO, col(ChannelChat.id) > after_id)
        .order_by(col(ChannelChat.id))
    )
    return [(zalo_address(row_id, group=group), external) for row_id, external, group in rows.all() if row_id]
