#include "actors/cluster/etcd_client.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/etcd_process.hpp"
#include "webhook_ingress/error.hpp"

using namespace wi::cluster;
using namespace std::chrono_literals;

namespace {

/// One etcd for the whole suite (each test uses its own key prefix).
class etcd_client_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    etcd_ = std::make_unique<wi_cluster_test::etcd_process>();
  }
  static void TearDownTestSuite() { etcd_.reset(); }

  etcd_client_config config() const { return {{etcd_->client_url()}}; }

  static std::unique_ptr<wi_cluster_test::etcd_process> etcd_;
};

std::unique_ptr<wi_cluster_test::etcd_process> etcd_client_test::etcd_;

} // namespace

TEST_F(etcd_client_test, put_range_delete) {
  etcd_client c{config()};
  auto r1 = c.put("/kv/a", "1");
  ASSERT_TRUE(r1) << wi::text_of(r1.error());
  // Binary-safe values: base64 on the wire.
  std::string binary{"\0\xff\n\"x", 5};
  auto r2 = c.put("/kv/b", binary);
  ASSERT_TRUE(r2);
  EXPECT_GT(*r2, *r1);
  ASSERT_TRUE(c.put("/kw/other", "x"));
  auto all = c.range_prefix("/kv/");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->kvs.size(), 2u);
  EXPECT_EQ(all->kvs[0].key, "/kv/a");
  EXPECT_EQ(all->kvs[0].value, "1");
  EXPECT_EQ(all->kvs[0].create_revision, *r1);
  EXPECT_EQ(all->kvs[0].version, 1);
  EXPECT_EQ(all->kvs[1].value, binary);
  EXPECT_EQ(all->revision, *r2 + 1);
  // An empty range: proto3 sends no `kvs` at all.
  auto none = c.range("/kv/none", {}, true);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->kvs.empty());
  auto deleted = c.delete_range("/kv/", etcd_client::prefix_end("/kv/"));
  ASSERT_TRUE(deleted);
  EXPECT_EQ(*deleted, 2);
  auto after = c.range_prefix("/kv/");
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->kvs.empty());
}

TEST_F(etcd_client_test, txn_create_guard_succeeds_once) {
  etcd_client c{config()};
  std::vector<txn_compare> absent{
    {"/txn/k", txn_compare::target::create, 0, {}}};
  std::vector<txn_op> read{{txn_op::kind::range, "/txn/k", {}, 0}};
  auto first = c.txn(absent, {{txn_op::kind::put, "/txn/k", "one", 0}}, read);
  ASSERT_TRUE(first) << wi::text_of(first.error());
  EXPECT_TRUE(first->succeeded);
  EXPECT_TRUE(first->read.empty());
  auto second = c.txn(absent, {{txn_op::kind::put, "/txn/k", "two", 0}}, read);
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->succeeded); // no `succeeded` key in the answer
  ASSERT_EQ(second->read.size(), 1u);
  EXPECT_EQ(second->read[0].value, "one");
  EXPECT_EQ(second->read[0].mod_revision, first->revision);
}

TEST_F(etcd_client_test, txn_mod_revision_guard_fences_a_stale_writer) {
  etcd_client c{config()};
  auto rev = c.put("/txn/m", "v1");
  ASSERT_TRUE(rev);
  auto guard = [&](int64_t r) {
    return std::vector<txn_compare>{
      {"/txn/m", txn_compare::target::mod, r, {}}};
  };
  auto ok = c.txn(guard(*rev), {{txn_op::kind::put, "/txn/m", "v2", 0}}, {});
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->succeeded);
  // A writer that read revision `rev` is stale now.
  auto stale = c.txn(guard(*rev), {{txn_op::kind::put, "/txn/m", "v3", 0}}, {});
  ASSERT_TRUE(stale);
  EXPECT_FALSE(stale->succeeded);
  auto now = c.range("/txn/m");
  ASSERT_TRUE(now);
  ASSERT_EQ(now->kvs.size(), 1u);
  EXPECT_EQ(now->kvs[0].value, "v2");
}

TEST_F(etcd_client_test, lease_keepalive_and_revoke) {
  etcd_client c{config()};
  auto lease = c.grant(5);
  ASSERT_TRUE(lease) << wi::text_of(lease.error());
  EXPECT_NE(lease->id, 0);
  EXPECT_EQ(lease->ttl, 5);
  ASSERT_TRUE(c.put("/lease/k", "v", lease->id));
  auto ttl = c.keep_alive(lease->id);
  ASSERT_TRUE(ttl);
  EXPECT_EQ(*ttl, 5);
  auto got = c.range("/lease/k");
  ASSERT_TRUE(got);
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].lease, lease->id);
  EXPECT_FALSE(c.revoke(lease->id));
  auto gone = c.range("/lease/k");
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->kvs.empty());
  // A renewal of a lease that does not exist any more says TTL 0.
  auto dead = c.keep_alive(lease->id);
  ASSERT_TRUE(dead);
  EXPECT_EQ(*dead, 0);
  // Revoking it again is an error (lease not found).
  EXPECT_TRUE(c.revoke(lease->id));
}

TEST_F(etcd_client_test, lease_expires_after_ttl_without_keepalive) {
  etcd_client c{config()};
  auto lease = c.grant(1); // raised to 2 by etcd
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->ttl, 2);
  ASSERT_TRUE(c.put("/expire/k", "v", lease->id));
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    auto got = c.range("/expire/k");
    ASSERT_TRUE(got);
    if (got->kvs.empty())
      break;
    ASSERT_LT(std::chrono::steady_clock::now() - start, 6s);
    std::this_thread::sleep_for(50ms);
  }
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 1500ms);
  std::cout
    << "lease of TTL 2 expired after "
    << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
    << " ms\n";
}

TEST_F(etcd_client_test, watch_streams_puts_and_deletes_until_stopped) {
  etcd_client c{config()};
  std::atomic<bool> stop{false};
  std::mutex mtx;
  std::condition_variable cv;
  bool created = false;
  std::vector<watch_event> seen;
  caf::error ended;
  std::thread watcher{[&] {
    ended = c.watch(
      "/watch/", etcd_client::prefix_end("/watch/"), 0, stop,
      [&] {
        std::lock_guard guard{mtx};
        created = true;
        cv.notify_all();
      },
      [&](const std::vector<watch_event>& evs) {
        std::lock_guard guard{mtx};
        seen.insert(seen.end(), evs.begin(), evs.end());
        cv.notify_all();
      });
  }};
  {
    std::unique_lock guard{mtx};
    ASSERT_TRUE(cv.wait_for(guard, 5s, [&] { return created; }));
  }
  ASSERT_TRUE(c.put("/watch/a", "1"));
  ASSERT_TRUE(c.put("/other", "x")); // outside the range
  ASSERT_TRUE(c.delete_range("/watch/a"));
  {
    std::unique_lock guard{mtx};
    ASSERT_TRUE(cv.wait_for(guard, 5s, [&] { return seen.size() >= 2; }));
  }
  auto t0 = std::chrono::steady_clock::now();
  stop = true;
  watcher.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[0].is_put);
  EXPECT_EQ(seen[0].kv.key, "/watch/a");
  EXPECT_EQ(seen[0].kv.value, "1");
  EXPECT_FALSE(seen[1].is_put);
  EXPECT_EQ(seen[1].kv.key, "/watch/a");
  EXPECT_EQ(wi::text_of(ended).find("stopped") != std::string::npos, true)
    << wi::text_of(ended);
}

TEST_F(etcd_client_test, watch_from_a_revision_replays_history) {
  etcd_client c{config()};
  auto rev = c.put("/hist/a", "1");
  ASSERT_TRUE(rev);
  ASSERT_TRUE(c.put("/hist/a", "2"));
  std::atomic<bool> stop{false};
  std::vector<std::string> values;
  auto ended = c.watch(
    "/hist/a", {}, *rev, stop, [] {},
    [&](const std::vector<watch_event>& evs) {
      for (const auto& e : evs)
        values.push_back(e.kv.value);
      if (values.size() >= 2)
        stop = true;
    });
  EXPECT_EQ(values, (std::vector<std::string>{"1", "2"}));
}

TEST_F(etcd_client_test, latency_of_the_calls_membership_makes) {
  etcd_client c{config()};
  auto measure = [](auto f) {
    std::vector<double> ms;
    for (int i = 0; i < 200; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      f(i);
      ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - t0)
                     .count());
    }
    std::sort(ms.begin(), ms.end());
    return std::pair{ms[ms.size() / 2], ms[ms.size() * 99 / 100]};
  };
  auto lease = c.grant(10);
  ASSERT_TRUE(lease);
  auto txn = measure([&](int i) {
    auto key = "/lat/t" + std::to_string(i);
    ASSERT_TRUE(c.txn({{key, txn_compare::target::create, 0, {}}},
                      {{txn_op::kind::put, key, "v", 0}}, {}));
  });
  auto read = measure([&](int) { ASSERT_TRUE(c.range("/lat/t1", {}, true)); });
  auto renew = measure([&](int) { ASSERT_TRUE(c.keep_alive(lease->id)); });
  std::cout << "etcd latency p50/p99 ms: claim txn " << txn.first << "/"
            << txn.second << ", serializable read " << read.first << "/"
            << read.second << ", keepalive " << renew.first << "/"
            << renew.second << "\n";
  // Loopback, one member: generous bounds for a loaded CI machine.
  EXPECT_LT(txn.first, 50.0);
  EXPECT_LT(renew.first, 50.0);
}

TEST(etcd_client_unreachable, fails_naming_the_url) {
  auto port = wi_cluster_test::free_port();
  auto url = "http://127.0.0.1:" + std::to_string(port);
  etcd_client c{{{url}, 500ms, 1s}};
  auto res = c.put("/k", "v");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().category(), wi::error_category);
  EXPECT_EQ(res.error().code(),
            static_cast<uint8_t>(wi::errc::storage_unavailable));
  EXPECT_NE(wi::text_of(res.error()).find(url), std::string::npos)
    << wi::text_of(res.error());
}

TEST(etcd_client_failover, skips_a_dead_endpoint) {
  wi_cluster_test::etcd_process etcd;
  auto dead =
    "http://127.0.0.1:" + std::to_string(wi_cluster_test::free_port());
  etcd_client c{{{dead, etcd.client_url()}, 500ms, 2s}};
  auto res = c.put("/failover", "v");
  ASSERT_TRUE(res) << wi::text_of(res.error());
  // The working endpoint is tried first from now on.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.range("/failover"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 400ms);
}
