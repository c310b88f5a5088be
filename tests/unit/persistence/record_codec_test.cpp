#include "persistence/record_codec.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "webhook_ingress/error.hpp"

using namespace wi;
using wi::persistence::decode;
using wi::persistence::encode;

namespace {

tenant_created sample_tenant() {
  tenant_created x;
  x.tenant_id = "t_8f3kQ2-xZ";
  x.name =
    "Müller GmbH \xE2\x80\x94 東京 \xF0\x9F\x9A\x80"; // em dash, CJK, emoji
  x.token_hash = std::string("\x00\x01\xFF\x7F\x80", 5) + std::string(27, 'h');
  x.at = 1704067200;
  return x;
}

endpoint_created sample_endpoint() {
  endpoint_created x;
  x.tenant_id = "t_8f3kQ2-xZ";
  x.ep.id = 42;
  x.ep.url = "https://example.com/hooks/ünïcödé?q=1";
  x.ep.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  x.ep.event_types = {"order.created", "order.paid", "ärger.事件"};
  x.ep.headers = {{"X-Team", "payments"}, {"X-Émoji", "\xF0\x9F\x98\x80"}};
  x.ep.status = endpoint_status::disabled;
  x.ep.created_at = 1704067200;
  x.ep.last_modified = -1; // negative times survive the i64 encoding
  return x;
}

endpoint_created sample_bare_endpoint() {
  endpoint_created x;
  x.tenant_id = "";
  x.ep.id = UINT64_MAX;
  x.ep.url = "http://a";
  x.ep.secret = "";
  x.ep.status = endpoint_status::inactive;
  x.ep.created_at = INT64_MIN;
  x.ep.last_modified = INT64_MAX;
  return x; // empty event_types and empty header_list
}

endpoint_status_changed sample_status(endpoint_status s) {
  return {"tenant-1", 7, s, 1704067260};
}

tenant_entry imported_entry() {
  tenant_entry x;
  x.id = "tenant-1";
  x.name = "Müller \xF0\x9F\x9A\x80";
  x.token_hash = std::string(32, 'h');
  x.created_at = 1704067200;
  x.active = false;
  x.previous_token_hash = std::string(32, 'p');
  x.previous_valid_until = 1704153600;
  x.deactivated_at = 1704067300;
  return x; // epoch travels in the record, not the entry
}

std::vector<record> samples() {
  return {
    sample_tenant(),
    sample_endpoint(),
    sample_bare_endpoint(),
    sample_status(endpoint_status::active),
    sample_status(endpoint_status::disabled),
    sample_status(endpoint_status::inactive),
    event_accepted{
      "tenant-1", "evt_x", "user.created", "idem", -5, {1, 2, UINT64_MAX}},
    event_accepted{"tenant-1", "evt_y", "a", "", 0, {}},
    attempt_recorded{"tenant-1",
                     3,
                     {"evt_x", 2, 77, 503, 15000, "", "busy \xE2\x9C\x93"},
                     delivery_status::pending,
                     99,
                     ""},
    attempt_recorded{"tenant-1",
                     3,
                     {"evt_x", 7, 78, 0, 1, "timeout", ""},
                     delivery_status::failed,
                     0,
                     "exhausted"},
    delivery_rescheduled{"tenant-1", "evt_x", 3, 123},
    history_pruned{"tenant-1", 1704067200123, {"evt_x", "evt_y", "evt_ü"}},
    history_pruned{"tenant-1", -1, {}},
    event_accepted{"tenant-1", "evt_z", "a", "", 1, {4}, 60'000},
    event_accepted{"tenant-1", "evt_z", "a", "", 1, {}, UINT64_MAX},
    tenant_limits_set{"tenant-1", 1704067200, {}},
    tenant_limits_set{"tenant-1",
                      -1,
                      {{{{limit_op::set, 5},
                         {limit_op::reset, 0},
                         {limit_op::keep, 0},
                         {limit_op::set, UINT64_MAX}}}}},
    tenant_imported{"tenant-1", imported_entry(), 7},
    tenant_imported{"tenant-1", tenant_entry{}, UINT64_MAX},
    tenant_state_imported{"tenant-1", std::string("\x01\x04\x00snap", 7)},
    tenant_state_imported{"tenant-1", ""},
    tenant_moved_out{"tenant-1", 1704067200},
    tenant_moved_out{"", -1},
    tenant_activated{"tenant-1", 7},
    tenant_activated{"", UINT64_MAX}};
}

void expect_corrupt(std::string_view bytes, const std::string& what) {
  auto res = decode(bytes);
  ASSERT_FALSE(res) << what << ": decoded although invalid";
  EXPECT_EQ(code_of(res.error()), errc::corrupt_data) << what;
  EXPECT_EQ(field_of(res.error()), "wal") << what;
}

} // namespace

TEST(record_codec, round_trips_every_record_type) {
  for (const auto& x : samples()) {
    auto bytes = encode(x);
    auto res = decode(bytes);
    ASSERT_TRUE(res) << text_of(res.error());
    EXPECT_EQ(*res, x);
    EXPECT_EQ(res->index(), x.index());
  }
}

TEST(record_codec, round_trips_empty_lists) {
  auto x = sample_bare_endpoint();
  auto res = decode(encode(x));
  ASSERT_TRUE(res) << text_of(res.error());
  const auto& ep = std::get<endpoint_created>(*res).ep;
  EXPECT_TRUE(ep.event_types.empty());
  EXPECT_TRUE(ep.headers.empty());
  EXPECT_EQ(ep.id, UINT64_MAX);
  EXPECT_EQ(ep.created_at, INT64_MIN);
  EXPECT_EQ(ep.last_modified, INT64_MAX);
}

TEST(record_codec, writes_version_and_stable_tags) {
  EXPECT_EQ(encode(sample_tenant()).substr(0, 2), std::string("\x01\x01", 2));
  EXPECT_EQ(encode(sample_endpoint()).substr(0, 2), std::string("\x01\x02", 2));
  EXPECT_EQ(encode(sample_status(endpoint_status::active)).substr(0, 2),
            std::string("\x01\x03", 2));
  EXPECT_EQ(encode(history_pruned{"t", 0, {}}).substr(0, 2),
            std::string("\x01\x0C", 2));
}

TEST(record_codec, event_accepted_keeps_its_old_encoding_without_a_size) {
  // Records written before payload sizes existed are tag 4 and still mean
  // "payload size 0"; a size > 0 takes tag 14, a size 0 there is refused
  // (one encoding per record).
  event_accepted old{"t", "e", "x", "", 0, {}};
  auto bytes = encode(old);
  EXPECT_EQ(bytes.substr(0, 2), std::string("\x01\x04", 2));
  auto sized = old;
  sized.payload_bytes = 2;
  auto sized_bytes = encode(sized);
  EXPECT_EQ(sized_bytes.substr(0, 2), std::string("\x01\x0E", 2));
  EXPECT_EQ(sized_bytes.size(), bytes.size() + 8);
  EXPECT_EQ(*decode(sized_bytes), record{sized});
  auto zero = sized_bytes;
  zero.replace(zero.size() - 8, 8, std::string(8, '\0'));
  expect_corrupt(zero, "tag 14 with payload size 0");
}

TEST(record_codec, tenant_limits_set_refuses_unknown_operations) {
  auto bytes = encode(tenant_limits_set{"t", 0, {}});
  EXPECT_EQ(bytes.substr(0, 2), std::string("\x01\x0D", 2));
  // version, tag, str "t", i64 at, then the first op byte.
  size_t pos = 2 + 5 + 8;
  ASSERT_EQ(bytes[pos], '\0');
  bytes[pos] = '\x03';
  expect_corrupt(bytes, "limit op 3");
}

TEST(record_codec, encodes_history_pruned_as_tenant_time_and_ids) {
  auto bytes = encode(history_pruned{"t", 1, {"ab", ""}});
  // version, tag 12, str "t", i64 1, u32 count 2, str "ab", str "".
  auto expected = std::string("\x01\x0C", 2) + std::string("\x01\0\0\0t", 5) +
                  std::string("\x01\0\0\0\0\0\0\0", 8) +
                  std::string("\x02\0\0\0", 4) +
                  std::string("\x02\0\0\0ab", 6) + std::string("\0\0\0\0", 4);
  EXPECT_EQ(bytes, expected);
}

TEST(record_codec, encodes_little_endian_fixed_width) {
  endpoint_status_changed x{"ab", 0x0102030405060708, endpoint_status::inactive,
                            -2};
  const unsigned char expected[] = {
    0x01,                                           // version
    0x03,                                           // tag
    0x02, 0x00, 0x00, 0x00, 'a',  'b',              // tenant_id
    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // id
    0x02,                                           // status inactive
    0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // at = -2
  };
  EXPECT_EQ(encode(x), std::string(reinterpret_cast<const char*>(expected),
                                   sizeof(expected)));
}

TEST(record_codec, encodes_lists_as_count_and_elements) {
  endpoint_created x;
  x.tenant_id = "t";
  x.ep.id = 1;
  x.ep.url = "u";
  x.ep.secret = "s";
  x.ep.event_types = {"e"};
  x.ep.headers = {{"n", "v"}};
  x.ep.status = endpoint_status::active;
  x.ep.created_at = 3;
  x.ep.last_modified = 4;
  const unsigned char expected[] = {
    0x01, 0x02,                                     // version, tag
    0x01, 0x00, 0x00, 0x00, 't',                    // tenant_id
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // id
    0x01, 0x00, 0x00, 0x00, 'u',                    // url
    0x01, 0x00, 0x00, 0x00, 's',                    // secret
    0x01, 0x00, 0x00, 0x00,                         // event_types count
    0x01, 0x00, 0x00, 0x00, 'e',                    //   "e"
    0x01, 0x00, 0x00, 0x00,                         // headers count
    0x01, 0x00, 0x00, 0x00, 'n',                    //   name
    0x01, 0x00, 0x00, 0x00, 'v',                    //   value
    0x00,                                           // status active
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // created_at
    0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // last_modified
  };
  EXPECT_EQ(encode(x), std::string(reinterpret_cast<const char*>(expected),
                                   sizeof(expected)));
}

TEST(record_codec, decodes_into_a_reused_record) {
  record scratch;
  for (int round = 0; round < 2; ++round)
    for (const auto& x : samples()) {
      ASSERT_FALSE(persistence::decode_into(encode(x), scratch));
      EXPECT_EQ(scratch, x);
    }
  auto bytes = encode(samples().front());
  EXPECT_EQ(code_of(persistence::decode_into(
              std::string_view{bytes}.substr(0, 3), scratch)),
            errc::corrupt_data);
}

TEST(record_codec, rejects_every_truncated_prefix) {
  for (const auto& x : samples()) {
    auto bytes = encode(x);
    for (size_t n = 0; n < bytes.size(); ++n)
      expect_corrupt(std::string_view{bytes}.substr(0, n),
                     "prefix of " + std::to_string(n) + " of " +
                       std::to_string(bytes.size()) + " bytes");
  }
}

TEST(record_codec, rejects_trailing_bytes) {
  for (const auto& x : samples()) {
    expect_corrupt(encode(x) + '\0', "one trailing zero byte");
    expect_corrupt(encode(x) + encode(x), "two records");
  }
}

TEST(record_codec, rejects_unknown_version) {
  for (int v : {0x00, 0x02, 0xFF}) {
    auto bytes = encode(sample_tenant());
    bytes[0] = static_cast<char>(v);
    expect_corrupt(bytes, "version " + std::to_string(v));
  }
}

TEST(record_codec, rejects_unknown_tag) {
  for (int tag : {0x00, 0x07, 0xFF}) {
    auto bytes = encode(sample_status(endpoint_status::active));
    bytes[1] = static_cast<char>(tag);
    expect_corrupt(bytes, "tag " + std::to_string(tag));
  }
}

TEST(record_codec, rejects_out_of_range_status) {
  // endpoint_status_changed: version, tag, str "tenant-1", u64 id, status.
  auto status_changed = encode(sample_status(endpoint_status::active));
  size_t pos = 2 + 4 + 8 + 8;
  ASSERT_EQ(status_changed[pos], '\0');
  // endpoint_created ends with status, i64 created_at, i64 last_modified.
  auto created = encode(sample_endpoint());
  size_t created_pos = created.size() - 17;
  ASSERT_EQ(created[created_pos], '\x01'); // disabled
  for (int s : {0x03, 0x80, 0xFF}) {
    auto a = status_changed;
    a[pos] = static_cast<char>(s);
    expect_corrupt(a, "status_changed with status " + std::to_string(s));
    auto b = created;
    b[created_pos] = static_cast<char>(s);
    expect_corrupt(b, "endpoint_created with status " + std::to_string(s));
  }
}

TEST(record_codec, rejects_lengths_beyond_the_input) {
  // A string claiming 4 GiB - 1 bytes followed by three bytes.
  expect_corrupt(std::string("\x01\x01\xFF\xFF\xFF\xFF"
                             "abc",
                             9),
                 "huge string length");
  // endpoint_created whose event_types count is 2^32 - 1.
  std::string bytes("\x01\x02"
                    "\x00\x00\x00\x00"                 // tenant_id ""
                    "\x01\x00\x00\x00\x00\x00\x00\x00" // id
                    "\x00\x00\x00\x00"                 // url ""
                    "\x00\x00\x00\x00"                 // secret ""
                    "\xFF\xFF\xFF\xFF",                // event_types count
                    26);
  expect_corrupt(bytes, "huge vector count");
}

TEST(record_codec, mutated_inputs_decode_to_canonical_records_or_fail) {
  // Any input either fails with corrupt_data or decodes to a record whose
  // encoding is exactly that input (the format has one encoding per record).
  std::mt19937 rng{20240101};
  auto valid = samples();
  for (int round = 0; round < 20000; ++round) {
    auto bytes = encode(valid[static_cast<size_t>(round) % valid.size()]);
    auto flips = 1 + round % 4;
    for (int i = 0; i < flips; ++i) {
      std::uniform_int_distribution<size_t> pos{0, bytes.size() - 1};
      bytes[pos(rng)] = static_cast<char>(rng() & 0xFF);
    }
    auto res = decode(bytes);
    if (res)
      ASSERT_EQ(encode(*res), bytes) << "round " << round;
    else
      ASSERT_EQ(code_of(res.error()), errc::corrupt_data) << "round " << round;
  }
  for (int round = 0; round < 20000; ++round) {
    std::string bytes(static_cast<size_t>(rng() % 64), '\0');
    for (auto& c : bytes)
      c = static_cast<char>(rng() & 0xFF);
    if (round % 2 == 0 && bytes.size() >= 2) {
      bytes[0] = '\x01'; // valid version, so the body parser is exercised
      bytes[1] = static_cast<char>(1 + rng() % 3);
    }
    auto res = decode(bytes);
    if (res)
      ASSERT_EQ(encode(*res), bytes) << "random round " << round;
    else
      ASSERT_EQ(code_of(res.error()), errc::corrupt_data)
        << "random round " << round;
  }
}
