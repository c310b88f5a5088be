// libFuzzer target: the snapshot decoders (persistence/snapshot_codec.hpp).
// A corrupt snapshot must give `corrupt_data` on field `snapshot`, never
// undefined behaviour. Whatever decodes encodes to bytes that decode to the
// same state (the encoding orders maps, so it need not equal the input), and
// the cheap format check agrees with the full decoder except on duplicate
// event ids, which only the decoder detects.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "persistence/snapshot_codec.hpp"

using namespace wi;
using namespace wi::persistence;
using wi::fuzz::check;

namespace {

void check_corrupt(const caf::error& err) {
  check(code_of(err) == errc::corrupt_data, "not corrupt_data");
  check(field_of(err) == "snapshot", "field is not snapshot");
  check(!text_of(err).empty(), "error without text");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  auto tenant = decode_tenant_snapshot(bytes);
  auto summary = check_tenant_snapshot(bytes);
  if (tenant) {
    check(static_cast<bool>(summary), "check refused a decodable snapshot");
    check(summary->tenant_id == tenant->tenant_id, "check: tenant id");
    check(summary->pending == tenant->pending, "check: pending");
    auto again = decode_tenant_snapshot(encode_snapshot(*tenant));
    check(again && *again == *tenant, "tenant snapshot round trip");
  } else {
    check_corrupt(tenant.error());
    if (!summary)
      check_corrupt(summary.error());
  }
  auto directory = decode_directory_snapshot(bytes);
  if (directory) {
    check(!tenant, "one snapshot decodes as both kinds");
    auto again = decode_directory_snapshot(encode_snapshot(*directory));
    check(again && *again == *directory, "directory snapshot round trip");
  } else {
    check_corrupt(directory.error());
  }
  return 0;
}
