// The crash harness: rounds of concurrent mutations, SIGKILL at a random
// moment, restart on the same data directory, and a check of everything any
// round acknowledged.

#include <sys/wait.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crash/history.hpp"
#include "crash/load.hpp"
#include "crash/observe.hpp"
#include "crash/options.hpp"
#include "support/child_process.hpp"
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

/// Problems printed per failing round.
constexpr size_t max_printed = 25;

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
  const std::string admin_token = "crash-admin-" + std::to_string(rng());
  std::unique_ptr<wi_e2e::server_process> server;
  int snapshot_every = 0;
  // A new process on the same directory (the previous one is reaped).
  auto start = [&] {
    wi_e2e::server_config cfg;
    cfg.data_dir = dir.path();
    cfg.admin_token = admin_token;
    // Published events fan out to the endpoints (loopback urls the SSRF
    // guard refuses, so every attempt fails and is recorded): the breaker
    // must not disable endpoints behind the history's back.
    cfg.extra_args = {"--breaker-failures", "1000000"};
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

  history h;
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
      auto obs = wi_crash::observe(server->base_url(), admin_token, h.tokens(),
                                   h.event_lookups());
      result = h.check(obs, wi_crash::unix_now());
    } catch (const std::exception& e) {
      FAIL() << "round " << round << " (seed " << seed
             << "): reading the recovered state failed: " << e.what()
             << "\n--- server stderr ---\n"
             << server->stderr_tail();
    }
    auto check_ms = ms_since(check_start);
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
              << " ms; " << after.tenants << " tenants, " << after.endpoints
              << " endpoints, " << after.events << " events, "
              << after.rotations << " token rotations"
              << (result.ok() ? "" : " -- FAILED") << std::endl;
    // A round that acknowledged nothing checked nothing new (the load waits
    // up to 10 s past the kill delay for a first acknowledgement).
    EXPECT_GT(after.acked, before.acked)
      << "round " << round << " (seed " << seed
      << ") acknowledged nothing before the kill";
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
  stop_cleanly();
  if (!HasFailure()) {
    ASSERT_NO_THROW(start());
    auto result = h.check(wi_crash::observe(server->base_url(), admin_token,
                                            h.tokens(), h.event_lookups()),
                          wi_crash::unix_now());
    lost += result.lost.size();
    violations += result.violations.size();
    for (const auto* list : {&result.lost, &result.violations})
      for (const auto& p : *list)
        ADD_FAILURE() << "after a clean shutdown and restart: " << p;
    stop_cleanly();
  }

  auto total = h.stats();
  std::cout << "crash harness: " << rounds_done << " rounds, " << total.acked
            << " acknowledged mutations, " << lost << " lost (" << violations
            << " other violations, " << total.unknown << " unknown, "
            << total.tenants << " tenants, " << total.endpoints
            << " endpoints, " << total.events << " events, " << total.rotations
            << " token rotations, "
            << static_cast<double>(ms_since(run_start)) / 1000.0 << " s, seed "
            << seed << ")" << std::endl;
}
