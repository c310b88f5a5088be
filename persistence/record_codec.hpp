#pragma once

#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "webhook_ingress/records.hpp"

namespace wi::persistence {

/// Encodes a record in the WAL's binary format: a format version byte, a
/// record tag byte (stable per `record` alternative), then the fields as
/// little-endian fixed-width integers and length-prefixed strings.
[[nodiscard]] std::string encode(const record& x);

/// Decodes what `encode` produced. Truncated input, trailing bytes, an
/// unknown version or tag, or an out-of-range enum yields
/// `errc::corrupt_data`; never undefined behaviour on any input.
[[nodiscard]] caf::expected<record> decode(std::string_view bytes);

/// Like `decode`, into `out`: when `out` already holds the record type that
/// `bytes` encodes, its strings and lists are overwritten in place, so a
/// loop that checks many records through one scratch `out` allocates little.
/// On error `out` holds an unspecified record.
[[nodiscard]] caf::error decode_into(std::string_view bytes, record& out);

} // namespace wi::persistence
