/* The shared-bucket GCRA script (redis_gcra_script.h says what it takes and
 * returns). Kept as C text so the library needs no file at run time. */
#include "ratelimit/redis_gcra_script.h"

const char cpi_redis_gcra_script[] =
    "local function whole(v, lo, hi)\n"
    "  v = tonumber(v)\n"
    "  if not v or v ~= math.floor(v) or v < lo or v > hi then\n"
    "    return nil\n"
    "  end\n"
    "  return v\n"
    "end\n"
    "local interval = whole(ARGV[1], 1, 2^50)\n"
    "local burst = whole(ARGV[2], 1, 2^32)\n"
    "local wanted = burst and whole(ARGV[3], 0, burst)\n"
    "local debt = burst and whole(ARGV[4] or '0', -4 * burst, 4 * burst)\n"
    /* Keeps every TAT below 2^53 us, where doubles are still exact. */
    "if not interval or not burst or not wanted or not debt or\n"
    "    interval * burst > 2^50 then\n"
    "  return redis.error_reply('gcra: bad arguments')\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    /* A value that is not a bucket (another type, or not a number) is
     * replaced, and the caller told. */
    "local cur = redis.pcall('GET', KEYS[1])\n"
    "local foreign = 0\n"
    "if type(cur) == 'table' then cur = nil; foreign = 1 end\n"
    "local tat = tonumber(cur)\n"
    "if cur and not tat then foreign = 1 end\n"
    "tat = tat or now\n"
    "if tat < now then tat = now end\n"
    /* Charged on credit: owed even when the bucket is past empty. A
     * refund never moves the bucket past full. */
    "tat = math.max(now, tat + debt * interval)\n"
    /* Room for k tokens when tat + k * interval <= now + burst * interval. */
    "local room = math.floor((now + burst * interval - tat) / interval)\n"
    "local granted = math.max(0, math.min(wanted, room))\n"
    "tat = tat + granted * interval\n"
    "if tat > now then\n"
    "  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX',\n"
    "             math.floor((tat - now) / 1000) + 1)\n"
    "else\n"
    "  redis.call('DEL', KEYS[1])\n"
    "end\n"
    "if granted == 0 and wanted > 0 then\n"
    "  return {0, math.max(1, tat + interval - burst * interval - now), "
    "foreign}\n"
    "end\n"
    "return {granted, 0, foreign}\n";
