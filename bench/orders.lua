-- wrk script for the order throughput benchmark: unique client_order_ids per thread, and every
-- tenth request replays an earlier id (idempotency under load). Args: RUN_ID TOKEN PROCESS_INDEX.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  run, token, proc = args[1], args[2], args[3]
  n = 0
  created, replayed, other = 0, 0, 0
  headers = {["Authorization"] = "Token " .. token, ["Content-Type"] = "application/json"}
end

function request()
  n = n + 1
  local k = n
  if n % 10 == 0 then k = n - 5 end
  local cid = string.format("tp-%s-%s-%d-%d", run, proc, tid, k)
  local body = '{"client_order_id":"' .. cid .. '","strategy":"bench","symbol":"MSFT","side":"buy","qty":"1"}'
  return wrk.format("POST", nil, headers, body)
end

function response(status, hdrs, body)
  if status == 201 then created = created + 1
  elseif status == 200 then replayed = replayed + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local c, r, o = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created"); r = r + t:get("replayed"); o = o + t:get("other")
  end
  io.write(string.format("RESULT %d %d %d %.3f\n", c, r, o, latency:percentile(50) / 1000))
end
