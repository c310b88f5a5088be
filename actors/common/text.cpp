#include "actors/common/text.hpp"

namespace wi {

namespace {

char to_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

} // namespace

size_t utf8_lead_length(unsigned char c) noexcept {
  return c < 0x80           ? 1
         : (c >> 5) == 0x6  ? 2
         : (c >> 4) == 0xE  ? 3
         : (c >> 3) == 0x1E ? 4
                            : 0;
}

size_t utf8_sequence_length(std::string_view x) noexcept {
  if (x.empty())
    return 0;
  auto b = [&](size_t i) { return static_cast<unsigned char>(x[i]); };
  auto c = b(0);
  auto n = utf8_lead_length(c);
  if (n == 0 || n > x.size())
    return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(k) & 0xC0) != 0x80)
      return 0;
  switch (n) {
  case 2:
    return c >= 0xC2 ? 2 : 0; // no overlong forms
  case 3:
    return (c != 0xE0 || b(1) >= 0xA0) && (c != 0xED || b(1) < 0xA0) ? 3 : 0;
  case 4:
    return c <= 0xF4 && (c != 0xF0 || b(1) >= 0x90) &&
               (c != 0xF4 || b(1) < 0x90)
             ? 4
             : 0;
  default:
    return 1;
  }
}

bool is_valid_utf8(std::string_view x) noexcept {
  while (!x.empty()) {
    auto n = utf8_sequence_length(x);
    if (n == 0)
      return false;
    x.remove_prefix(n);
  }
  return true;
}

std::string sanitize_utf8(std::string_view x) {
  std::string out;
  out.reserve(x.size());
  size_t i = 0;
  while (i < x.size()) {
    auto rest = x.substr(i);
    if (auto n = utf8_sequence_length(rest); n > 0) {
      out.append(rest.substr(0, n));
      i += n;
      continue;
    }
    auto announced = utf8_lead_length(static_cast<unsigned char>(rest[0]));
    if (announced > 0 && announced > rest.size())
      break; // a character cut by the 1 KiB limit: drop its start
    out += "\xEF\xBF\xBD";
    ++i;
  }
  return out;
}

bool iequals(std::string_view x, std::string_view y) noexcept {
  if (x.size() != y.size())
    return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (to_lower(x[i]) != to_lower(y[i]))
      return false;
  return true;
}

bool istarts_with(std::string_view x, std::string_view prefix) noexcept {
  return x.size() >= prefix.size() &&
         iequals(x.substr(0, prefix.size()), prefix);
}

bool icontains(std::string_view x, std::string_view needle) noexcept {
  for (size_t i = 0; i + needle.size() <= x.size(); ++i)
    if (iequals(x.substr(i, needle.size()), needle))
      return true;
  return false;
}

} // namespace wi
