from __future__ import annotations

import redis.asyncio as aioredis

from zproxy.store.embedded import RedisServer


async def test_session_redis_is_real_and_aof_always(redis_client: aioredis.Redis) -> None:
    await redis_client.set("k", "v")
    assert await redis_client.get("k") == b"v"
    conf = await redis_client.config_get("appendfsync")
    assert conf["appendfsync"] == "always"


async def test_own_redis_keeps_data_over_kill9(own_redis: RedisServer) -> None:
    client = aioredis.Redis.from_url(own_redis.url)
    await client.xadd("s", {"a": "1"})
    await client.aclose()
    own_redis.kill()
    own_redis.start()
    client = aioredis.Redis.from_url(own_redis.url)
    assert await client.xlen("s") == 1
    await client.aclose()
