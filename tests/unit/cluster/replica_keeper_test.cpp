#include "actors/cluster/replication.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include "webhook_ingress/error.hpp"

using namespace wi::cluster;
using wi::persistence::replica_base;
using wi::persistence::replica_info;
using wi::persistence::replica_slice;
using wi::persistence::replica_store;
using wi::persistence::slice_result;

namespace {

constexpr auto reply_timeout = std::chrono::seconds{10};

class replica_keeper_test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
      (std::filesystem::temp_directory_path() / "wi-keeper-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto s = wi::persistence::open_replica_store(dir_ + "/replica");
    ASSERT_TRUE(s) << to_string(s.error());
    store_ = std::shared_ptr<replica_store>{std::move(*s)};
    replica_keeper_config cfg;
    cfg.owns = [](std::string_view tenant) { return tenant == "mine"; };
    cfg.on_write = [this](uint64_t) { ++writes_; };
    keeper_ = spawn_replica_keeper(sys_, store_, cfg);
  }

  void TearDown() override {
    caf::anon_send_exit(keeper_, caf::exit_reason::user_shutdown);
    self_->wait_for(keeper_);
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  static replica_slice slice(std::string tenant, uint64_t prev, uint64_t seq) {
    replica_slice s;
    s.tenant = std::move(tenant);
    s.epoch = 1;
    s.prev_seq = prev;
    s.records.emplace_back(seq, "rec" + std::to_string(seq));
    return s;
  }

  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};
  caf::scoped_actor self_{sys_};
  std::string dir_;
  std::shared_ptr<replica_store> store_;
  std::atomic<int> writes_{0};
  replica_actor keeper_;
};

} // namespace

TEST_F(replica_keeper_test, pipelined_batches_are_durable_when_answered) {
  constexpr int batches = 64;
  auto report_to = caf::actor_cast<caf::actor>(self_);
  auto store = store_;
  auto client = [store](caf::event_based_actor* self, replica_actor keeper,
                        caf::actor parent) {
    auto answered = std::make_shared<int>(0);
    auto problems = std::make_shared<std::vector<std::string>>();
    for (int i = 1; i <= batches; ++i) {
      auto seq = static_cast<uint64_t>(i);
      replica_batch b{"owner", {slice("t" + std::to_string(i % 4), 0, seq)}};
      self->request(keeper, reply_timeout, replicate_atom::value, std::move(b))
        .then(
          [=](replica_ack& ack) {
            // Durable before the answer: the store has it already.
            auto info = store->info("t" + std::to_string(seq % 4));
            if (ack.decoded() != std::vector{slice_result::stored} || !info ||
                info->last_seq < seq)
              problems->push_back("batch " + std::to_string(seq));
            if (++*answered == batches)
              self->send(parent, *problems);
          },
          [=](caf::error& err) {
            problems->push_back(to_string(err));
            if (++*answered == batches)
              self->send(parent, *problems);
          });
    }
  };
  sys_.spawn(client, keeper_, report_to);
  self_->receive(
    [](std::vector<std::string>& problems) {
      EXPECT_TRUE(problems.empty()) << problems.front();
    },
    caf::after(reply_timeout) >> [] { FAIL() << "the client never reported"; });
  for (int t = 0; t < 4; ++t) {
    auto copy = store_->read("t" + std::to_string(t));
    ASSERT_TRUE(copy && *copy);
    EXPECT_EQ((*copy)->records.size(), static_cast<size_t>(batches / 4));
  }
  // Group commit: batches that arrived during a sync shared the next one.
  EXPECT_LT(writes_.load(), batches);
  EXPECT_GE(writes_.load(), 1);
}

TEST_F(replica_keeper_test, refuses_a_tenant_this_node_owns_and_stores_bases) {
  replica_batch b{"owner", {slice("t1", 0, 3), slice("mine", 0, 4)}};
  self_->request(keeper_, reply_timeout, replicate_atom::value, b)
    .receive([](replica_ack&) { FAIL() << "stored a tenant it owns"; },
             [](caf::error& err) {
               EXPECT_EQ(wi::code_of(err), wi::errc::tenant_unavailable);
             });
  EXPECT_FALSE(store_->info("t1").has_value()); // nothing of the batch

  replica_base base;
  base.tenant = "t1";
  base.epoch = 1;
  base.covered_seq = 2;
  base.snapshot = "snap";
  self_->request(keeper_, reply_timeout, replica_base_atom::value, base)
    .receive([](replica_info& info) { EXPECT_TRUE(info.complete); },
             [](caf::error& err) { FAIL() << to_string(err); });
  b.slices.pop_back();
  self_->request(keeper_, reply_timeout, replicate_atom::value, b)
    .receive(
      [](replica_ack& ack) {
        EXPECT_EQ(ack.decoded(), std::vector{slice_result::stored});
      },
      [](caf::error& err) { FAIL() << to_string(err); });
  auto info = store_->info("t1");
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->complete);
  EXPECT_EQ(info->last_seq, 3u);
}

TEST_F(replica_keeper_test, batches_and_acks_cross_the_wire_unchanged) {
  replica_batch b{"owner", {slice("t1", 4, 7), slice("t2", 0, 8)}};
  b.slices[0].payloads.emplace_back("t1/e1", std::string{"\0body", 5});
  b.slices[0].erased_payloads.push_back("t1/e0");
  auto ack = replica_ack::of(
    {slice_result::stored, slice_result::gap, slice_result::stale_epoch});
  std::vector<char> buf;
  caf::binary_serializer sink{sys_, buf};
  ASSERT_FALSE(sink(b, ack));
  replica_batch b2;
  replica_ack ack2;
  caf::binary_deserializer source{sys_, buf};
  ASSERT_FALSE(source(b2, ack2));
  EXPECT_EQ(b2.from, "owner");
  ASSERT_EQ(b2.slices.size(), 2u);
  EXPECT_EQ(b2.slices[0].tenant, "t1");
  EXPECT_EQ(b2.slices[0].epoch, 1u);
  EXPECT_EQ(b2.slices[0].prev_seq, 4u);
  EXPECT_EQ(b2.slices[0].records, b.slices[0].records);
  EXPECT_EQ(b2.slices[0].payloads, b.slices[0].payloads);
  EXPECT_EQ(b2.slices[0].erased_payloads, b.slices[0].erased_payloads);
  EXPECT_EQ(b2.slices[1].records, b.slices[1].records);
  EXPECT_EQ(ack2.decoded(),
            (std::vector{slice_result::stored, slice_result::gap,
                         slice_result::stale_epoch}));
  // A result this build does not know is not trusted.
  ack2.results.push_back(77);
  EXPECT_EQ(ack2.decoded().back(), slice_result::gap);
}
