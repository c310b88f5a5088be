// The crash harness: rounds of concurrent mutations and publishes, SIGKILL
// at a random moment, restart on the same data directory, and a check of
// everything any round acknowledged, including the deliveries a loopback
// receiver got (docs/architecture.md, "The crash harness").

#include <sys/wait.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "crash/history.hpp"
#include "crash/load.hpp"
#include "crash/observe.hpp"
#include "crash/options.hpp"
#include "support/child_process.hpp"
#include "support/http_client.hpp"
#include "support/receiver.hpp"
#include "support/server_process.hpp"

using namespace std::chrono_literals;
using wi_crash::history;

namespace {

using clock_type = std::chrono::steady_clock;

/// Client threads per round.
constexpr int client_threads = 6;

/// The kill comes this long after the load started (uniformly, seeded).
constexpr int min_kill_ms = 50;
constexpr int max_kill_ms = 400;

/// Snapshot intervals (records per tenant) a start picks from when the
/// binary has `--snapshot-every`: small, so snapshots and WAL truncation run
/// (and get killed) in every round instead of never.
const std::vector<int> snapshot_intervals = {4, 16, 64, 256};

/// Publishes sent again with their key after each round: every unanswered
/// one, every one not sent again yet, and this many random older ones (the
/// last check sends every one again).
constexpr size_t older_repeats = 64;

/// Problems printed per failing round.
constexpr size_t max_printed = 25;

/// The longest wait, after each round's check, for every delivery to an
/// active endpoint to reach the receiver (and after the last restart for
/// every delivery at all).
constexpr auto delivery_wait = 30s;

/// Retries come quickly (the receiver answers every request with 200, so an
/// attempt fails only if loopback itself does), and no delivery can run out
/// of retries within a run: the schedule spans about 17 minutes.
constexpr const char* retry_schedule =
  "50ms,100ms,200ms,500ms,1s,2s,5s,10s,30s,1m,5m,10m";

/// Milliseconds since `start`.
long long ms_since(clock_type::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           clock_type::now() - start)
    .count();
}

/// A seed from the system's entropy source.
uint64_t random_seed() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) | rd();
}

/// The receiver's requests from the `seen`-th on, as the checker takes
/// them; advances `seen` past them.
std::vector<wi_crash::delivery_seen> new_deliveries(const wi_e2e::receiver& rx,
                                                    size_t& seen) {
  auto rs = rx.requests_from(seen);
  seen += rs.size();
  std::vector<wi_crash::delivery_seen> result;
  result.reserve(rs.size());
  for (auto& r : rs) {
    wi_crash::delivery_seen d;
    d.method = std::move(r.method);
    d.path = std::move(r.path);
    d.webhook_id = r.header("webhook-id").value_or("");
    d.timestamp = r.header("webhook-timestamp").value_or("");
    d.signature = r.header("webhook-signature").value_or("");
    d.body = std::move(r.body);
    d.received_at = std::chrono::duration_cast<std::chrono::seconds>(
                      r.wall_at.time_since_epoch())
                      .count();
    result.push_back(std::move(d));
  }
  return result;
}

/// Feeds the receiver's new requests to `h` until `h.awaited(every)` is 0
/// or `delivery_wait` passed; then the result of `h.check_delivered(every)`.
wi_crash::check_result await_deliveries(history& h, const wi_e2e::receiver& rx,
                                        size_t& seen, bool every) {
  auto give_up = clock_type::now() + delivery_wait;
  for (;;) {
    h.take_deliveries(new_deliveries(rx, seen));
    if (h.awaited(every) == 0 || clock_type::now() > give_up)
      break;
    std::this_thread::sleep_for(20ms);
  }
  return h.check_delivered(every);
}

/// Whether the server binary's `--help` lists `flag`.
bool server_has_flag(const std::string& flag) {
  auto r =
    wi_e2e::run_to_exit({wi_e2e::server_binary().string(), "--help"}, 10s);
  return r.out.find(flag) != std::string::npos;
}

} // namespace

TEST(crash, acknowledged_mutations_survive_sigkill_under_load) {
  const auto& opts = wi_crash::options();
  auto seed = opts.seed.value_or(random_seed());
  bool snapshots = server_has_flag("--snapshot-every");
  std::cout << "crash harness: seed " << seed << ", " << opts.rounds
            << " rounds, " << client_threads << " client threads"
            << (snapshots ? ", --snapshot-every varied per start" : "")
            << " (rerun with --seed " << seed << ")" << std::endl;
  std::mt19937_64 rng{seed};
  std::uniform_int_distribution<int> kill_ms{min_kill_ms, max_kill_ms};
  auto run_start = clock_type::now();

  wi_e2e::temp_dir dir;
  // Every endpoint's url is on this receiver; it answers 200 to everything.
  wi_e2e::receiver rx;
  size_t seen = 0;
  const std::string admin_token = "crash-admin-" + std::to_string(rng());
  std::unique_ptr<wi_e2e::server_process> server;
  int snapshot_every = 0;
  // A new process on the same directory (the previous one is reaped).
  auto start = [&] {
    wi_e2e::server_config cfg;
    cfg.data_dir = dir.path();
    cfg.admin_token = admin_token;
    // Published events are delivered to the receiver on loopback (which
    // the SSRF guard refuses unless told otherwise); the breaker must not
    // disable endpoints behind the history's back; no publish is refused
    // by the rate limit (the repeats of every check add up).
    cfg.extra_args = {"--allow-private-targets",
                      "--breaker-failures",
                      "1000000",
                      "--retry-schedule",
                      retry_schedule,
                      "--tenant-publish-rate",
                      "0"};
    if (snapshots) {
      snapshot_every = snapshot_intervals[rng() % snapshot_intervals.size()];
      cfg.extra_args.push_back("--snapshot-every");
      cfg.extra_args.push_back(std::to_string(snapshot_every));
    }
    server.reset();
    server = std::make_unique<wi_e2e::server_process>(std::move(cfg));
    server->start();
  };
  ASSERT_NO_THROW(start());

  history h{rx.url("")};
  uint64_t lost = 0;
  uint64_t violations = 0;
  int rounds_done = 0;
  for (int round = 1; round <= opts.rounds; ++round) {
    auto before = h.stats();
    auto ran_with = snapshot_every;
    wi_crash::load_config load;
    load.base_url = server->base_url();
    load.admin_token = admin_token;
    load.threads = client_threads;
    load.seed = rng();
    load.kill_after = std::chrono::milliseconds{kill_ms(rng)};
    wi_crash::load_then_kill(h, *server, load);

    auto restart_start = clock_type::now();
    try {
      start();
    } catch (const std::exception& e) {
      FAIL() << "round " << round << " (seed " << seed
             << "): the restart failed: " << e.what();
    }
    auto restart_ms = ms_since(restart_start);

    auto check_start = clock_type::now();
    wi_crash::check_result result;
    try {
      auto obs = wi_crash::observe(
        server->base_url(), admin_token, h.tokens(), h.event_lookups(),
        h.repeats(rng, older_repeats), h.token_probes());
      obs.deliveries = new_deliveries(rx, seen);
      result = h.check(obs, wi_crash::unix_now());
    } catch (const std::exception& e) {
      FAIL() << "round " << round << " (seed " << seed
             << "): reading the recovered state failed: " << e.what()
             << "\n--- server stderr ---\n"
             << server->stderr_tail();
    }
    auto check_ms = ms_since(check_start);
    // Every delivery to an active endpoint arrives (those to inactive ones
    // are paused: the end of the run enables every endpoint).
    auto deliveries_start = clock_type::now();
    auto delivered = await_deliveries(h, rx, seen, false);
    auto deliveries_ms = ms_since(deliveries_start);
    for (auto* list : {&result.lost, &result.violations}) {
      auto& from = list == &result.lost ? delivered.lost : delivered.violations;
      list->insert(list->end(), from.begin(), from.end());
    }
    ++rounds_done;
    lost += result.lost.size();
    violations += result.violations.size();

    auto after = h.stats();
    std::cout << "round " << round << "/" << opts.rounds << ": "
              << after.acked - before.acked << " acknowledged, "
              << after.unknown - before.unknown << " unknown ("
              << after.found - before.found << " creates found), kill after "
              << load.kill_after.count() << " ms";
    if (snapshots)
      std::cout << " (snapshot-every " << ran_with << ")";
    std::cout << "; restart " << restart_ms << " ms, check " << check_ms
              << " ms, deliveries " << deliveries_ms << " ms; " << after.tenants
              << " tenants, " << after.endpoints << " endpoints, "
              << after.events << " events ("
              << after.events_found - before.events_found
              << " unanswered found), " << after.rotations
              << " token rotations, " << after.deliveries - before.deliveries
              << " deliveries received ("
              << after.repeated_deliveries - before.repeated_deliveries
              << " repeats)" << (result.ok() ? "" : " -- FAILED") << std::endl;
    if (!result.ok()) {
      std::ostringstream os;
      os << "round " << round << " (seed " << seed << ", data directory "
         << dir.path().string()
         << ", kept with WI_E2E_KEEP_DIRS=1): " << result.lost.size()
         << " lost, " << result.violations.size() << " other violations";
      size_t printed = 0;
      for (const auto* list : {&result.lost, &result.violations})
        for (const auto& p : *list)
          if (printed++ < max_printed)
            os << "\n  " << (list == &result.lost ? "LOST: " : "VIOLATION: ")
               << p;
      os << "\n--- server stderr (tail) ---\n" << server->stderr_tail(2000);
      ADD_FAILURE() << os.str();
      break; // later rounds would repeat the same findings
    }
  }

  // A clean shutdown after all the crashes (it snapshots every owner), and
  // one more start and check: recovery from what the shutdown wrote.
  auto stop_cleanly = [&] {
    auto status = server->stop(20s);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "SIGTERM: " << wi_e2e::describe_wait_status(status) << "\n"
      << server->stderr_tail();
  };
  // First every endpoint is enabled, so that every paused delivery is sent
  // and the last check can demand all of them.
  size_t enabled = 0;
  size_t paused = 0;
  if (!HasFailure()) {
    wi_e2e::http_client client{server->base_url()};
    paused = h.awaited(true);
    for (const auto& op : h.plan_enable_all()) {
      ++enabled;
      auto r =
        client.put("/v1/webhook/endpoints/" + std::to_string(op.id) + "/enable",
                   wi_e2e::bearer(op.token));
      if (r.status == 204) {
        h.ack_status(op);
      } else {
        h.unanswered(op);
        ADD_FAILURE() << "enable of endpoint " << op.id << ": " << r.status
                      << " " << r.body;
      }
    }
  }
  stop_cleanly();
  if (!HasFailure()) {
    ASSERT_NO_THROW(start());
    auto obs =
      wi_crash::observe(server->base_url(), admin_token, h.tokens(),
                        h.event_lookups(), h.repeats(rng), h.token_probes());
    obs.deliveries = new_deliveries(rx, seen);
    auto result =
      h.check(obs, wi_crash::unix_now(), wi_crash::check_after::restart);
    auto wait_start = clock_type::now();
    auto delivered = await_deliveries(h, rx, seen, true);
    std::cout << "end: " << enabled << " endpoints enabled, " << paused
              << " paused deliveries awaited; after a clean restart every "
                 "delivery arrived within "
              << ms_since(wait_start) << " ms" << std::endl;
    for (const auto* r : {&result, &delivered}) {
      lost += r->lost.size();
      violations += r->violations.size();
      size_t printed = 0;
      for (const auto* list : {&r->lost, &r->violations})
        for (const auto& p : *list)
          if (printed++ < max_printed)
            ADD_FAILURE() << "after a clean shutdown and restart: " << p;
    }
    stop_cleanly();
  }

  auto total = h.stats();
  std::cout << "crash harness: " << rounds_done << " rounds, " << total.acked
            << " acknowledged mutations, " << lost << " lost (" << violations
            << " other violations, " << total.unknown << " unknown, "
            << total.tenants << " tenants, " << total.endpoints
            << " endpoints, " << total.events << " events ("
            << total.events_found << " unanswered found, "
            << total.idempotent_repeats << " idempotent repeats checked), "
            << total.rotations << " token rotations ("
            << total.old_tokens_checked << " old-token checks), "
            << total.deliveries << " deliveries received ("
            << total.repeated_deliveries << " repeats) covering "
            << total.delivered_pairs << " (event, endpoint) pairs, "
            << static_cast<double>(ms_since(run_start)) / 1000.0 << " s, seed "
            << seed << ")" << std::endl;
}
