#include "persistence/wal_writer.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <gtest/gtest.h>

#include "webhook_ingress/error.hpp"

using namespace wi;
using namespace std::chrono_literals;
using wi::persistence::memory_storage;
using wi::persistence::spawn_wal_writer;
using wi::persistence::storage;
using wi::persistence::wal_writer_config;

namespace {

constexpr auto reply_timeout = std::chrono::seconds(30);

/// A storage in front of a `memory_storage` that records each batch's size,
/// can hold `append` at a gate (to pin down what arrives during a "sync"),
/// and can add a fixed latency to every append (a stand-in for fsync).
class test_storage : public storage {
 public:
  explicit test_storage(std::chrono::microseconds latency = {})
    : latency_(latency) {}

  /// The next appends block until `open_gate`.
  void close_gate() {
    std::lock_guard guard{mtx_};
    gate_open_ = false;
  }

  void open_gate() {
    {
      std::lock_guard guard{mtx_};
      gate_open_ = true;
    }
    cv_.notify_all();
  }

  /// Blocks until an append waits at the closed gate.
  void wait_until_blocked() {
    std::unique_lock guard{mtx_};
    cv_.wait(guard, [this] { return blocked_ > 0; });
  }

  std::vector<size_t> batch_sizes() const {
    std::lock_guard guard{mtx_};
    return sizes_;
  }

  memory_storage& inner() { return inner_; }

  caf::expected<uint64_t>
  append(const std::vector<std::string>& records) override {
    {
      std::unique_lock guard{mtx_};
      ++blocked_;
      cv_.notify_all();
      cv_.wait(guard, [this] { return gate_open_; });
      --blocked_;
    }
    if (latency_.count() > 0)
      std::this_thread::sleep_for(latency_);
    auto res = inner_.append(records);
    if (res) {
      std::lock_guard guard{mtx_};
      sizes_.push_back(records.size());
    }
    return res;
  }

  caf::error replay(
    uint64_t from,
    const std::function<caf::error(uint64_t, std::string_view)>& f) override {
    return inner_.replay(from, f);
  }

  uint64_t last_sequence() const override { return inner_.last_sequence(); }

  uint64_t first_sequence() const override { return inner_.first_sequence(); }

  caf::error purge_owner(std::string_view owner) override {
    return inner_.purge_owner(owner);
  }

  caf::error truncate_wal(uint64_t below) override {
    return inner_.truncate_wal(below);
  }

  caf::error put_snapshot(std::string_view owner, uint64_t covered,
                          std::string_view bytes) override {
    return inner_.put_snapshot(owner, covered, bytes);
  }

  caf::error load_snapshots(
    const std::function<caf::error(std::string_view, uint64_t,
                                   std::string_view)>& f) override {
    return inner_.load_snapshots(f);
  }

  caf::expected<std::optional<std::string>>
  get_meta(std::string_view key) override {
    return inner_.get_meta(key);
  }

  caf::error put_meta(std::string_view key, std::string_view value) override {
    return inner_.put_meta(key, value);
  }

 private:
  std::chrono::microseconds latency_;
  memory_storage inner_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  bool gate_open_ = true;
  int blocked_ = 0;
  std::vector<size_t> sizes_;
};

std::map<uint64_t, std::string> read_all(storage& store) {
  std::map<uint64_t, std::string> out;
  auto err = store.replay(0, [&](uint64_t seq, std::string_view bytes) {
    out.emplace(seq, std::string{bytes});
    return caf::error{};
  });
  EXPECT_FALSE(err) << text_of(err);
  return out;
}

class wal_writer_test : public testing::Test {
 protected:
  void TearDown() override {
    if (writer_)
      caf::anon_send_exit(writer_, caf::exit_reason::user_shutdown);
  }

  /// Sends one append and waits for its answer.
  caf::expected<uint64_t> append(const std::string& record) {
    caf::expected<uint64_t> out = caf::error{};
    self_
      ->request(writer_, reply_timeout, append_atom::value,
                wal_append::one("t1", record))
      .receive([&](uint64_t seq) { out = seq; },
               [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  /// Spawns a writer with `cfg` over `store` and sends it the record "a";
  /// returns the request's handle once the batch of "a" is held at the
  /// store's closed gate (so everything sent next queues up).
  auto spawn_held(const std::shared_ptr<test_storage>& store,
                  wal_writer_config cfg) {
    writer_ = spawn_wal_writer(sys_, store, cfg);
    store->close_gate();
    auto first = self_->request(writer_, reply_timeout, append_atom::value,
                                wal_append::one("t1", std::string{"a"}));
    store->wait_until_blocked();
    return first;
  }

  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};
  caf::scoped_actor self_{sys_};
  wal_writer_actor writer_;
};

/// Collects one pipelined request's answer as a test-friendly value.
struct answer {
  uint64_t seq = 0;
  errc code = errc::none;
};

} // namespace

TEST_F(wal_writer_test, sequential_appends_get_consecutive_numbers) {
  auto store = std::make_shared<memory_storage>();
  writer_ = spawn_wal_writer(sys_, store);
  for (uint64_t want : {1u, 2u, 3u}) {
    auto seq = append("r" + std::to_string(want));
    ASSERT_TRUE(seq) << text_of(seq.error());
    EXPECT_EQ(*seq, want);
  }
  EXPECT_EQ(store->last_sequence(), 3u);
  EXPECT_EQ(store->batches(), 3u); // one at a time: nothing to group
  EXPECT_EQ(read_all(*store),
            (std::map<uint64_t, std::string>{{1, "r1"}, {2, "r2"}, {3, "r3"}}));
}

TEST_F(wal_writer_test, concurrent_appends_are_group_committed) {
  constexpr int clients = 8;
  constexpr int per_client = 200;
  constexpr uint64_t total = clients * per_client;
  // 200 us per batch stands in for an fsync.
  auto store = std::make_shared<test_storage>(200us);
  writer_ = spawn_wal_writer(sys_, store);
  auto report_to = caf::actor_cast<caf::actor>(self_);
  auto client = [](caf::event_based_actor* self, wal_writer_actor writer,
                   int id, caf::actor parent) {
    // Pipelines all appends; answers come back in the order sent.
    auto seqs = std::make_shared<std::vector<uint64_t>>();
    auto failures = std::make_shared<int>(0);
    auto done = [=] {
      if (seqs->size() + static_cast<size_t>(*failures) == per_client)
        self->send(parent, id, *seqs, *failures);
    };
    for (int i = 0; i < per_client; ++i) {
      auto record = "c" + std::to_string(id) + "-" + std::to_string(i);
      self
        ->request(writer, reply_timeout, append_atom::value,
                  wal_append::one("t1", record))
        .then(
          [=](uint64_t seq) {
            seqs->push_back(seq);
            done();
          },
          [=](caf::error&) {
            ++*failures;
            done();
          });
    }
  };
  for (int id = 0; id < clients; ++id)
    sys_.spawn(client, writer_, id, report_to);
  std::vector<uint64_t> all;
  for (int i = 0; i < clients; ++i) {
    self_->receive(
      [&](int id, std::vector<uint64_t>& seqs, int failures) {
        EXPECT_EQ(failures, 0) << "client " << id;
        ASSERT_EQ(seqs.size(), static_cast<size_t>(per_client));
        for (size_t k = 1; k < seqs.size(); ++k)
          EXPECT_LT(seqs[k - 1], seqs[k]) << "client " << id << " at " << k;
        auto stored = read_all(*store);
        for (size_t k = 0; k < seqs.size(); ++k)
          EXPECT_EQ(stored[seqs[k]],
                    "c" + std::to_string(id) + "-" + std::to_string(k));
        all.insert(all.end(), seqs.begin(), seqs.end());
      },
      caf::after(reply_timeout) >> [] { FAIL() << "a client never reported"; });
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), total);
  for (uint64_t k = 0; k < total; ++k)
    ASSERT_EQ(all[k], k + 1);
  EXPECT_EQ(store->last_sequence(), total);
  auto batches = store->inner().batches();
  EXPECT_LT(batches, total);
  auto sizes = store->batch_sizes();
  EXPECT_EQ(sizes.size(), batches);
  EXPECT_GT(*std::max_element(sizes.begin(), sizes.end()), 1u);
}

TEST_F(wal_writer_test, appends_during_a_sync_form_the_next_batch) {
  auto store = std::make_shared<test_storage>();
  writer_ = spawn_wal_writer(sys_, store);
  store->close_gate();
  auto first = self_->request(writer_, reply_timeout, append_atom::value,
                              wal_append::one("t1", std::string{"a"}));
  store->wait_until_blocked(); // the writer is inside the batch of "a"
  std::vector<std::string> later = {"b", "c", "d", "e"};
  std::vector<decltype(first)> handles;
  for (const auto& x : later)
    handles.push_back(self_->request(writer_, reply_timeout, append_atom::value,
                                     wal_append::one("t1", x)));
  store->open_gate();
  auto collect = [&](auto& handle) {
    answer out;
    handle.receive([&](uint64_t seq) { out.seq = seq; },
                   [&](caf::error& err) { out.code = code_of(err); });
    return out;
  };
  EXPECT_EQ(collect(first).seq, 1u);
  for (size_t i = 0; i < handles.size(); ++i) {
    auto res = collect(handles[i]);
    EXPECT_EQ(res.code, errc::none);
    EXPECT_EQ(res.seq, i + 2);
  }
  EXPECT_EQ(store->batch_sizes(), (std::vector<size_t>{1, 4}));
}

TEST_F(wal_writer_test, splits_batches_at_max_batch) {
  auto store = std::make_shared<test_storage>();
  wal_writer_config cfg;
  cfg.max_batch = 2;
  auto first = spawn_held(store, cfg);
  std::vector<decltype(first)> handles;
  for (const auto& x : {"b", "c", "d", "e", "f"})
    handles.push_back(self_->request(writer_, reply_timeout, append_atom::value,
                                     wal_append::one("t1", std::string{x})));
  store->open_gate();
  uint64_t got = 0;
  first.receive([&](uint64_t seq) { got = seq; },
                [&](caf::error& err) { FAIL() << text_of(err); });
  EXPECT_EQ(got, 1u);
  for (size_t i = 0; i < handles.size(); ++i) {
    handles[i].receive([&](uint64_t seq) { got = seq; },
                       [&](caf::error& err) { FAIL() << text_of(err); });
    EXPECT_EQ(got, i + 2);
  }
  EXPECT_EQ(store->batch_sizes(), (std::vector<size_t>{1, 2, 2, 1}));
  EXPECT_EQ(read_all(*store),
            (std::map<uint64_t, std::string>{
              {1, "a"}, {2, "b"}, {3, "c"}, {4, "d"}, {5, "e"}, {6, "f"}}));
}

TEST_F(wal_writer_test, appends_of_several_records_are_never_split) {
  auto store = std::make_shared<test_storage>();
  wal_writer_config cfg;
  cfg.max_batch = 3;
  auto first = spawn_held(store, cfg);
  using strings = std::vector<std::string>;
  // Queued: [b c] [d e f g] (more than max_batch: alone) [h] [i j].
  std::vector<decltype(first)> handles;
  for (const auto& xs : {strings{"b", "c"}, strings{"d", "e", "f", "g"},
                         strings{"h"}, strings{"i", "j"}})
    handles.push_back(
      self_->request(writer_, reply_timeout, append_atom::value,
                     wal_append{"t1", xs, {}, {}, {}, {}, {}, false}));
  store->open_gate();
  std::vector<uint64_t> firsts;
  for (auto* h : {&first, &handles[0], &handles[1], &handles[2], &handles[3]})
    h->receive([&](uint64_t seq) { firsts.push_back(seq); },
               [&](caf::error& err) { FAIL() << text_of(err); });
  EXPECT_EQ(firsts, (std::vector<uint64_t>{1, 2, 4, 8, 9}));
  EXPECT_EQ(store->batch_sizes(), (std::vector<size_t>{1, 2, 4, 3}));
  EXPECT_EQ(read_all(*store), (std::map<uint64_t, std::string>{{1, "a"},
                                                               {2, "b"},
                                                               {3, "c"},
                                                               {4, "d"},
                                                               {5, "e"},
                                                               {6, "f"},
                                                               {7, "g"},
                                                               {8, "h"},
                                                               {9, "i"},
                                                               {10, "j"}}));
}

TEST_F(wal_writer_test, an_append_deletes_payloads_in_its_batch) {
  auto store = std::make_shared<memory_storage>();
  writer_ = spawn_wal_writer(sys_, store);
  auto send = [&](std::string record, auto keys, std::string payload = {}) {
    auto req = wal_append::one("t1", std::move(record));
    if constexpr (std::is_same_v<decltype(keys), std::string>) {
      req.payload_key = std::move(keys);
      req.payload = std::move(payload);
    } else {
      req.erased_payloads = std::move(keys);
    }
    caf::expected<uint64_t> out = caf::error{};
    self_->request(writer_, reply_timeout, append_atom::value, std::move(req))
      .receive([&](uint64_t seq) { out = seq; },
               [&](caf::error& err) { out = std::move(err); });
    return out;
  };
  ASSERT_TRUE(send(std::string{"a"}, std::string{"t1/e1"}, std::string{"p1"}));
  ASSERT_TRUE(send(std::string{"b"}, std::string{"t1/e2"}, std::string{"p2"}));
  auto batches = store->batches();
  auto seq =
    send(std::string{"c"}, std::vector<std::string>{"t1/e1", "t1/missing"});
  ASSERT_TRUE(seq) << text_of(seq.error());
  EXPECT_EQ(*seq, 3u);
  EXPECT_EQ(store->batches(), batches + 1); // record and deletes: one batch
  EXPECT_EQ(*store->get_payload("t1/e1"), std::nullopt);
  EXPECT_EQ(*store->get_payload("t1/e2"), std::optional<std::string>{"p2"});
  // A failed append deletes nothing.
  store->fail_writes(true);
  EXPECT_FALSE(send(std::string{"d"}, std::vector<std::string>{"t1/e2"}));
  store->fail_writes(false);
  EXPECT_EQ(*store->get_payload("t1/e2"), std::optional<std::string>{"p2"});
}

TEST_F(wal_writer_test, refuses_an_append_without_records) {
  auto store = std::make_shared<memory_storage>();
  writer_ = spawn_wal_writer(sys_, store);
  answer out;
  self_
    ->request(writer_, reply_timeout, append_atom::value,
              wal_append{"t1", {}, {}, {}, {}, {}, {}, false})
    .receive([&](uint64_t seq) { out.seq = seq; },
             [&](caf::error& err) { out.code = code_of(err); });
  EXPECT_EQ(out.code, errc::internal);
  EXPECT_EQ(store->last_sequence(), 0u);
}

TEST_F(wal_writer_test, rejects_appends_beyond_max_pending) {
  auto store = std::make_shared<test_storage>();
  wal_writer_config cfg;
  cfg.max_pending = 2;
  auto first = spawn_held(store, cfg); // "a" left the queue: it is empty
  std::vector<decltype(first)> handles;
  for (const auto& x : {"b", "c", "d"})
    handles.push_back(self_->request(writer_, reply_timeout, append_atom::value,
                                     wal_append::one("t1", std::string{x})));
  store->open_gate();
  std::vector<answer> answers;
  for (auto* h : {&first, &handles[0], &handles[1], &handles[2]}) {
    answer out;
    h->receive([&](uint64_t seq) { out.seq = seq; },
               [&](caf::error& err) { out.code = code_of(err); });
    answers.push_back(out);
  }
  EXPECT_EQ(answers[0].seq, 1u);
  EXPECT_EQ(answers[1].seq, 2u);
  EXPECT_EQ(answers[2].seq, 3u);
  EXPECT_EQ(answers[3].code, errc::overloaded);
  EXPECT_EQ(answers[3].seq, 0u);
  EXPECT_EQ(store->batch_sizes(), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(read_all(*store),
            (std::map<uint64_t, std::string>{{1, "a"}, {2, "b"}, {3, "c"}}));
}

TEST_F(wal_writer_test, failed_writes_fail_every_append_then_recover) {
  auto store = std::make_shared<memory_storage>();
  writer_ = spawn_wal_writer(sys_, store);
  store->fail_writes(true);
  for (int i = 0; i < 3; ++i) {
    auto seq = append("lost" + std::to_string(i));
    ASSERT_FALSE(seq);
    EXPECT_EQ(code_of(seq.error()), errc::storage_unavailable);
  }
  // A pipelined burst fails as a whole, too.
  std::vector<decltype(self_->request(writer_, reply_timeout,
                                      append_atom::value,
                                      wal_append::one("t1", std::string{})))>
    handles;
  for (int i = 0; i < 20; ++i)
    handles.push_back(
      self_->request(writer_, reply_timeout, append_atom::value,
                     wal_append::one("t1", "burst" + std::to_string(i))));
  for (auto& h : handles) {
    errc code = errc::none;
    h.receive([&](uint64_t) { code = errc::none; },
              [&](caf::error& err) { code = code_of(err); });
    EXPECT_EQ(code, errc::storage_unavailable);
  }
  EXPECT_EQ(store->last_sequence(), 0u);
  EXPECT_EQ(store->batches(), 0u);
  EXPECT_TRUE(read_all(*store).empty());
  store->fail_writes(false);
  for (uint64_t want : {1u, 2u}) {
    auto seq = append("kept" + std::to_string(want));
    ASSERT_TRUE(seq) << text_of(seq.error());
    EXPECT_EQ(*seq, want);
  }
  EXPECT_EQ(read_all(*store),
            (std::map<uint64_t, std::string>{{1, "kept1"}, {2, "kept2"}}));
}

TEST_F(wal_writer_test, answers_queued_appends_when_stopped) {
  auto store = std::make_shared<test_storage>();
  writer_ = spawn_wal_writer(sys_, store);
  store->close_gate();
  auto first = self_->request(writer_, reply_timeout, append_atom::value,
                              wal_append::one("t1", std::string{"a"}));
  store->wait_until_blocked();
  auto second = self_->request(writer_, reply_timeout, append_atom::value,
                               wal_append::one("t1", std::string{"b"}));
  caf::anon_send_exit(writer_, caf::exit_reason::user_shutdown);
  store->open_gate();
  answer a;
  first.receive([&](uint64_t seq) { a.seq = seq; },
                [&](caf::error& err) { a.code = code_of(err); });
  answer b;
  second.receive([&](uint64_t seq) { b.seq = seq; },
                 [&](caf::error& err) { b.code = code_of(err); });
  EXPECT_EQ(a.code, errc::none);
  EXPECT_EQ(a.seq, 1u);
  EXPECT_EQ(b.code, errc::storage_unavailable);
  EXPECT_EQ(b.seq, 0u);
  EXPECT_EQ(read_all(*store), (std::map<uint64_t, std::string>{{1, "a"}}));
}
