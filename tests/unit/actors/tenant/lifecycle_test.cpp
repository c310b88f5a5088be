// The endpoint lifecycle (issue 17) in the pure state and decisions: apply
// of endpoint_updated / endpoint_deleted / endpoint_secret_rotated, records
// that race with a delete, the signature header during a rotation's grace.

#include <gtest/gtest.h>

#include "actors/delivery/signing.hpp"
#include "actors/tenant/tenant_core.hpp"
#include "actors/tenant/tenant_state.hpp"
#include "persistence/record_codec.hpp"
#include "webhook_ingress/error.hpp"

namespace {

using namespace wi;

endpoint make_endpoint(endpoint_id id) {
  endpoint ep;
  ep.id = id;
  ep.url = "https://example.com/" + std::to_string(id);
  ep.secret = "secret-" + std::to_string(id);
  ep.event_types = {"a.b"};
  ep.headers = {{"X-Id", std::to_string(id)}};
  ep.created_at = 10;
  ep.last_modified = 10;
  return ep;
}

tenant_state two_endpoints() {
  auto st = empty_tenant("t1");
  EXPECT_FALSE(wi::apply(st, endpoint_created{"t1", make_endpoint(1)}));
  EXPECT_FALSE(wi::apply(st, endpoint_created{"t1", make_endpoint(2)}));
  return st;
}

attempt_recorded attempt(const std::string& event, endpoint_id ep,
                         uint16_t status, delivery_status outcome) {
  return {"t1", ep, {event, 1, 5, status, 3, "", ""}, outcome, 1000, ""};
}

} // namespace

TEST(lifecycle_apply, update_replaces_only_the_fields_it_carries) {
  auto st = two_endpoints();
  endpoint_patch p;
  p.url = "https://example.org/new";
  p.description = "desc";
  ASSERT_FALSE(wi::apply(st, endpoint_updated{"t1", 1, 50, p}));
  auto ep = st.endpoints.at(1);
  EXPECT_EQ(ep.url, "https://example.org/new");
  EXPECT_EQ(ep.description, "desc");
  EXPECT_EQ(ep.event_types, std::vector<std::string>{"a.b"});
  EXPECT_EQ(ep.headers, (header_list{{"X-Id", "1"}}));
  EXPECT_EQ(ep.secret, "secret-1");
  EXPECT_EQ(ep.last_modified, 50);
  EXPECT_EQ(ep.created_at, 10);
  endpoint_patch q;
  q.event_types = std::vector<std::string>{"*"};
  q.headers = header_list{};
  q.description = "";
  ASSERT_FALSE(wi::apply(st, endpoint_updated{"t1", 1, 60, q}));
  ep = st.endpoints.at(1);
  EXPECT_EQ(ep.url, "https://example.org/new");
  EXPECT_EQ(ep.event_types, std::vector<std::string>{"*"});
  EXPECT_TRUE(ep.headers.empty());
  EXPECT_EQ(ep.description, "");
  EXPECT_EQ(st.endpoints.at(2), make_endpoint(2));
  // An endpoint that never existed is corrupt data, and changes nothing.
  auto before = st;
  auto err = wi::apply(st, endpoint_updated{"t1", 3, 70, q});
  EXPECT_EQ(code_of(err), errc::corrupt_data);
  EXPECT_EQ(st, before);
}

TEST(lifecycle_apply, delete_cancels_pending_deliveries_and_drops_activity) {
  auto st = two_endpoints();
  ASSERT_FALSE(wi::apply(st, event_accepted{"t1", "e1", "a.b", "", 1, {1, 2}}));
  ASSERT_FALSE(wi::apply(st, event_accepted{"t1", "e2", "a.b", "", 2, {1}}));
  ASSERT_FALSE(
    wi::apply(st, attempt("e2", 1, 200, delivery_status::delivered)));
  ASSERT_EQ(st.pending, 2u);
  ASSERT_EQ(st.activity.count(1), 1u);
  ASSERT_FALSE(wi::apply(st, endpoint_deleted{"t1", 1, 90}));
  EXPECT_EQ(st.endpoints.count(1), 0u);
  EXPECT_EQ(st.last_id, 2u); // ids are never handed out again
  EXPECT_EQ(st.activity.count(1), 0u);
  EXPECT_EQ(st.pending, 1u);
  EXPECT_EQ(st.activity.at(2).pending, 1u);
  const auto& d1 = st.events.at("e1").deliveries;
  ASSERT_EQ(d1.size(), 2u); // still listed on the event
  EXPECT_EQ(d1[0].status, delivery_status::failed);
  EXPECT_EQ(d1[0].reason, "cancelled");
  EXPECT_EQ(d1[1].status, delivery_status::pending);
  // Ended deliveries keep their outcome.
  EXPECT_EQ(st.events.at("e2").deliveries[0].status,
            delivery_status::delivered);
  EXPECT_EQ(matching_endpoints(st, "a.b"), std::vector<endpoint_id>{2});
  // A second delete (two requests raced) changes nothing; a delete of an id
  // never given is corrupt.
  auto before = st;
  EXPECT_FALSE(wi::apply(st, endpoint_deleted{"t1", 1, 91}));
  EXPECT_EQ(st, before);
  EXPECT_EQ(code_of(wi::apply(st, endpoint_deleted{"t1", 3, 92})),
            errc::corrupt_data);
  // A create after the delete must take a new id.
  EXPECT_EQ(code_of(wi::apply(st, endpoint_created{"t1", make_endpoint(1)})),
            errc::corrupt_data);
  EXPECT_FALSE(wi::apply(st, endpoint_created{"t1", make_endpoint(3)}));
}

TEST(lifecycle_apply, records_that_raced_with_a_delete_change_nothing) {
  // The actor may commit records about an endpoint after its delete record
  // went to the WAL (batched attempt outcomes, the breaker, a publish that
  // matched it, a PATCH): they apply, live and in replay, as no-ops.
  auto st = two_endpoints();
  ASSERT_FALSE(wi::apply(st, event_accepted{"t1", "e1", "a.b", "", 1, {1, 2}}));
  ASSERT_FALSE(wi::apply(st, endpoint_deleted{"t1", 1, 90}));
  auto before = st;
  std::vector<record> late = {
    attempt("e1", 1, 500, delivery_status::pending),
    breaker_changed{"t1", 1, endpoint_status::disabled, "gone", 5, 6, 7},
    endpoint_status_changed{"t1", 1, endpoint_status::inactive, 5},
    delivery_expired{"t1", "e1", 1, 5},
    delivery_rescheduled{"t1", "e1", 1, 5},
    endpoint_updated{"t1", 1, 5,
                     endpoint_patch{"https://x.example/", {}, {}, {}, {}, {}}},
    endpoint_secret_rotated{"t1", 1, "new-secret", 5, 6},
  };
  for (const auto& rec : late) {
    SCOPED_TRACE(std::string{kind_of(rec)});
    EXPECT_FALSE(wi::apply(st, rec));
    EXPECT_EQ(st, before);
  }
  // An event accepted for it skips it.
  ASSERT_FALSE(wi::apply(st, event_accepted{"t1", "e2", "a.b", "", 2, {1, 2}}));
  ASSERT_EQ(st.events.at("e2").deliveries.size(), 1u);
  EXPECT_EQ(st.events.at("e2").deliveries[0].endpoint, 2u);
  EXPECT_EQ(st.pending, 2u);
  EXPECT_EQ(st.activity.count(1), 0u);
  // Replaying the same records from their bytes gives the same state.
  auto replayed = two_endpoints();
  std::vector<record> all = {event_accepted{"t1", "e1", "a.b", "", 1, {1, 2}},
                             endpoint_deleted{"t1", 1, 90}};
  all.insert(all.end(), late.begin(), late.end());
  all.push_back(event_accepted{"t1", "e2", "a.b", "", 2, {1, 2}});
  for (const auto& rec : all) {
    auto back = persistence::decode(persistence::encode(rec));
    ASSERT_TRUE(back);
    ASSERT_FALSE(wi::apply(replayed, *back));
  }
  EXPECT_EQ(replayed, st);
}

TEST(lifecycle_apply, rotation_keeps_only_the_secret_it_replaces) {
  auto st = two_endpoints();
  ASSERT_FALSE(
    wi::apply(st, endpoint_secret_rotated{"t1", 1, "second", 5000, 9000}));
  auto ep = st.endpoints.at(1);
  EXPECT_EQ(ep.secret, "second");
  EXPECT_EQ(ep.previous_secret, "secret-1");
  EXPECT_EQ(ep.previous_expires_at, 9000);
  EXPECT_EQ(ep.last_modified, 5);
  ASSERT_FALSE(
    wi::apply(st, endpoint_secret_rotated{"t1", 1, "third", 6000, 7000}));
  ep = st.endpoints.at(1);
  EXPECT_EQ(ep.secret, "third");
  EXPECT_EQ(ep.previous_secret, "second"); // the oldest is dropped
  EXPECT_EQ(ep.previous_expires_at, 7000);
  EXPECT_EQ(code_of(wi::apply(st, endpoint_secret_rotated{"t1", 9, "x", 1, 2})),
            errc::corrupt_data);
}

TEST(lifecycle_core, signs_with_both_secrets_during_the_grace_only) {
  auto ep = make_endpoint(1);
  ep.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  ep.previous_secret = "old-secret-1";
  ep.previous_expires_at = 10'000;
  auto with_new = sign(ep.secret, "msg_1", 42, "{}");
  auto with_old = sign(ep.previous_secret, "msg_1", 42, "{}");
  EXPECT_EQ(signature_header(ep, "msg_1", 42, "{}", 9'999),
            with_new + " " + with_old);
  EXPECT_EQ(signature_header(ep, "msg_1", 42, "{}", 10'000), with_new);
  auto header = signature_header(ep, "msg_1", 42, "{}", 0);
  EXPECT_TRUE(verify(ep.secret, "msg_1", 42, "{}", header));
  EXPECT_TRUE(verify(ep.previous_secret, "msg_1", 42, "{}", header));
  EXPECT_FALSE(verify("another-secret", "msg_1", 42, "{}", header));

  auto info = secrets_of(ep, 9'999);
  EXPECT_EQ(info.secret, ep.secret);
  EXPECT_EQ(info.previous, "old-secret-1");
  EXPECT_EQ(info.previous_expires_at, 10'000);
  info = secrets_of(ep, 10'000);
  EXPECT_EQ(info.previous, "");
  EXPECT_EQ(info.previous_expires_at, 0);
  ep.previous_secret.clear();
  EXPECT_EQ(signature_header(ep, "msg_1", 42, "{}", 0), with_new);
}

TEST(lifecycle_core, generated_secrets_are_whsec_of_32_random_bytes) {
  auto a = generate_secret();
  auto b = generate_secret();
  EXPECT_NE(a, b);
  ASSERT_TRUE(a.starts_with("whsec_"));
  auto key = decode_webhook_secret(std::string_view{a}.substr(6));
  ASSERT_TRUE(key);
  EXPECT_EQ(key->size(), 32u);
  EXPECT_LE(a.size(), 64u); // within the secret rules of create
}
