// Tests of the harness itself: the checker flags every kind of lost or
// invented state, and accepts every outcome an unanswered request allows.

#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <gtest/gtest.h>

#include "crash/history.hpp"
#include "crash/options.hpp"

using wi_crash::check_result;
using wi_crash::history;
using wi_crash::observation;
using wi_crash::planned_op;
namespace json = boost::json;

namespace {

/// 2026-01-01T00:00:00Z.
constexpr int64_t t0 = 1767225600;
constexpr const char* t0_text = "2026-01-01T00:00:00Z";

/// One acknowledged tenant `T1`; endpoints are created, changed and observed
/// through the history's own interface.
class checker : public ::testing::Test {
 protected:
  void SetUp() override {
    auto op = h.plan(rng, t0, planned_op::create_tenant);
    h.ack_tenant(op, "T1", "wi_T1_token", t0_text);
  }

  /// An endpoint create, acknowledged with `id`.
  size_t acked_create(int64_t id) {
    auto op = h.plan(rng, t0, planned_op::create_endpoint);
    h.ack_endpoint(op, id, t0_text, shown(op.index, "active"));
    return op.index;
  }

  /// An endpoint create that got no answer.
  size_t unanswered_create() {
    auto op = h.plan(rng, t0, planned_op::create_endpoint);
    h.unanswered(op);
    return op.index;
  }

  /// A status change of endpoint `index`, acknowledged or not.
  void change(size_t index, const std::string& status, bool acked) {
    planned_op op;
    // The random pick may choose another endpoint or a create: retry.
    for (;;) {
      op = h.plan(rng, t0, planned_op::set_status);
      if (op.kind == planned_op::set_status && op.index == index)
        break;
      if (op.kind == planned_op::create_endpoint) {
        h.unanswered(op); // absent from every observation below
        continue;
      }
      // Another endpoint: leave it unchanged by acknowledging its own status.
      op.status = h.endpoints()[op.index].baseline;
      h.ack_status(op);
    }
    op.status = status;
    if (acked)
      h.ack_status(op);
    else
      h.unanswered(op);
  }

  /// Endpoint `index` as the server would show it, with `status`.
  json::object shown(size_t index, const std::string& status) const {
    const auto& e = h.endpoints()[index];
    auto result = wi_crash::to_json(e.spec);
    if (!result.contains("headers"))
      result["headers"] = json::object{};
    result["identifier"] = e.id;
    result["status"] = status;
    result["create_timestamp"] = t0_text;
    result["last_modified"] = t0_text;
    return result;
  }

  /// An observation of `T1` with these endpoints.
  observation with(std::vector<json::object> items) const {
    observation obs;
    obs.tenants.push_back({"T1", h.tenants()[0].name, t0_text, true});
    auto& view = obs.views["T1"];
    view.list_status = items.empty() ? 204 : 200;
    view.next_status = 404;
    view.items = std::move(items);
    return obs;
  }

  check_result check(const observation& obs) {
    return h.check(obs, t0 + 5, wi_crash::check_after::restart);
  }

  history h;
  std::mt19937_64 rng{7};
};

} // namespace

TEST_F(checker, accepts_exactly_the_acknowledged_state) {
  auto a = acked_create(1);
  auto b = acked_create(2);
  change(b, "inactive", true);
  auto result = check(with({shown(a, "active"), shown(b, "inactive")}));
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(result.violations)
                           << ::testing::PrintToString(result.lost);
}

TEST_F(checker, flags_a_missing_acknowledged_endpoint) {
  auto a = acked_create(1);
  acked_create(2);
  auto result = check(with({shown(a, "active")}));
  EXPECT_EQ(result.lost.size(), 1u);
}

TEST_F(checker, flags_a_changed_field) {
  auto a = acked_create(1);
  auto ep = shown(a, "active");
  ep["secret"] = "another-secret";
  EXPECT_EQ(check(with({ep})).lost.size(), 1u);
}

TEST_F(checker, flags_a_changed_create_timestamp) {
  auto a = acked_create(1);
  auto ep = shown(a, "active");
  ep["create_timestamp"] = "2026-01-01T00:00:01Z";
  EXPECT_FALSE(check(with({ep})).lost.empty());
}

TEST_F(checker, status_must_be_the_last_acknowledged_one) {
  auto a = acked_create(1);
  change(a, "inactive", true);
  EXPECT_EQ(check(with({shown(a, "active")})).lost.size(), 1u);
}

TEST_F(checker, unanswered_change_allows_both_statuses_then_sticks) {
  auto a = acked_create(1);
  auto b = acked_create(2);
  change(a, "inactive", true);
  change(a, "active", false);
  change(b, "inactive", false);
  auto first = check(with({shown(a, "inactive"), shown(b, "inactive")}));
  EXPECT_TRUE(first.ok()) << ::testing::PrintToString(first.lost);
  // What recovery showed is durable: it may not flip back by itself.
  auto second = check(with({shown(a, "active"), shown(b, "active")}));
  EXPECT_EQ(second.lost.size(), 2u);
}

TEST_F(checker, unanswered_create_may_exist_with_the_sent_fields) {
  auto a = acked_create(1);
  auto u = unanswered_create();
  check(with({shown(a, "active")})); // not there: absent
  auto v = unanswered_create();
  const auto& e = h.endpoints()[v];
  auto ep = shown(v, "active");
  ep["identifier"] = 2;
  auto result = check(with({shown(a, "active"), ep}));
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(result.violations);
  EXPECT_EQ(e.id, 2);
  EXPECT_EQ(h.endpoints()[u].state, wi_crash::fate::absent);
  EXPECT_EQ(e.state, wi_crash::fate::present);
  // Once found, it is as durable as an acknowledged one.
  EXPECT_EQ(check(with({shown(a, "active")})).lost.size(), 1u);
}

TEST_F(checker, unanswered_create_with_other_fields_is_a_violation) {
  auto u = unanswered_create();
  auto ep = shown(u, "active");
  ep["identifier"] = 1;
  ep["event_types"] = json::array{"other.type"};
  EXPECT_EQ(check(with({ep})).violations.size(), 1u);
}

TEST_F(checker, absent_create_must_not_reappear) {
  auto u = unanswered_create();
  EXPECT_TRUE(check(with({})).ok());
  auto ep = shown(u, "active");
  ep["identifier"] = 1;
  EXPECT_EQ(check(with({ep})).violations.size(), 1u);
}

TEST_F(checker, flags_a_gap_in_identifiers) {
  auto a = acked_create(1);
  auto b = acked_create(3); // as if identifier 2 had been skipped
  auto result = check(with({shown(a, "active"), shown(b, "active")}));
  EXPECT_FALSE(result.violations.empty());
}

TEST_F(checker, flags_a_reused_identifier) {
  acked_create(1);
  auto b = acked_create(1);
  auto result = check(with({shown(b, "active")}));
  EXPECT_FALSE(result.ok());
}

TEST_F(checker, flags_a_lost_tenant_and_a_dead_token) {
  auto obs = with({});
  obs.tenants.clear();
  obs.views["T1"].list_status = 401;
  auto result = check(obs);
  EXPECT_EQ(result.lost.size(), 2u);
}

TEST_F(checker, flags_a_phantom_tenant) {
  auto obs = with({});
  obs.tenants.push_back({"T9", "nobody", t0_text, true});
  EXPECT_EQ(check(obs).violations.size(), 1u);
}

TEST_F(checker, unanswered_tenant_create_may_exist) {
  auto op = h.plan(rng, t0, planned_op::create_tenant);
  h.unanswered(op);
  auto obs = with({});
  obs.tenants.push_back({"T2", h.tenants()[op.index].name, t0_text, true});
  EXPECT_TRUE(check(obs).ok());
  EXPECT_EQ(check(with({})).lost.size(), 1u); // found once: now durable
}

namespace {

/// Publishes through the history; acknowledged with `endpoints` deliveries
/// and `duplicate`, or unanswered. Returns the event index.
size_t publish(history& h, std::mt19937_64& rng, bool acked,
               uint64_t endpoints = 2, bool duplicate = false) {
  auto op = h.plan(rng, t0, planned_op::publish);
  EXPECT_EQ(op.kind, planned_op::publish);
  const auto& ev = h.events()[op.index];
  if (!acked) {
    h.unanswered(op);
    return op.index;
  }
  json::object receipt{{"id", "evt_" + std::to_string(op.index)},
                       {"event_type", ev.event_type},
                       {"created_at", t0_text},
                       {"endpoints", endpoints},
                       {"duplicate", duplicate}};
  h.ack_event(op, receipt);
  return op.index;
}

/// Event `index` as `GET /v1/webhook/events/<id>` shows it.
observation::event_view event_shown(const history& h, size_t index) {
  const auto& ev = h.events()[index];
  json::array deliveries;
  for (uint64_t i = 0; i < ev.endpoints; ++i)
    deliveries.push_back(json::object{{"endpoint", i + 1}});
  return {200, json::object{{"id", ev.id},
                            {"event_type", ev.event_type},
                            {"idempotency_key", ev.idempotency_key},
                            {"created_at", ev.created_at},
                            {"deliveries", std::move(deliveries)}}};
}

} // namespace

TEST_F(checker, accepts_every_acknowledged_event_as_acknowledged) {
  auto a = publish(h, rng, true, 2);
  auto b = publish(h, rng, true, 0);
  publish(h, rng, false); // unanswered: never looked up
  EXPECT_EQ(h.event_lookups().size(), 2u);
  auto obs = with({});
  obs.events[h.events()[a].id] = event_shown(h, a);
  obs.events[h.events()[b].id] = event_shown(h, b);
  auto result = check(obs);
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(result.violations)
                           << ::testing::PrintToString(result.lost);
  EXPECT_EQ(h.stats().events, 2u);
}

TEST_F(checker, flags_a_lost_or_changed_event) {
  auto a = publish(h, rng, true, 2);
  auto b = publish(h, rng, true, 3);
  auto c = publish(h, rng, true, 1);
  auto obs = with({});
  obs.events[h.events()[a].id] = {404, {}};
  auto fewer = event_shown(h, b);
  fewer.data["deliveries"].as_array().pop_back(); // a fan-out record lost
  obs.events[h.events()[b].id] = fewer;
  auto other_key = event_shown(h, c);
  other_key.data["idempotency_key"] = "another";
  obs.events[h.events()[c].id] = other_key;
  auto result = check(obs);
  EXPECT_EQ(result.lost.size(), 3u) << ::testing::PrintToString(result.lost);
  EXPECT_TRUE(result.violations.empty());
}

TEST_F(checker, flags_a_receipt_that_is_not_fresh) {
  auto a = publish(h, rng, true, 1, true); // "duplicate": a new key
  auto obs = with({});
  obs.events[h.events()[a].id] = event_shown(h, a);
  auto result = check(obs);
  EXPECT_EQ(result.violations.size(), 1u);
  EXPECT_TRUE(result.lost.empty());
}

TEST_F(checker, a_rotated_token_must_work_after_the_restart) {
  auto op = h.plan(rng, t0, planned_op::rotate_token);
  ASSERT_EQ(op.kind, planned_op::rotate_token);
  EXPECT_EQ(op.token, "T1"); // the tenant id, for the admin route
  h.ack_rotation(op, "wi_T1_rotated");
  ASSERT_EQ(h.tokens().size(), 1u);
  EXPECT_EQ(h.tokens()[0].second, "wi_T1_rotated");
  // Later operations use the new token.
  auto ep = h.plan(rng, t0, planned_op::create_endpoint);
  EXPECT_EQ(ep.token, "wi_T1_rotated");
  h.never_sent(ep);
  // One rotation per round: the next pick is a status change or a create.
  auto other = h.plan(rng, t0, planned_op::rotate_token);
  EXPECT_NE(other.kind, planned_op::rotate_token);
  h.never_sent(other);
  auto obs = with({});
  obs.views["T1"].list_status = 401; // the rotation was lost
  auto result = check(obs);
  EXPECT_EQ(result.lost.size(), 1u) << ::testing::PrintToString(result.lost);
  EXPECT_TRUE(result.violations.empty())
    << ::testing::PrintToString(result.violations);
  EXPECT_EQ(h.stats().rotations, 1u);
}

TEST_F(checker, an_unanswered_rotation_freezes_the_tenant_token) {
  auto op = h.plan(rng, t0, planned_op::rotate_token);
  ASSERT_EQ(op.kind, planned_op::rotate_token);
  h.unanswered(op);
  EXPECT_EQ(h.tokens()[0].second, "wi_T1_token"); // still valid in its grace
  auto result = check(with({}));
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(result.violations);
  // Never again: another rotation could end the token the harness holds.
  for (int i = 0; i < 20; ++i) {
    auto next = h.plan(rng, t0, planned_op::rotate_token);
    EXPECT_NE(next.kind, planned_op::rotate_token);
    h.never_sent(next);
  }
}

TEST(crash_options, takes_its_flags_off_the_command_line) {
  std::vector<std::string> args = {"crash_tests", "--rounds", "7",
                                   "--gtest_brief=1", "--seed=42"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(args.size());
  auto opts = wi_crash::parse_crash_options(argc, argv.data(), "3");
  EXPECT_EQ(opts.rounds, 7);
  EXPECT_EQ(opts.seed, 42u);
  ASSERT_EQ(argc, 2);
  EXPECT_STREQ(argv[1], "--gtest_brief=1");
  EXPECT_EQ(argv[2], nullptr);
}

TEST(crash_options, environment_and_defaults) {
  std::vector<std::string> args = {"crash_tests"};
  char* argv[] = {args[0].data(), nullptr};
  int argc = 1;
  EXPECT_EQ(wi_crash::parse_crash_options(argc, argv, nullptr).rounds, 20);
  EXPECT_EQ(wi_crash::parse_crash_options(argc, argv, "5").rounds, 5);
  EXPECT_FALSE(wi_crash::parse_crash_options(argc, argv, "").seed);
  EXPECT_THROW(wi_crash::parse_crash_options(argc, argv, "0"),
               std::invalid_argument);
  EXPECT_THROW(wi_crash::parse_crash_options(argc, argv, "x"),
               std::invalid_argument);
}
