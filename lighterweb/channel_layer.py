"""The site's channel layer: channels_redis's, plus a membership check that costs one round trip.

channels_redis's `group_send` asks Redis for a group's members before it sends, in round trips
of their own (drop the members older than `group_expiry`, then list the rest), even when the
group has no member at all. The dashboard push sender (`bots.dashboard.broadcast`) sends each
drain of its queue to two groups or more (`dashboard`, `bot.<id>`, ...), and on a bots worker with
no dashboard open none of them has a member: those round trips were most of its CPU per fill.

`groups_with_members` asks the same for every group of a drain at once: one pipeline per Redis
host (one host here, so one round trip) of, per group, a count of the members younger than
`group_expiry` (`ZCOUNT`: the members `group_send` would keep after dropping the stale ones; they
are left for it, or for the group key's own expiry, to drop). The sender then calls the
unchanged `group_send` only for the groups that have a member, so a watched group gets every
push, in the order sent, exactly as before (one round trip more than before for it); an unwatched
group costs its share of that one pipeline.

A member that joins after the check misses that push, as it would have had it joined after
`group_send` listed the members: a consumer joins its group before it reads its snapshot, and the
check runs after the pushed write committed, so the snapshot has whatever that push carried.

Only what channels_redis exposes is used: the group key (`_group_key`), the host of a group
(`consistent_hash`), the loop's connection to a host (`connection`) and `group_expiry`.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable

from channels_redis.core import RedisChannelLayer


class PushChannelLayer(RedisChannelLayer):  # type: ignore[misc]
    """channels_redis's Redis layer with `groups_with_members` (see the module's docstring)."""

    async def groups_with_members(self, groups: Iterable[str]) -> set[str]:
        """Those of `groups` that have a member now: one pipelined round trip per Redis host.

        Stale members (older than `group_expiry`) are not counted, as `group_send` would drop
        them, so a group whose only members expired counts as empty. Redis errors propagate.
        """
        per_host: dict[int, list[str]] = defaultdict(list)
        for group in dict.fromkeys(groups):  # each group once, in order
            assert self.require_valid_group_name(group), "Group name not valid"
            per_host[self.consistent_hash(group)].append(group)
        stale_before = int(time.time()) - self.group_expiry

        async def host_groups(index: int, names: list[str]) -> list[str]:
            pipe = self.connection(index).pipeline(transaction=False)
            for name in names:
                pipe.zcount(self._group_key(name), min=f"({stale_before}", max="+inf")
            counts = await pipe.execute()
            return [name for name, count in zip(names, counts, strict=True) if count]

        found = await asyncio.gather(*(host_groups(i, names) for i, names in per_host.items()))
        return {name for names in found for name in names}
