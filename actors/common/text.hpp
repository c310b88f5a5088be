#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace wi {

/// Returns the length a UTF-8 lead byte announces by its bit pattern: 1 for
/// ASCII, 2 to 4 for a lead byte (including the never-valid C0, C1 and
/// F5-F7, which `utf8_sequence_length` then refuses), 0 for a continuation
/// byte or F8-FF.
[[nodiscard]] size_t utf8_lead_length(unsigned char c) noexcept;

/// Returns the length of the well-formed UTF-8 sequence at the start of `x`
/// (1 for ASCII), or 0 if `x` is empty, starts with an ill-formed sequence
/// (overlong, surrogate, beyond U+10FFFF) or with one cut by its end.
[[nodiscard]] size_t utf8_sequence_length(std::string_view x) noexcept;

/// Returns whether all of `x` is well-formed UTF-8 (no overlong forms, no
/// surrogates, at most U+10FFFF).
[[nodiscard]] bool is_valid_utf8(std::string_view x) noexcept;

/// Returns `x` with every byte that is not part of a well-formed UTF-8
/// sequence replaced by U+FFFD, and a character cut at the end dropped
/// (answers of customer endpoints, cut at 1 KiB, may hold anything, but the
/// attempt log is served as JSON). Never longer than `x`, except that each
/// invalid byte becomes three.
[[nodiscard]] std::string sanitize_utf8(std::string_view x);

/// Returns whether `x` and `y` are equal ignoring ASCII case.
[[nodiscard]] bool iequals(std::string_view x, std::string_view y) noexcept;

/// Returns whether `x` starts with `prefix`, ignoring ASCII case.
[[nodiscard]] bool istarts_with(std::string_view x,
                                std::string_view prefix) noexcept;

/// Returns whether `x` contains `needle`, ignoring ASCII case; true for an
/// empty `needle`.
[[nodiscard]] bool icontains(std::string_view x,
                             std::string_view needle) noexcept;

} // namespace wi
