// Deliveries checked by the reference libraries: the `standardwebhooks` and
// `svix` npm packages (tests/e2e/verifier), run by node.

#include <fstream>

#include "support/delivery_fixture.hpp"

using namespace wi_e2e::delivery_fixture;

// The published `data` arrives byte for byte as the client wrote it, and the
// reference libraries (the `standardwebhooks` and `svix` npm packages, run by
// node) verify real deliveries, for the edge `whsec_` secrets too.
TEST_F(delivery, reference_libraries_verify_deliveries_with_data_as_sent) {
  auto script = source_dir() / "tests" / "e2e" / "verifier" / "verify.js";
  ASSERT_TRUE(std::filesystem::exists(script.parent_path() / "node_modules" /
                                      "standardwebhooks"))
    << "run scripts/install-deps.sh (npm ci in tests/e2e/verifier)";
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto unpadded = base64_encode(random_bytes(32));
  while (unpadded.back() == '=')
    unpadded.pop_back();
  const std::vector<std::pair<std::string, std::string>> secrets = {
    {"/ref/spec", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
    {"/ref/edge", "whsec_AAAAAAAAAAAAAAAAAAAAAR=="},
    {"/ref/random", "whsec_" + base64_encode(random_bytes(32))},
    {"/ref/unpadded", "whsec_" + unpadded},
  };
  for (const auto& [path, secret] : secrets)
    add_endpoint(t, rx_.url(path), {"num.test"}, secret);
  const std::vector<std::string> payloads = {
    R"({"n": [1.0, 0.1, 1e3, -0, 1E+03, -0.0, 2.50],
        "big": 123456789012345678901234567890,
        "u64": 18446744073709551616, "i": -9223372036854775809})",
    R"("caf\u00e9 \/ \ud834\udd1e \"q\"")",
    "\t[ \"é€𝄞\" ,\n  {\"k\" :\"v\"} ]\n",
    "3.14159265358979323846264338327950288",
  };
  std::vector<json::object> receipts;
  for (const auto& p : payloads)
    receipts.push_back(publish_ok(t, "num.test", p));
  for (const auto& r : receipts)
    wait_settled(t, str_at(r, "id"));

  json::array deliveries;
  for (const auto& [path, secret] : secrets) {
    auto got = rx_.requests(path);
    ASSERT_EQ(got.size(), payloads.size()) << describe(rx_.requests());
    for (size_t i = 0; i < payloads.size(); ++i) {
      auto one = with_id(got, str_at(receipts[i], "id"));
      ASSERT_EQ(one.size(), 1u);
      expect_delivery(one[0], receipts[i], secret, trimmed(payloads[i]));
      json::object headers;
      for (auto name : {"webhook-id", "webhook-timestamp", "webhook-signature"})
        headers[name] = one[0].header(name).value_or("");
      deliveries.push_back(json::object{
        {"secret", secret}, {"headers", headers}, {"body", one[0].body}});
    }
  }
  auto file = dir_.path() / "deliveries.json";
  {
    std::ofstream out{file};
    out << json::serialize(deliveries);
  }
  auto run = run_to_exit({node_binary(), script.string(), file.string()}, 30s);
  ASSERT_TRUE(run.exited() && run.exit_code() == 0) << run.err;
  std::vector<std::string> lines;
  for (size_t at = 0; at < run.out.size();) {
    auto end = run.out.find('\n', at);
    lines.push_back(run.out.substr(at, end - at));
    at = end == std::string::npos ? run.out.size() : end + 1;
  }
  ASSERT_EQ(lines.size(), deliveries.size()) << run.out << run.err;
  for (size_t i = 0; i < lines.size(); ++i)
    EXPECT_EQ(json::parse(lines[i]),
              json::parse(R"({"standardwebhooks":"ok","svix":"ok"})"))
      << deliveries[i].at("secret") << " " << deliveries[i].at("body");
}
