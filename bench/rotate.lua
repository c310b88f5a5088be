-- wrk script for bench/restart_bench.sh and bench/wal_bound.sh (through
-- run_mutations in bench/bench_lib.sh): sends exactly WI_BENCH_TOTAL
-- mutations, spread evenly over many tenants or endpoints, then stops.
--
-- The URL given to wrk is http://HOST:PORT/v1/webhook/endpoints. Environment:
--   WI_BENCH_MODE     "create": POST the URL, one endpoint per request;
--                     "toggle": PUT URL/<id>/disable, then .../enable on the
--                     next visit of the same endpoint, and so on
--   WI_BENCH_TARGETS  file; create: one tenant token a line; toggle: lines
--                     "<token> <endpoint id>"
--   WI_BENCH_TOTAL    mutations over all threads
--   WI_BENCH_THREADS  wrk's -t (each thread sends its share)
--   WI_BENCH_DONE_DIR each thread creates sent.<n> here once its share is
--                     sent, and done.<n> once it is answered, and stops; the
--                     caller then stops wrk (SIGINT). A request lost to a
--                     socket error is never answered: the caller waits for
--                     done.<n> only so long after sent.<n>.
--
-- Mutation number g (0 .. TOTAL-1) goes to target g % #targets, so with
-- TOTAL a multiple of #targets every target gets the same count. Thread t
-- sends g = t, t + THREADS, t + 2 THREADS, ... Once a thread has sent its
-- share, its other connections send GET /healthz (no mutation) until the
-- last answers are in. Answers are told apart by status: 201/204 a
-- mutation done, 200 a health check, anything else a failed mutation.
-- done() prints mutations_ok=N and mutation_errors=N.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local mode, requests, budget, sent, answered, done_dir, health, stride, tid_
local probe_pending, sent_marker
-- Globals, so that done() can read them with thread:get().
ok, errors = 0, 0

local function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if line ~= "" then
      table.insert(lines, line)
    end
  end
  return lines
end

function init(args)
  tid_ = tid
  mode = os.getenv("WI_BENCH_MODE")
  local total = tonumber(os.getenv("WI_BENCH_TOTAL"))
  stride = tonumber(os.getenv("WI_BENCH_THREADS"))
  done_dir = os.getenv("WI_BENCH_DONE_DIR")
  budget = math.floor(total / stride)
  if tid_ < total % stride then
    budget = budget + 1
  end
  sent, answered = 0, 0
  -- wrk calls request() of its first thread once before the run to check
  -- the script (the answer is never sent): hand it a health check, so no
  -- mutation is counted as sent that never was.
  probe_pending = tid_ == 0
  health = wrk.format("GET", "/healthz", {})
  requests = {}
  local base = wrk.path
  for _, line in ipairs(read_lines(os.getenv("WI_BENCH_TARGETS"))) do
    if mode == "create" then
      table.insert(requests, wrk.format("POST", base, {
        ["Authorization"] = "Bearer " .. line,
        ["Content-Type"] = "application/json",
      }, '{"url":"https://example.com/hook","secret":"bench-secret-123",'
        .. '"event_types":["a.b"]}'))
    else
      local token, id = line:match("^(%S+)%s+(%d+)$")
      local headers = {["Authorization"] = "Bearer " .. token}
      table.insert(requests, {
        wrk.format("PUT", base .. "/" .. id .. "/disable", headers),
        wrk.format("PUT", base .. "/" .. id .. "/enable", headers),
      })
    end
  end
  if budget == 0 then
    -- Nothing to send: report done at once.
    io.open(done_dir .. "/sent." .. tid_, "w"):close()
    io.open(done_dir .. "/done." .. tid_, "w"):close()
  end
end

function request()
  if probe_pending then
    probe_pending = false
    return health
  end
  if sent >= budget then
    if not sent_marker then
      sent_marker = true
      io.open(done_dir .. "/sent." .. tid_, "w"):close()
    end
    return health
  end
  local g = tid_ + sent * stride
  sent = sent + 1
  local n = #requests
  if mode == "create" then
    return requests[g % n + 1]
  end
  local round = math.floor(g / n)
  return requests[g % n + 1][round % 2 + 1]
end

function response(status, headers, body)
  if status == 200 then
    return
  end
  if status == 201 or status == 204 then
    ok = ok + 1
  else
    errors = errors + 1
  end
  answered = answered + 1
  if answered == budget then
    io.open(done_dir .. "/done." .. tid_, "w"):close()
    wrk.thread:stop()
  end
end

function done(summary, latency, reqs)
  local total_ok, total_errors = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + (thread:get("ok") or 0)
    total_errors = total_errors + (thread:get("errors") or 0)
  end
  io.write(string.format("mutations_ok=%d\nmutation_errors=%d\n", total_ok,
    total_errors))
end
