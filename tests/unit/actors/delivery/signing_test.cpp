// Standard Webhooks signatures: the spec's test vector and the key rules.

#include <gtest/gtest.h>

#include "actors/delivery/signing.hpp"

namespace {

using namespace wi;

constexpr std::string_view spec_secret =
  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view spec_id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t spec_ts = 1614265330;
constexpr std::string_view spec_body = R"({"test": 2432232314})";
constexpr std::string_view spec_signature =
  "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

TEST(signing, spec_vector) {
  EXPECT_EQ(sign(spec_secret, spec_id, spec_ts, spec_body), spec_signature);
}

TEST(signing, verify_accepts_own_and_listed_signatures) {
  EXPECT_TRUE(verify(spec_secret, spec_id, spec_ts, spec_body, spec_signature));
  auto several = "v1a,whatever v1,bm9wZQ== " + std::string{spec_signature};
  EXPECT_TRUE(verify(spec_secret, spec_id, spec_ts, spec_body, several));
}

TEST(signing, verify_rejects_changes) {
  EXPECT_FALSE(
    verify(spec_secret, spec_id, spec_ts + 1, spec_body, spec_signature));
  EXPECT_FALSE(
    verify(spec_secret, "msg_other", spec_ts, spec_body, spec_signature));
  EXPECT_FALSE(
    verify(spec_secret, spec_id, spec_ts, R"({"test": 1})", spec_signature));
  EXPECT_FALSE(
    verify("whsec_AAAA", spec_id, spec_ts, spec_body, spec_signature));
  EXPECT_FALSE(verify(spec_secret, spec_id, spec_ts, spec_body, ""));
  EXPECT_FALSE(verify(spec_secret, spec_id, spec_ts, spec_body,
                      "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
}

TEST(signing, key_rules) {
  // whsec_ + base64: the decoded bytes.
  EXPECT_EQ(signing_key("whsec_aGVsbG8="), "hello");
  EXPECT_EQ(signing_key("whsec_aGVsbG8"), "hello");
  // whsec_ with what no library decodes (only in endpoints stored before
  // creation refused it): the secret's own bytes.
  EXPECT_EQ(signing_key("whsec_not*base64"), "whsec_not*base64");
  // No prefix: the secret's own bytes, even if it looks like base64.
  EXPECT_EQ(signing_key("aGVsbG8="), "aGVsbG8=");
  // Signing with a raw secret equals signing with its whsec_ encoding.
  EXPECT_EQ(sign("hello", spec_id, spec_ts, spec_body),
            sign("whsec_aGVsbG8=", spec_id, spec_ts, spec_body));
  EXPECT_NE(sign("hello", spec_id, spec_ts, spec_body),
            sign("whsec_not*base64", spec_id, spec_ts, spec_body));
}

TEST(signing, base64_round_trip) {
  for (std::string_view x : {"", "f", "fo", "foo", "foob", "fooba", "foobar"})
    EXPECT_EQ(base64_decode(base64_encode(x)), std::string{x}) << x;
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode(std::string{"\xff\xfe", 2}), "//4=");
  EXPECT_FALSE(base64_decode("Zm9=v"));
  EXPECT_FALSE(base64_decode("Z"));
  EXPECT_EQ(base64_decode("Zm8"), "fo"); // padding is optional
  EXPECT_FALSE(base64_decode("Zm9="));   // non-zero leftover bits
  EXPECT_FALSE(base64_decode("Zm=8"));
  EXPECT_FALSE(base64_decode("Zm8 "));
}

// The edge secrets: what the reference libraries decode (leniently) is the
// key; what they refuse has no key. Expected keys are what the JavaScript
// `standardwebhooks` package (and `svix`) computes for the same text.
TEST(signing, whsec_secrets_decode_as_the_reference_libraries_do) {
  const std::string zeros(15, '\0');
  // Non-zero bits after the last whole byte are ignored: AR== reads as AQ==.
  EXPECT_EQ(decode_webhook_secret("AAAAAAAAAAAAAAAAAAAAAR=="), zeros + '\x01');
  EXPECT_EQ(decode_webhook_secret("AAAAAAAAAAAAAAAAAAAAAQ=="), zeros + '\x01');
  EXPECT_EQ(signing_key("whsec_AAAAAAAAAAAAAAAAAAAAAR=="), zeros + '\x01');
  EXPECT_EQ(decode_webhook_secret("Zm9="), "fo");
  EXPECT_EQ(decode_webhook_secret("Zm9vYmE"), "fooba"); // padding optional
  EXPECT_EQ(decode_webhook_secret("Zm8="), "fo");
  EXPECT_EQ(decode_webhook_secret("+/+/"), "\xfb\xff\xbf");
  EXPECT_EQ(decode_webhook_secret("AAA="), std::string(2, '\0'));
  // Refused: URL-safe alphabet, other characters, whitespace, bad padding,
  // too short, a lone character after the last group. (The JavaScript
  // library alone reads "AAAAA", "AAAAAA=" and "AAAA=" by dropping what does
  // not fit; Python and Go refuse them: no key all of them agree on.)
  for (std::string_view bad :
       {"AAAAAAAAAAAAAAAAAAAAA-==", "AAAAAAAAAAAAAAAAAAAAA_==", "-_-_",
        "AAAA AAA=", "AAAA\nAAA=", "AAAA*AAA", "AAAA.AAA", "Zm8", "Zm=8",
        "Zm9=v", "AAAAA", "AAAAAA=", "AAAAA===", "AAAA=", "====", "", "Zg",
        "Zm8=Zm8=",
        "\xc3\xa9"
        "AAA"})
    EXPECT_EQ(decode_webhook_secret(bad), std::nullopt) << bad;
}

// The spec's vector again, and the edge secret, against signatures the
// JavaScript reference library produced for the same message.
TEST(signing, edge_secret_signs_with_the_decoded_key) {
  const std::string zeros(15, '\0');
  EXPECT_EQ(
    sign("whsec_AAAAAAAAAAAAAAAAAAAAAR==", spec_id, spec_ts, spec_body),
    sign("whsec_AAAAAAAAAAAAAAAAAAAAAQ==", spec_id, spec_ts, spec_body));
  EXPECT_EQ(sign("whsec_AAAAAAAAAAAAAAAAAAAAAR==", spec_id, spec_ts, spec_body),
            "v1,D5YwGbZFa2/mu3m+KSof3iG6BXOd7kUcYC2el/ONG60=");
}

} // namespace
