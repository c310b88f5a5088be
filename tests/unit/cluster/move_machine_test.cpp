// The old owner's move state machine (actors/cluster/move_machine.hpp):
// every transition, with a fake clock, no I/O.

#include "actors/cluster/move_machine.hpp"

#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "webhook_ingress/error.hpp"

namespace {

using namespace std::chrono_literals;
using namespace wi::cluster;
namespace ev = wi::cluster::move_events;
namespace fx = wi::cluster::move_effects;
using clock_point = std::chrono::steady_clock::time_point;

const clock_point t0{std::chrono::seconds{1000}};

placement_record key(std::string owner, uint64_t epoch, int64_t rev) {
  return {{std::move(owner), epoch}, rev};
}

template <class T>
bool is(const move_effect& e) {
  return std::holds_alternative<T>(e);
}

/// The names of the effects, in order, for readable expectations.
std::vector<std::string> names(const std::vector<move_effect>& effects) {
  std::vector<std::string> result;
  for (const auto& e : effects)
    result.push_back(std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, fx::read_placement>)
          return "read_placement";
        else if constexpr (std::is_same_v<T, fx::freeze>)
          return "freeze";
        else if constexpr (std::is_same_v<T, fx::ship>)
          return "ship";
        else if constexpr (std::is_same_v<T, fx::note_placement>)
          return "note_placement";
        else if constexpr (std::is_same_v<T, fx::release>)
          return "release";
        else if constexpr (std::is_same_v<T, fx::abort_txn>)
          return "abort_txn";
        else if constexpr (std::is_same_v<T, fx::thaw>)
          return "thaw";
        else if constexpr (std::is_same_v<T, fx::tell_discard>)
          return "tell_discard";
        else if constexpr (std::is_same_v<T, fx::retry_after>)
          return "retry_after";
        else
          return "finish";
      },
      e));
  return result;
}

using strings = std::vector<std::string>;

/// A machine moving "t1" from "a" to "b", through freeze and ship: it waits
/// for the answer, key read at epoch 3, mod_revision 40.
move_machine shipped() {
  auto [m, first] = start_move("t1", "a", "b", {5s, 500ms}, t0);
  EXPECT_EQ(names(first), strings{"read_placement"});
  EXPECT_EQ(m.state, move_state::freezing);
  auto e1 = step(m, ev::placement_read{key("a", 3, 40)}, t0);
  EXPECT_EQ(names(e1), strings{"freeze"});
  EXPECT_EQ(m.state, move_state::freezing);
  auto e2 = step(m, ev::frozen{1234}, t0 + 10ms);
  EXPECT_EQ(names(e2), strings{"ship"});
  const auto& s = std::get<fx::ship>(e2.front());
  EXPECT_EQ(s.epoch, 3u);
  EXPECT_EQ(s.mod_revision, 40);
  EXPECT_EQ(s.timeout, 5s);
  EXPECT_EQ(m.state, move_state::shipping);
  EXPECT_EQ(m.bytes, 1234u);
  return m;
}

const caf::error& finish_error(const std::vector<move_effect>& effects) {
  return std::get<fx::finish>(effects.back()).err;
}

TEST(move_machine, the_new_owner_commits_and_the_old_one_releases) {
  auto m = shipped();
  auto e = step(m, ev::answered{true, {}}, t0 + 20ms);
  ASSERT_EQ(names(e), (strings{"note_placement", "release"}));
  EXPECT_EQ(std::get<fx::note_placement>(e[0]).value.owner, "b");
  EXPECT_EQ(std::get<fx::note_placement>(e[0]).value.epoch, 4u);
  EXPECT_EQ(m.state, move_state::releasing);
  auto end = step(m, ev::released{}, t0 + 30ms);
  ASSERT_EQ(names(end), strings{"finish"});
  EXPECT_FALSE(finish_error(end));
  EXPECT_EQ(m.state, move_state::done);
  EXPECT_TRUE(m.over());
  EXPECT_EQ(m.finished - m.started, 30ms);
}

TEST(move_machine, a_release_that_failed_still_ends_done) {
  auto m = shipped();
  (void)step(m, ev::answered{true, {}}, t0);
  auto end = step(m, ev::released{wi::make_error(wi::errc::internal, "x")}, t0);
  EXPECT_EQ(names(end), strings{"finish"});
  EXPECT_EQ(m.state, move_state::done);
}

TEST(move_machine, a_missing_key_or_another_owner_refuses_before_freezing) {
  {
    auto [m, first] = start_move("t1", "a", "b", {}, t0);
    auto e = step(m, ev::placement_read{std::nullopt}, t0);
    ASSERT_EQ(names(e), strings{"finish"});
    EXPECT_EQ(wi::code_of(finish_error(e)), wi::errc::validation_failed);
    EXPECT_EQ(m.state, move_state::aborted);
  }
  {
    auto [m, first] = start_move("t1", "a", "b", {}, t0);
    auto e = step(m, ev::placement_read{key("c", 2, 9)}, t0);
    ASSERT_EQ(names(e), strings{"finish"});
    EXPECT_NE(wi::text_of(finish_error(e)).find("owned by c"),
              std::string::npos);
    EXPECT_EQ(m.state, move_state::aborted);
  }
}

TEST(move_machine, etcd_unreachable_at_the_start_refuses_the_move) {
  auto [m, first] = start_move("t1", "a", "b", {}, t0);
  auto e = step(m,
                ev::etcd_failed{wi::make_error(wi::errc::storage_unavailable,
                                               "etcd", "down")},
                t0);
  ASSERT_EQ(names(e), strings{"finish"});
  EXPECT_EQ(wi::code_of(finish_error(e)), wi::errc::storage_unavailable);
  EXPECT_EQ(m.state, move_state::aborted);
}

TEST(move_machine, a_failed_freeze_aborts_without_thaw) {
  auto [m, first] = start_move("t1", "a", "b", {}, t0);
  (void)step(m, ev::placement_read{key("a", 1, 5)}, t0);
  auto e = step(
    m, ev::freeze_failed{wi::make_error(wi::errc::not_found, "tenant", "no")},
    t0);
  ASSERT_EQ(names(e), strings{"finish"});
  EXPECT_EQ(wi::code_of(finish_error(e)), wi::errc::not_found);
  EXPECT_EQ(m.state, move_state::aborted);
}

TEST(move_machine, a_refusal_resolves_through_etcd_and_aborts_with_a_fence) {
  auto m = shipped();
  auto e1 = step(m, ev::answered{false, "import failed"}, t0);
  ASSERT_EQ(names(e1), strings{"read_placement"});
  EXPECT_EQ(m.state, move_state::committing);
  // The key is unchanged: the abort transaction fences the new node out.
  auto e2 = step(m, ev::resolved{key("a", 3, 40)}, t0);
  ASSERT_EQ(names(e2), strings{"abort_txn"});
  EXPECT_EQ(std::get<fx::abort_txn>(e2[0]).mod_revision, 40);
  EXPECT_EQ(std::get<fx::abort_txn>(e2[0]).epoch, 4u);
  auto e3 = step(m, ev::abort_done{true}, t0);
  ASSERT_EQ(names(e3), (strings{"note_placement", "tell_discard", "thaw"}));
  EXPECT_EQ(std::get<fx::note_placement>(e3[0]).value.owner, "a");
  EXPECT_EQ(std::get<fx::note_placement>(e3[0]).value.epoch, 4u);
  EXPECT_EQ(std::get<fx::tell_discard>(e3[1]).epoch, 4u);
  auto e4 = step(m, ev::thawed{}, t0);
  ASSERT_EQ(names(e4), strings{"finish"});
  EXPECT_NE(wi::text_of(finish_error(e4)).find("import failed"),
            std::string::npos);
  EXPECT_EQ(m.state, move_state::aborted);
}

TEST(move_machine, a_timeout_resolves_and_finds_the_commit_landed) {
  auto m = shipped();
  auto e1 = step(m, ev::timed_out{}, t0 + 5s);
  ASSERT_EQ(names(e1), strings{"read_placement"});
  auto e2 = step(m, ev::resolved{key("b", 4, 41)}, t0 + 5s);
  ASSERT_EQ(names(e2), (strings{"note_placement", "release"}));
  EXPECT_EQ(m.state, move_state::releasing);
  // The late answer and a second timeout change nothing.
  EXPECT_TRUE(step(m, ev::answered{true, {}}, t0 + 6s).empty());
  EXPECT_TRUE(step(m, ev::timed_out{}, t0 + 6s).empty());
  EXPECT_EQ(names(step(m, ev::released{}, t0 + 6s)), strings{"finish"});
  EXPECT_EQ(m.state, move_state::done);
}

TEST(move_machine, a_late_commit_beats_the_abort_transaction) {
  auto m = shipped();
  (void)step(
    m, ev::ship_failed{wi::make_error(wi::errc::tenant_unavailable, "down")},
    t0);
  auto e1 = step(m, ev::resolved{key("a", 3, 40)}, t0);
  ASSERT_EQ(names(e1), strings{"abort_txn"});
  // The new node's commit landed between the read and the abort: the
  // abort's guard fails, the key is read again and names the new node.
  auto e2 = step(m, ev::abort_done{false}, t0);
  ASSERT_EQ(names(e2), strings{"read_placement"});
  auto e3 = step(m, ev::resolved{key("b", 4, 41)}, t0);
  ASSERT_EQ(names(e3), (strings{"note_placement", "release"}));
  EXPECT_EQ(m.state, move_state::releasing);
}

TEST(move_machine, an_abort_whose_answer_was_lost_is_found_in_etcd) {
  auto m = shipped();
  (void)step(m, ev::timed_out{}, t0);
  (void)step(m, ev::resolved{key("a", 3, 40)}, t0);
  // The abort transaction's answer is lost: read again, after a pause.
  auto e1 = step(m,
                 ev::etcd_failed{wi::make_error(wi::errc::storage_unavailable,
                                                "etcd", "timeout")},
                 t0);
  ASSERT_EQ(names(e1), strings{"retry_after"});
  EXPECT_EQ(std::get<fx::retry_after>(e1[0]).delay, 500ms);
  EXPECT_EQ(m.state, move_state::committing);
  EXPECT_TRUE(step(m, ev::abort_done{true}, t0).empty()); // not waited for
  auto e2 = step(m, ev::retry_due{}, t0 + 500ms);
  ASSERT_EQ(names(e2), strings{"read_placement"});
  // It had landed: owner a, a newer revision.
  auto e3 = step(m, ev::resolved{key("a", 4, 41)}, t0 + 500ms);
  ASSERT_EQ(names(e3), (strings{"note_placement", "tell_discard", "thaw"}));
  EXPECT_EQ(std::get<fx::note_placement>(e3[0]).value.epoch, 4u);
  EXPECT_EQ(names(step(m, ev::thawed{}, t0 + 600ms)), strings{"finish"});
  EXPECT_EQ(m.state, move_state::aborted);
}

TEST(move_machine,
     etcd_away_while_resolving_keeps_the_tenant_frozen_and_retries) {
  auto m = shipped();
  (void)step(m, ev::timed_out{}, t0);
  for (int i = 0; i < 3; ++i) {
    auto e = step(m,
                  ev::etcd_failed{wi::make_error(wi::errc::storage_unavailable,
                                                 "etcd", "down")},
                  t0);
    ASSERT_EQ(names(e), strings{"retry_after"});
    EXPECT_FALSE(m.over());
    ASSERT_EQ(names(step(m, ev::retry_due{}, t0)), strings{"read_placement"});
  }
  EXPECT_EQ(names(step(m, ev::resolved{key("b", 4, 41)}, t0)),
            (strings{"note_placement", "release"}));
}

TEST(move_machine, a_third_owner_while_resolving_gives_up_without_thawing) {
  auto m = shipped();
  (void)step(m, ev::timed_out{}, t0);
  auto e = step(m, ev::resolved{key("c", 9, 50)}, t0);
  ASSERT_EQ(names(e), strings{"finish"});
  EXPECT_EQ(wi::code_of(finish_error(e)), wi::errc::internal);
  EXPECT_EQ(m.state, move_state::aborted);
  e = step(m, ev::resolved{std::nullopt}, t0);
  EXPECT_TRUE(e.empty());
}

TEST(move_machine, events_out_of_turn_change_nothing) {
  auto [m, first] = start_move("t1", "a", "b", {}, t0);
  EXPECT_TRUE(step(m, ev::frozen{1}, t0).empty());
  EXPECT_TRUE(step(m, ev::answered{true, {}}, t0).empty());
  EXPECT_TRUE(step(m, ev::timed_out{}, t0).empty());
  EXPECT_TRUE(step(m, ev::resolved{key("b", 2, 2)}, t0).empty());
  EXPECT_TRUE(step(m, ev::abort_done{true}, t0).empty());
  EXPECT_TRUE(step(m, ev::released{}, t0).empty());
  EXPECT_TRUE(step(m, ev::thawed{}, t0).empty());
  EXPECT_TRUE(step(m, ev::retry_due{}, t0).empty());
  EXPECT_EQ(m.state, move_state::freezing);
  EXPECT_EQ(m.waiting, move_wait::placement);
}

TEST(move_machine, the_new_owner_decides_from_the_key_alone) {
  EXPECT_EQ(decide_incoming("b", key("b", 4, 41)), incoming_verdict::activate);
  EXPECT_EQ(decide_incoming("b", key("a", 4, 41)), incoming_verdict::discard);
  EXPECT_EQ(decide_incoming("b", std::nullopt), incoming_verdict::discard);
}

} // namespace
