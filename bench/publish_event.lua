-- wrk script for bench/delivery_bench.sh: POST /v1/webhook/events (the URL
-- given to wrk) as fast as the connections allow, each request a new event
-- of type "bench.event" with a ~200-byte payload. The tenant's bearer token
-- comes from WI_BENCH_TOKEN. Counts answers by status: done() prints
-- events_accepted=N (202), events_throttled=N (429) and events_other=N.
wrk.method = "POST"
wrk.body = '{"event_type":"bench.event","payload":{"order_id":123456,'
  .. '"customer":"bench-customer-0001","amount_cents":4999,"currency":"EUR",'
  .. '"items":[{"sku":"sku-0001","qty":2},{"sku":"sku-0002","qty":1}],'
  .. '"note":"delivery benchmark payload"}}'
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("WI_BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

-- Globals, so that done() can read them with thread:get().
accepted, throttled, other = 0, 0, 0

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  elseif status == 429 then
    throttled = throttled + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local a, t, o = 0, 0, 0
  for _, thread in ipairs(threads) do
    a = a + (thread:get("accepted") or 0)
    t = t + (thread:get("throttled") or 0)
    o = o + (thread:get("other") or 0)
  end
  io.write(string.format("events_accepted=%d\nevents_throttled=%d\nevents_other=%d\n", a, t, o))
end
