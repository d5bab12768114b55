"""The Lua scripts of the Redis cache store (``zproxy.store.redis``): each runs on one node,
on keys of one hash slot (a principal's, written ``{P}`` on a Cluster), with the server's time.
"""

from __future__ import annotations

# KEYS[1] = entry, KEYS[2..1+n] = the principal's indexes, then g global tag indexes, then
# (with a lock token) the entry's coalescing lock, deleted if the token still holds it.
# ARGV = payload, ttl ms, index member (the digest), n, g, principal, slack ms[, token].
SET_LUA = """
local ttl = tonumber(ARGV[2])
local n = tonumber(ARGV[4])
local g = tonumber(ARGV[5])
local slack = tonumber(ARGV[7])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + ttl
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('DEL', 'zc:i:' .. KEYS[1])
for i = 2, n + 1 do
  redis.call('ZADD', KEYS[i], expires, ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  local last = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[i], last[2])
end
for i = n + 2, n + 1 + g do
  redis.call('ZADD', KEYS[i], 'GT', expires, ARGV[6])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - slack)
  redis.call('PEXPIRE', KEYS[i], ttl + slack, 'NX')
  redis.call('PEXPIRE', KEYS[i], ttl + slack, 'GT')
end
if ARGV[8] and redis.call('GET', KEYS[#KEYS]) == ARGV[8] then
  redis.call('DEL', KEYS[#KEYS])
end
return 1
"""

# KEYS = entry, its soft-purge marker, its coalescing lock; ARGV = token, lock ms. Returns
# {entry or "", marker exists, 1 if the lock was taken (only when there is no entry)}.
GET_OR_LOCK_LUA = """
local entry = redis.call('GET', KEYS[1])
local marked = redis.call('EXISTS', KEYS[2])
if entry then return {entry, marked, 0} end
local locked = redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2])
return {'', marked, locked and 1 or 0}
"""

# KEYS = one principal's indexes, ARGV[1] = ``zc:e:<P>:``; marks every live member entry
# invalidated until its own expiry.
INVALIDATE_LUA = """
local marked = 0
for i = 1, #KEYS do
  local members = redis.call('ZRANGE', KEYS[i], 0, -1)
  for j = 1, #members do
    local entry = ARGV[1] .. members[j]
    local ttl = redis.call('PTTL', entry)
    if ttl > 0 then
      redis.call('SET', 'zc:i:' .. entry, '1', 'PX', ttl)
      marked = marked + 1
    end
  end
end
return marked
"""

# KEYS = one principal's indexes, ARGV[1] = ``zc:e:<P>:``; deletes every member entry and the
# indexes; returns entries deleted.
PURGE_LUA = """
local deleted = 0
for i = 1, #KEYS do
  local members = redis.call('ZRANGE', KEYS[i], 0, -1)
  for j = 1, #members, 500 do
    local batch = {}
    for m = j, math.min(j + 499, #members) do
      batch[#batch + 1] = ARGV[1] .. members[m]
    end
    deleted = deleted + redis.call('DEL', unpack(batch))
  end
  redis.call('DEL', KEYS[i])
end
return deleted
"""
