#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

#include "webhook_ingress/messages.hpp"
#include "webhook_ingress/records.hpp"
#include "webhook_ingress/transfer.hpp"

namespace wi {

/// The local steps of planned moves over the directory actor `directory`:
/// each function sends it one message carrying the continuation, which the
/// directory calls exactly once from its own thread (see
/// `local_tenants` in webhook_ingress/transfer.hpp for the contract, and
/// docs/architecture.md, "Planned moves", for what each step does to the
/// tenant's slot, records and parked requests).
///
/// Beyond the contract: `freeze` of a tenant frozen already answers the
/// same state again; `thaw` of a tenant that is not frozen but served here
/// succeeds; `activate` of a tenant already active with that epoch
/// succeeds; `discard` of a tenant not held here succeeds (nothing to
/// delete), and of a running one freezes it first (its WAL commits under
/// way complete before the record that forgets it).
[[nodiscard]] local_tenants local_tenants_of(directory_actor directory);

/// An import as the new owner writes it: the export decoded and checked,
/// its two WAL records encoded. Made off the directory's thread (by a
/// short-lived worker, see `prepare_import`) and handed to the directory,
/// which owns it from then on.
struct prepared_import {
  /// The registry record, applied once durable.
  tenant_imported head;
  /// `head` and the tenant's `tenant_state_imported`, encoded.
  std::string head_bytes;
  std::string state_bytes;
  /// The state the tenant starts from here.
  tenant_state data;
  /// The tenant's payloads, as exported.
  std::vector<std::pair<std::string, std::string>> payloads;
  /// `tenant_export::size_bytes` of the export.
  uint64_t bytes = 0;
};

/// Decodes and checks the export of tenant `x.tenant_id` for an import with
/// placement `epoch`: its registry entry and its state must be that
/// tenant's (not a purged entry), and every payload key under its prefix.
/// Pure; costs a full decode of the state (about 0.1 s for 100k endpoints:
/// call it off the directory's thread). Fails with `errc::corrupt_data` for
/// bytes that do not decode, `errc::validation_failed` naming `tenant` for
/// another tenant's data.
[[nodiscard]] caf::expected<prepared_import> prepare_import(tenant_export x,
                                                            uint64_t epoch);

} // namespace wi
