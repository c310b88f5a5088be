-- wrk script for bench/api_bench.sh: POST (create) to the URL given to wrk,
-- which is http://HOST:PORT/v1/webhook/endpoints.
-- Every request carries the same body, so each one creates a new endpoint on
-- the real server (one synced WAL write per request). The tenant's bearer
-- token comes from the environment variable WI_BENCH_TOKEN (the bare server
-- ignores it, but gets the same request bytes).
wrk.method = "POST"
wrk.body = '{"url":"https://example.com/hook","secret":"bench-secret-123",'
  .. '"event_types":["user.created"]}'
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("WI_BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
