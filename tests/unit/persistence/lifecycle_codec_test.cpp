// The WAL records and snapshot fields of the endpoint lifecycle (issue 17):
// update, delete, secret rotation, and the endpoint's description and
// previous secret.

#include <gtest/gtest.h>

#include "persistence/binary_format.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/error.hpp"

using namespace wi;
using wi::persistence::decode;
using wi::persistence::encode;

namespace {

endpoint_patch full_patch() {
  endpoint_patch p;
  p.url = "https://example.com/ünï";
  p.event_types = std::vector<std::string>{"a.b", "*"};
  p.headers = header_list{{"X-A", "1"}, {"X-B", ""}};
  p.description = "déscription";
  return p;
}

std::vector<record> samples() {
  std::vector<record> result;
  // Every subset of the patch's fields, empty values included.
  for (unsigned mask = 0; mask < 16; ++mask) {
    auto full = full_patch();
    endpoint_patch p;
    if (mask & 1)
      p.url = full.url;
    if (mask & 2)
      p.event_types = std::vector<std::string>{};
    if (mask & 4)
      p.headers = mask & 8 ? full.headers : header_list{};
    if (mask & 8)
      p.description = mask & 1 ? full.description : std::string{};
    result.push_back(endpoint_updated{"tA", mask + 1, -7, std::move(p)});
  }
  result.push_back(endpoint_updated{"tA", UINT64_MAX, INT64_MAX, full_patch()});
  result.push_back(endpoint_deleted{"tA", 3, 1704067200});
  result.push_back(endpoint_deleted{"", 0, INT64_MIN});
  result.push_back(endpoint_secret_rotated{"tA", 3, "whsec_AAAAAAAAAAAAAAAA",
                                           1704067200123, 1704153600123});
  result.push_back(endpoint_secret_rotated{"tA", 1, "", 0, 0});
  endpoint_created described;
  described.tenant_id = "tA";
  described.ep.id = 4;
  described.ep.url = "https://example.com/";
  described.ep.secret = "secret-secret";
  described.ep.event_types = {"*"};
  described.ep.description = "for billing";
  result.push_back(described);
  auto rotated = described;
  rotated.ep.description.clear();
  rotated.ep.previous_secret = "older-secret";
  rotated.ep.previous_expires_at = -1;
  result.push_back(rotated);
  return result;
}

void expect_corrupt(std::string_view bytes, const std::string& what) {
  auto res = decode(bytes);
  ASSERT_FALSE(res) << what << ": decoded although invalid";
  EXPECT_EQ(code_of(res.error()), errc::corrupt_data) << what;
}

} // namespace

TEST(lifecycle_codec, round_trips_every_lifecycle_record) {
  for (const auto& x : samples()) {
    SCOPED_TRACE(std::string{kind_of(x)});
    auto bytes = encode(x);
    auto res = decode(bytes);
    ASSERT_TRUE(res) << text_of(res.error());
    EXPECT_EQ(*res, x);
    // Decoding into a record that held another value of the same type
    // leaves nothing of it behind.
    record reused = endpoint_updated{"old", 9, 9, full_patch()};
    if (std::holds_alternative<endpoint_created>(x))
      reused = samples().back();
    ASSERT_FALSE(persistence::decode_into(bytes, reused));
    EXPECT_EQ(reused, x);
    // Every truncation is refused.
    for (size_t n = 0; n < bytes.size(); ++n)
      expect_corrupt(bytes.substr(0, n), "truncated to " + std::to_string(n));
    expect_corrupt(bytes + "x", "trailing byte");
  }
}

TEST(lifecycle_codec, writes_stable_tags) {
  auto tag = [](const record& x) { return encode(x).substr(0, 2); };
  endpoint_created plain;
  plain.tenant_id = "t";
  EXPECT_EQ(tag(plain), std::string("\x01\x02", 2)); // unchanged without extras
  auto described = plain;
  described.ep.description = "d";
  EXPECT_EQ(tag(described), std::string("\x01\x12", 2));
  EXPECT_EQ(tag(endpoint_updated{"t", 1, 0, {}}), std::string("\x01\x13", 2));
  EXPECT_EQ(tag(endpoint_deleted{"t", 1, 0}), std::string("\x01\x14", 2));
  EXPECT_EQ(tag(endpoint_secret_rotated{"t", 1, "s", 0, 0}),
            std::string("\x01\x15", 2));
}

TEST(lifecycle_codec, refuses_unknown_patch_bits_and_extras_that_are_empty) {
  // version, tag, str "t", u64 id, i64 at, then the field mask.
  auto bytes = encode(endpoint_updated{"t", 1, 0, {}});
  size_t mask = 2 + 5 + 8 + 8;
  ASSERT_EQ(bytes.size(), mask + 1);
  bytes[mask] = '\x10';
  expect_corrupt(bytes, "field bit 4");
  // Tag 18 with no extra set would be a second encoding of tag 2.
  endpoint_created plain;
  plain.tenant_id = "t";
  auto extra = encode(plain);
  extra[1] = '\x12';
  extra += std::string(4 + 4 + 8, '\0');
  expect_corrupt(extra, "tag 18 without extras");
}

TEST(lifecycle_codec, snapshots_keep_description_and_previous_secret) {
  auto st = empty_tenant("tA");
  st.last_id = 3;
  endpoint ep;
  ep.id = 2;
  ep.url = "https://example.com/";
  ep.secret = "new-secret";
  ep.event_types = {"*"};
  ep.description = "billing team";
  ep.previous_secret = "old-secret";
  ep.previous_expires_at = 1704153600123;
  st.endpoints.emplace(2, ep);
  ep.id = 3;
  ep.description.clear();
  ep.previous_secret.clear();
  ep.previous_expires_at = 0;
  st.endpoints.emplace(3, ep);
  auto bytes = persistence::encode_snapshot(st);
  EXPECT_EQ(bytes[1], '\x08');
  auto back = persistence::decode_tenant_snapshot(bytes);
  ASSERT_TRUE(back) << text_of(back.error());
  EXPECT_EQ(*back, st);
  EXPECT_TRUE(persistence::check_tenant_snapshot(bytes));
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(persistence::decode_tenant_snapshot(bytes.substr(0, n))) << n;
}

TEST(lifecycle_codec, reads_tenant_snapshots_written_before_issue_17) {
  // Kind 4: endpoints end after `last_modified`.
  persistence::detail::writer w;
  w.u8(1); // version
  w.u8(4); // kind 4
  w.str("tOld");
  w.u64(1); // last_id
  w.count(1);
  w.u64(1);
  w.str("https://example.com/");
  w.str("secret-secret");
  w.strings({"*"});
  w.headers({{"X-A", "1"}});
  w.status(endpoint_status::active);
  w.i64(10);
  w.i64(11);
  w.count(0); // events
  w.count(0); // idempotency keys
  w.count(0); // activity
  w.u64(0);   // pending
  for (int i = 0; i < 4; ++i) {
    w.u8(0);
    w.u64(0);
  }
  auto back = persistence::decode_tenant_snapshot(std::move(w).take());
  ASSERT_TRUE(back) << text_of(back.error());
  const auto& ep = back->endpoints.at(1);
  EXPECT_EQ(ep.secret, "secret-secret");
  EXPECT_EQ(ep.last_modified, 11);
  EXPECT_EQ(ep.description, "");
  EXPECT_EQ(ep.previous_secret, "");
  EXPECT_EQ(ep.previous_expires_at, 0);
}
