#include "actors/common/crypto.hpp"

#include <array>
#include <chrono>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "actors/common/clock.hpp"

namespace wi::crypto {

namespace {

constexpr std::string_view base62 =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

constexpr std::string_view tenant_token_prefix = "wi_";

bool is_base62(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9');
}

bool all_base62(std::string_view s) noexcept {
  for (auto c : s)
    if (!is_base62(c))
      return false;
  return true;
}

} // namespace

std::string sha256(std::string_view data) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> md{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         md.data());
  return std::string{reinterpret_cast<const char*>(md.data()), md.size()};
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  // As in `random_base62`: no safe fallback when the CSPRNG fails.
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()),
                          static_cast<int>(n)) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return out;
}

std::string random_base62(size_t n) {
  std::string out;
  out.reserve(n);
  std::array<unsigned char, 64> buf{};
  while (out.size() < n) {
    // RAND_bytes fails only if the CSPRNG cannot be seeded, which OpenSSL
    // reports at process start; there is no safe fallback for tokens.
    if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1)
      throw std::runtime_error("RAND_bytes failed");
    for (auto byte : buf) {
      // Rejection sampling keeps the distribution uniform: 248 = 4 * 62.
      if (byte < 248 && out.size() < n)
        out.push_back(base62[byte % 62]);
    }
  }
  return out;
}

std::string make_tenant_id() {
  return random_base62(tenant_id_length);
}

std::string make_tenant_token(std::string_view tenant_id) {
  std::string out{tenant_token_prefix};
  out += tenant_id;
  out += '_';
  out += random_base62(token_secret_length);
  return out;
}

std::optional<std::string_view>
tenant_of_token(std::string_view token) noexcept {
  constexpr auto expected_size =
    tenant_token_prefix.size() + tenant_id_length + 1 + token_secret_length;
  if (token.size() != expected_size ||
      token.substr(0, tenant_token_prefix.size()) != tenant_token_prefix)
    return std::nullopt;
  auto rest = token.substr(tenant_token_prefix.size());
  auto id = rest.substr(0, tenant_id_length);
  if (rest[tenant_id_length] != '_' || !all_base62(id) ||
      !all_base62(rest.substr(tenant_id_length + 1)))
    return std::nullopt;
  return id;
}

std::string make_admin_token() {
  return "wia_" + random_base62(40);
}

unix_seconds now_seconds() noexcept {
  return wall_clock()->now_seconds();
}

} // namespace wi::crypto
