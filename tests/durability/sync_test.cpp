// The WAL is synced before every acknowledgement. Durability tests that
// kill the process cannot show this (the page cache survives a SIGKILL), so
// this one runs the real binary under an LD_PRELOAD shim
// (tests/durability/sync_shim.cpp) that counts the bytes written to the WAL
// files of the data directory and not yet fsync'ed/fdatasync'ed, and logs
// that count whenever the process sends an HTTP answer. Every answer must
// find 0 unsynced bytes, and every acknowledged mutation must have been
// synced. With RocksDB's `WriteOptions::sync = false` (persistence/
// rocksdb_storage.cpp) the answers find their own batch unsynced and no
// sync happens at all: this test fails.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "support/api.hpp"
#include "support/assertions.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"

using namespace wi_e2e;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

struct shim_log {
  /// Statuses and unsynced WAL bytes of every answer, in order.
  std::vector<std::pair<int, uint64_t>> answers;
  /// WAL writes, and syncs that made written bytes durable.
  int writes = 0;
  int syncs_with_data = 0;
};

shim_log read_log(const fs::path& path) {
  shim_log out;
  std::ifstream in{path};
  std::string kind;
  while (in >> kind) {
    long long a = 0;
    unsigned long long b = 0;
    in >> a >> b;
    if (kind == "R")
      out.answers.emplace_back(static_cast<int>(a), b);
    else if (kind == "W")
      ++out.writes;
    else if (kind == "S" && b > 0)
      ++out.syncs_with_data;
  }
  return out;
}

std::string shim_path() {
  const char* p = std::getenv("WI_SYNC_SHIM");
  return p != nullptr ? p : "";
}

} // namespace

TEST(wal_sync, every_acknowledged_mutation_is_synced_before_its_answer) {
  ASSERT_FALSE(shim_path().empty())
    << "WI_SYNC_SHIM is not set (ctest sets it)";
  temp_dir dir;
  auto root = fs::canonical(dir.path());
  auto log = root / "shim.log";
  server_config cfg;
  cfg.data_dir = root / "data";
  cfg.admin_token = "adm-" + random_hex(16);
  // Nothing in the background may write the WAL: no snapshot, no pruning,
  // no delivery (no event matches an endpoint).
  cfg.extra_args = {"--snapshot-every", "100000000", "--prune-interval",
                    "168h"};
  cfg.env["LD_PRELOAD"] = shim_path();
  cfg.env["WI_SHIM_DIR"] = cfg.data_dir.string();
  cfg.env["WI_SHIM_LOG"] = log.string();
  // Under ASan the runtime must come first; the shim is preloaded before it.
  std::string asan =
    std::getenv("ASAN_OPTIONS") ? std::getenv("ASAN_OPTIONS") : "";
  cfg.env["ASAN_OPTIONS"] =
    asan + (asan.empty() ? "" : ":") + "verify_asan_link_order=0";
  server_process server{cfg};
  server.start();
  auto start = read_log(log);
  http_client client{server.base_url()};

  // 11 mutations of every kind of record a client can cause, one at a time.
  int mutations = 0;
  auto t = create_tenant(client, *cfg.admin_token, "sync");
  ++mutations;
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto ep = create_endpoint(client, t.token);
    ids.push_back(ep.at("identifier").to_number<int64_t>());
    ++mutations;
  }
  for (int i = 0; i < 5; ++i) {
    auto r = client.post("/v1/webhook/events",
                         R"({"event_type":"nobody.listens","payload":{"i":)" +
                           std::to_string(i) + "}}",
                         bearer(t.token));
    ASSERT_TRUE(is_success(r, 202));
    ++mutations;
  }
  auto r = client.request("PUT", endpoint_path(ids[0], "/disable"),
                          bearer(t.token), std::string{});
  ASSERT_EQ(r.status / 100, 2) << r;
  ++mutations;
  r = client.post("/admin/v1/tenants/" + t.id + "/tokens",
                  R"({"grace_seconds":0})", bearer(*cfg.admin_token));
  ASSERT_TRUE(is_success(r, 201));
  ++mutations;

  auto got = read_log(log);
  server.stop();
  // The shim saw the process: the readiness checks of start() and our 11
  // answers, the WAL writes and syncs (else the test would prove nothing).
  ASSERT_GE(start.answers.size(), 1u) << "the shim saw no answer";
  ASSERT_GE(got.answers.size(), start.answers.size() + mutations);
  EXPECT_GE(got.writes - start.writes, mutations)
    << "the shim saw no WAL writes: is WI_SHIM_DIR the data directory?";
  EXPECT_GE(got.syncs_with_data - start.syncs_with_data, mutations)
    << "acknowledged mutations without a sync of their WAL bytes";
  int acknowledged = 0;
  for (size_t i = 0; i < got.answers.size(); ++i) {
    auto [status, unsynced] = got.answers[i];
    if (status / 100 == 2)
      ++acknowledged;
    EXPECT_EQ(unsynced, 0u) << "answer " << i << " (" << status << ") went out "
                            << "with " << unsynced << " unsynced WAL bytes";
  }
  EXPECT_GE(acknowledged, mutations);
}
