#pragma once

#include "webhook_ingress/messages.hpp"
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

} // namespace wi
