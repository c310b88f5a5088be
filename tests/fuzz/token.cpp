// libFuzzer target: the bearer token parser (actors/crypto.hpp,
// `tenant_of_token`), which every request with a token reaches before any
// check. Whatever it accepts has the documented shape
// `wi_<16 base62>_<32 base62>`, and the id it returns lies inside the token.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "actors/crypto.hpp"
#include "fuzz_check.hpp"

using wi::fuzz::check;
namespace crypto = wi::crypto;

namespace {

bool base62(std::string_view x) {
  for (char c : x)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z')))
      return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view token{reinterpret_cast<const char*>(data), size};
  auto id = crypto::tenant_of_token(token);
  if (!id)
    return 0;
  check(id->data() == token.data() + 3, "id not after the prefix");
  check(token.substr(0, 3) == "wi_", "prefix");
  check(id->size() == crypto::tenant_id_length && base62(*id), "tenant id");
  auto secret = token.substr(3 + id->size());
  check(secret.size() == 1 + crypto::token_secret_length && secret[0] == '_' &&
          base62(secret.substr(1)),
        "secret");
  // The comparison the owner then makes is total on any pair of inputs.
  auto hash = crypto::sha256(token);
  check(hash.size() == 32, "hash size");
  check(crypto::constant_time_equal(hash, crypto::sha256(token)), "hash");
  return 0;
}
