#include "actors/delivery/signing.hpp"

#include <array>
#include <memory>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace wi {

namespace {

constexpr std::string_view base64_alphabet =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Returns the 6-bit value of a base64 digit, or -1.
int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/// Decodes base64 digits without padding into whole bytes, or nullopt for a
/// character outside the standard alphabet. `leftover` gets the value of
/// the bits after the last whole byte.
std::optional<std::string> decode_digits(std::string_view digits,
                                         uint32_t& leftover) {
  std::string out;
  out.reserve(digits.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (auto c : digits) {
    auto v = base64_value(c);
    if (v < 0)
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  leftover = acc & ((1u << bits) - 1);
  return out;
}

struct mac_deleter {
  void operator()(EVP_MAC* x) const noexcept { EVP_MAC_free(x); }
  void operator()(EVP_MAC_CTX* x) const noexcept { EVP_MAC_CTX_free(x); }
};

/// Returns the HMAC-SHA256 of the concatenation of `parts` under `key`.
template <size_t N>
std::string hmac_sha256(std::string_view key,
                        const std::array<std::string_view, N>& parts) {
  // Fetching is thread-safe; the fetched algorithm is shared read-only.
  static const std::unique_ptr<EVP_MAC, mac_deleter> mac{
    EVP_MAC_fetch(nullptr, "HMAC", nullptr)};
  if (!mac)
    throw std::runtime_error("EVP_MAC_fetch(HMAC) failed");
  std::unique_ptr<EVP_MAC_CTX, mac_deleter> ctx{EVP_MAC_CTX_new(mac.get())};
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
    OSSL_PARAM_construct_end()};
  // An empty key is valid HMAC input; OpenSSL wants a non-null pointer.
  static const unsigned char empty = 0;
  auto key_ptr =
    key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
  if (!ctx || EVP_MAC_init(ctx.get(), key_ptr, key.size(), params) != 1)
    throw std::runtime_error("EVP_MAC_init failed");
  for (auto part : parts)
    if (EVP_MAC_update(ctx.get(),
                       reinterpret_cast<const unsigned char*>(part.data()),
                       part.size()) != 1)
      throw std::runtime_error("EVP_MAC_update failed");
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  size_t out_size = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &out_size, out.size()) != 1)
    throw std::runtime_error("EVP_MAC_final failed");
  return std::string{reinterpret_cast<const char*>(out.data()), out_size};
}

} // namespace

std::string base64_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) {
    return static_cast<uint32_t>(static_cast<unsigned char>(data[k]));
  };
  for (; i + 3 <= data.size(); i += 3) {
    auto n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out.push_back(base64_alphabet[(n >> 18) & 63]);
    out.push_back(base64_alphabet[(n >> 12) & 63]);
    out.push_back(base64_alphabet[(n >> 6) & 63]);
    out.push_back(base64_alphabet[n & 63]);
  }
  if (auto rest = data.size() - i; rest > 0) {
    auto n = byte(i) << 16;
    if (rest == 2)
      n |= byte(i + 1) << 8;
    out.push_back(base64_alphabet[(n >> 18) & 63]);
    out.push_back(base64_alphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? base64_alphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  // Strip up to two '=' of padding; if present, the total must be whole.
  if (!text.empty() && text.back() == '=') {
    if (text.size() % 4 != 0)
      return std::nullopt;
    text.remove_suffix(1);
    if (!text.empty() && text.back() == '=')
      text.remove_suffix(1);
  }
  if (text.size() % 4 == 1)
    return std::nullopt;
  uint32_t leftover = 0;
  auto out = decode_digits(text, leftover);
  // Leftover bits must be zero, else the text is not canonical base64.
  if (leftover != 0)
    return std::nullopt;
  return out;
}

std::optional<std::string> decode_webhook_secret(std::string_view rest) {
  size_t padding = 0;
  while (padding < rest.size() && rest[rest.size() - 1 - padding] == '=')
    ++padding;
  auto digits = rest.substr(0, rest.size() - padding);
  if (rest.size() < 4 || padding > 2 || digits.size() % 4 == 1 ||
      (padding > 0 && rest.size() % 4 != 0))
    return std::nullopt;
  uint32_t leftover = 0; // ignored, as the reference libraries ignore it
  return decode_digits(digits, leftover);
}

std::string signing_key(std::string_view secret) {
  if (secret.substr(0, webhook_secret_prefix.size()) == webhook_secret_prefix)
    if (auto key =
          decode_webhook_secret(secret.substr(webhook_secret_prefix.size())))
      return std::move(*key);
  return std::string{secret};
}

std::string sign(std::string_view secret, std::string_view msg_id,
                 int64_t timestamp, std::string_view body) {
  auto ts = std::to_string(timestamp);
  auto key = signing_key(secret);
  auto mac = hmac_sha256<5>(key, {msg_id, ".", ts, ".", body});
  return "v1," + base64_encode(mac);
}

bool verify(std::string_view secret, std::string_view msg_id, int64_t timestamp,
            std::string_view body, std::string_view signature_header) {
  auto expected = sign(secret, msg_id, timestamp, body);
  bool match = false;
  while (!signature_header.empty()) {
    auto end = signature_header.find(' ');
    auto entry = signature_header.substr(0, end);
    signature_header.remove_prefix(
      end == std::string_view::npos ? signature_header.size() : end + 1);
    // Compare every entry to keep the time independent of which matched.
    if (entry.size() == expected.size() &&
        CRYPTO_memcmp(entry.data(), expected.data(), entry.size()) == 0)
      match = true;
  }
  return match;
}

} // namespace wi
