// libFuzzer target: the WAL record decoder (persistence/record_codec.hpp).
// A corrupt store must give `corrupt_data` on field `wal`, never undefined
// behaviour, and the format has one encoding per record: whatever decodes
// encodes back to exactly the input. `decode_into` through one scratch
// record reused across inputs (as recovery does) must agree with `decode`.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "persistence/record_codec.hpp"

using namespace wi;
using wi::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  auto res = persistence::decode(bytes);
  static record scratch; // kept across inputs on purpose
  auto err = persistence::decode_into(bytes, scratch);
  if (!res) {
    check(code_of(res.error()) == errc::corrupt_data, "not corrupt_data");
    check(field_of(res.error()) == "wal", "field is not wal");
    check(!text_of(res.error()).empty(), "error without text");
    check(static_cast<bool>(err), "decode_into accepted what decode refused");
    check(code_of(err) == errc::corrupt_data, "decode_into: not corrupt_data");
    return 0;
  }
  check(!err, "decode_into refused what decode accepted");
  check(scratch == *res, "decode_into decoded another record");
  check(persistence::encode(*res) == bytes, "not the canonical encoding");
  return 0;
}
