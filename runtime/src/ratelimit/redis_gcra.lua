-- GCRA for one rate-limit bucket shared by host replicas through Redis
-- (issue 16). A replica leases up to `wanted` tokens at once and spends them
-- locally, so most calls never wait on Redis. Time is Redis's own clock
-- (TIME), so replicas with skewed clocks still agree on one bucket.
--
-- KEYS[1]  the bucket: its theoretical arrival time (TAT), microseconds
--          since the epoch; it expires when the bucket is full again
-- ARGV[1]  emission interval in microseconds (1e6 / rate), >= 1
-- ARGV[2]  burst: the tokens a full bucket holds, >= 1
-- ARGV[3]  tokens wanted, 1..burst
-- Returns {granted, retry_after_us}: granted is 0..wanted; when it is 0,
-- retry_after_us is how long until one token is there (else 0).
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
if not interval or not burst or not wanted or interval < 1 or burst < 1 or
    wanted < 1 or wanted > burst or interval ~= math.floor(interval) or
    burst ~= math.floor(burst) or wanted ~= math.floor(wanted) then
  return redis.error_reply('gcra: bad arguments')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
-- Room for k tokens when tat + k * interval <= now + burst * interval.
local room = math.floor((now + burst * interval - tat) / interval)
local granted = math.min(wanted, room)
if granted <= 0 then
  return {0, tat + interval - burst * interval - now}
end
tat = tat + granted * interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX',
           math.floor((tat - now) / 1000) + 1)
return {granted, 0}
