#include "persistence/replica_store.hpp"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "webhook_ingress/error.hpp"

using namespace wi::persistence;

namespace {

class replica_store_test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
      (std::filesystem::temp_directory_path() / "wi-replica-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    open();
  }

  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void open() {
    store_.reset();
    auto s = open_replica_store(dir_ + "/replica");
    ASSERT_TRUE(s) << to_string(s.error());
    store_ = std::move(*s);
  }

  static replica_slice slice(std::string tenant, uint64_t epoch, uint64_t prev,
                             std::vector<uint64_t> seqs) {
    replica_slice s;
    s.tenant = std::move(tenant);
    s.epoch = epoch;
    s.prev_seq = prev;
    for (auto seq : seqs)
      s.records.emplace_back(seq, "rec" + std::to_string(seq));
    return s;
  }

  static replica_base base(std::string tenant, uint64_t epoch,
                           uint64_t covered) {
    replica_base b;
    b.tenant = std::move(tenant);
    b.epoch = epoch;
    b.covered_seq = covered;
    b.registry = "registry of " + b.tenant;
    b.snapshot = "snapshot@" + std::to_string(covered);
    return b;
  }

  std::vector<uint64_t> seqs_of(const std::string& tenant) {
    auto copy = store_->read(tenant);
    EXPECT_TRUE(copy);
    std::vector<uint64_t> result;
    if (copy && *copy)
      for (const auto& [seq, bytes] : (*copy)->records) {
        EXPECT_EQ(bytes, "rec" + std::to_string(seq));
        result.push_back(seq);
      }
    return result;
  }

  std::string dir_;
  std::unique_ptr<replica_store> store_;
};

} // namespace

TEST_F(replica_store_test, batches_and_base_rebuild_the_tenant_after_reopen) {
  // Live batches arrive before the base (the fill starts them first).
  auto a = slice("t1", 1, 4, {7, 9});
  a.payloads.emplace_back("t1/e1", "body one");
  auto b = slice("t2", 1, 0, {8});
  auto r = store_->write({a, b});
  ASSERT_TRUE(r) << to_string(r.error());
  EXPECT_EQ(*r, (std::vector{slice_result::stored, slice_result::stored}));
  EXPECT_FALSE(store_->info("t1")->complete);

  auto base1 = base("t1", 1, 5);
  base1.payloads.emplace_back("t1/e0", "body zero");
  auto info = store_->put_base(base1);
  ASSERT_TRUE(info) << to_string(info.error());
  // Record 7 follows 4 (covered by the base at 5): nothing missing.
  EXPECT_TRUE(info->complete);
  EXPECT_EQ(info->covered_seq, 5u);
  EXPECT_EQ(info->last_seq, 9u);
  EXPECT_EQ(info->records, 2u);

  ASSERT_TRUE(store_->write({slice("t1", 1, 9, {12})}));
  open(); // durable and found again
  info = *store_->info("t1");
  EXPECT_TRUE(info->complete);
  EXPECT_EQ(info->last_seq, 12u);
  EXPECT_EQ(seqs_of("t1"), (std::vector<uint64_t>{7, 9, 12}));
  auto copy = *store_->read("t1");
  ASSERT_TRUE(copy.has_value());
  EXPECT_EQ(copy->base.registry, "registry of t1");
  EXPECT_EQ(copy->base.snapshot, "snapshot@5");
  EXPECT_EQ(copy->base.payloads,
            (std::vector<std::pair<std::string, std::string>>{
              {"t1/e0", "body zero"}, {"t1/e1", "body one"}}));
  EXPECT_EQ(seqs_of("t2"), (std::vector<uint64_t>{8}));
  EXPECT_EQ(store_->tenants(), (std::vector<std::string>{"t1", "t2"}));
}

TEST_F(replica_store_test,
       a_base_drops_what_it_covers_and_repeats_are_skipped) {
  ASSERT_TRUE(store_->put_base(base("t1", 2, 10)));
  ASSERT_TRUE(store_->write({slice("t1", 2, 10, {11, 13})}));
  // The owner resends a batch it had no answer for: nothing doubles.
  auto r = store_->write({slice("t1", 2, 10, {11, 13})});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->front(), slice_result::stored);
  EXPECT_EQ(seqs_of("t1"), (std::vector<uint64_t>{11, 13}));
  // A newer base of the same epoch replaces the records it covers.
  auto info = store_->put_base(base("t1", 2, 11));
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->complete);
  EXPECT_EQ(seqs_of("t1"), (std::vector<uint64_t>{13}));
  EXPECT_EQ((*store_->read("t1"))->base.snapshot, "snapshot@11");
}

TEST_F(replica_store_test, a_gap_makes_the_copy_incomplete) {
  ASSERT_TRUE(store_->put_base(base("t1", 1, 10)));
  auto r = store_->write({slice("t1", 1, 12, {14})}); // record 12 missing
  ASSERT_TRUE(r);
  EXPECT_EQ(r->front(), slice_result::gap);
  EXPECT_FALSE(store_->info("t1")->complete);
  // A base past the gap makes it whole again.
  auto info = store_->put_base(base("t1", 1, 12));
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->complete);
  EXPECT_EQ(seqs_of("t1"), (std::vector<uint64_t>{14}));

  // Records before the base with a hole between them: incomplete too.
  ASSERT_TRUE(store_->write({slice("t2", 1, 3, {4}), slice("t2", 1, 6, {8})}));
  EXPECT_FALSE(store_->put_base(base("t2", 1, 4))->complete);
  EXPECT_TRUE(store_->put_base(base("t2", 1, 6))->complete);
}

TEST_F(replica_store_test, an_older_epoch_is_refused_and_a_newer_starts_over) {
  ASSERT_TRUE(store_->put_base(base("t1", 3, 10)));
  ASSERT_TRUE(store_->write({slice("t1", 3, 10, {11})}));
  auto r = store_->write({slice("t1", 2, 11, {12}), slice("t2", 1, 0, {5})});
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector{slice_result::stale_epoch, slice_result::stored}));
  EXPECT_EQ(seqs_of("t1"), (std::vector<uint64_t>{11}));
  auto stale = store_->put_base(base("t1", 2, 20));
  ASSERT_FALSE(stale);
  EXPECT_EQ(wi::code_of(stale.error()), wi::errc::tenant_unavailable);

  // A new owner (epoch 4) numbers its WAL on its own: the old copy goes.
  ASSERT_TRUE(store_->write({slice("t1", 4, 1, {2})}));
  auto info = *store_->info("t1");
  EXPECT_EQ(info.epoch, 4u);
  EXPECT_FALSE(info.has_base);
  EXPECT_FALSE(info.complete);
  EXPECT_EQ(seqs_of("t1"), (std::vector<uint64_t>{2}));
  EXPECT_EQ((*store_->read("t1"))->base.registry, "");
}

TEST_F(replica_store_test, payloads_follow_their_batches_and_drop_clears_all) {
  auto a = slice("t1", 1, 0, {1});
  a.payloads.emplace_back("t1/e1", "one");
  a.payloads.emplace_back("t1/e2", "two");
  ASSERT_TRUE(store_->write({a}));
  auto b = slice("t1", 1, 1, {2});
  b.erased_payloads.push_back("t1/e1");
  ASSERT_TRUE(store_->write({b}));
  auto copy = *store_->read("t1");
  EXPECT_EQ(
    copy->base.payloads,
    (std::vector<std::pair<std::string, std::string>>{{"t1/e2", "two"}}));
  ASSERT_FALSE(store_->drop("t1"));
  EXPECT_FALSE(store_->info("t1").has_value());
  EXPECT_FALSE((*store_->read("t1")).has_value());
  open();
  EXPECT_TRUE(store_->tenants().empty());
}
