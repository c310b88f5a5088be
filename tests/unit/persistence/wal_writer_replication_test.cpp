// The WAL writer's replication hook (`wal_writer_config::replicate`,
// `--replicas 2`): a synced batch is answered only once the hook is done
// with it, in batch order.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <gtest/gtest.h>

#include "persistence/wal_writer.hpp"
#include "webhook_ingress/error.hpp"

using namespace wi;
using wi::persistence::memory_storage;
using wi::persistence::synced_batch;

namespace {

constexpr auto reply_timeout = std::chrono::seconds(30);
/// How long an answer that must not come yet is waited for.
constexpr auto quiet = std::chrono::milliseconds(200);

/// The hook's side: every batch it was handed, and its `done`.
struct hook_log {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<synced_batch> batches;
  std::vector<std::function<void()>> dones;

  persistence::replication_hook hook() {
    return [this](synced_batch b, std::function<void()> done) {
      std::lock_guard guard{mtx};
      batches.push_back(std::move(b));
      dones.push_back(std::move(done));
      cv.notify_all();
    };
  }

  /// Waits until the hook got `n` batches (bounded).
  bool wait_for(size_t n) {
    std::unique_lock lock{mtx};
    return cv.wait_for(lock, reply_timeout,
                       [&] { return batches.size() >= n; });
  }
};

class wal_writer_replication_test : public testing::Test {
 protected:
  void SetUp() override {
    persistence::wal_writer_config cfg;
    cfg.replicate = log_.hook();
    writer_ = persistence::spawn_wal_writer(sys_, store_, cfg);
  }

  void TearDown() override {
    caf::anon_send_exit(writer_, caf::exit_reason::user_shutdown);
  }

  /// Sends an append; its answer (the first sequence number, or an error)
  /// comes to `self_` as an ordinary message.
  void send_append(wal_append req) {
    self_->send(writer_, append_atom::value, std::move(req));
  }

  /// The next answer, or nothing within `wait`.
  std::optional<uint64_t> next_answer(std::chrono::milliseconds wait) {
    std::optional<uint64_t> out;
    self_->receive([&](uint64_t seq) { out = seq; }, caf::after(wait) >> [] {});
    return out;
  }

  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};
  caf::scoped_actor self_{sys_};
  std::shared_ptr<memory_storage> store_ = std::make_shared<memory_storage>();
  hook_log log_;
  wal_writer_actor writer_;
};

} // namespace

TEST_F(wal_writer_replication_test, answers_only_once_the_hook_is_done) {
  auto req = wal_append::one("t1", "r1");
  req.payload_key = "t1/e1";
  req.payload = "body";
  send_append(std::move(req));
  ASSERT_TRUE(log_.wait_for(1));
  // Durable locally, handed to the hook, not answered.
  EXPECT_EQ(store_->last_sequence(), 1u);
  EXPECT_FALSE(next_answer(quiet).has_value());
  {
    std::lock_guard guard{log_.mtx};
    const auto& b = log_.batches.front();
    ASSERT_EQ(b.records.size(), 1u);
    EXPECT_EQ(b.records[0].owner, "t1");
    EXPECT_EQ(b.records[0].seq, 1u);
    EXPECT_EQ(b.records[0].bytes, "r1");
    ASSERT_EQ(b.payloads.size(), 1u);
    EXPECT_EQ(b.payloads[0].key, "t1/e1");
    EXPECT_EQ(b.payloads[0].value, "body");
    EXPECT_FALSE(b.payloads[0].erase);
  }
  log_.dones.front()(); // from this thread, as from any
  auto a = next_answer(std::chrono::milliseconds{reply_timeout});
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, 1u);
}

TEST_F(wal_writer_replication_test, answers_keep_batch_order_and_owners) {
  send_append(wal_append::one("t1", "r1"));
  ASSERT_TRUE(log_.wait_for(1));
  wal_append two;
  two.owner = "t2";
  two.records = {"d", "s"};
  two.owners = {std::string{directory_owner}, "t2"};
  send_append(std::move(two));
  ASSERT_TRUE(log_.wait_for(2));
  {
    std::lock_guard guard{log_.mtx};
    const auto& b = log_.batches[1];
    ASSERT_EQ(b.records.size(), 2u);
    EXPECT_EQ(b.records[0].owner, directory_owner);
    EXPECT_EQ(b.records[0].seq, 2u);
    EXPECT_EQ(b.records[1].owner, "t2");
    EXPECT_EQ(b.records[1].seq, 3u);
  }
  // The second batch's backup answered first: still nothing, since the
  // first batch's answer must go first.
  log_.dones[1]();
  EXPECT_FALSE(next_answer(quiet).has_value());
  log_.dones[0]();
  auto a = next_answer(std::chrono::milliseconds{reply_timeout});
  auto b = next_answer(std::chrono::milliseconds{reply_timeout});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, 1u);
  EXPECT_EQ(*b, 2u);
}

TEST_F(wal_writer_replication_test,
       a_stopped_writer_acknowledges_nothing_held) {
  send_append(wal_append::one("t1", "r1"));
  ASSERT_TRUE(log_.wait_for(1));
  send_append(wal_append::one("t1", "r2"));
  caf::anon_send_exit(writer_, caf::exit_reason::user_shutdown);
  // Both appends fail: the first was durable but never replicated.
  int failures = 0;
  for (int i = 0; i < 2; ++i)
    self_->receive([&](uint64_t) { ADD_FAILURE() << "acknowledged"; },
                   [&](caf::error& err) {
                     EXPECT_EQ(code_of(err), errc::storage_unavailable);
                     ++failures;
                   },
                   caf::after(reply_timeout) >> [] {});
  EXPECT_EQ(failures, 2);
}
