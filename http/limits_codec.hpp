#pragma once

// Per-tenant limits (issue 13) in the admin API: the body of
// `PATCH /admin/v1/tenants/{id}` and the members of the tenant view.

#include <string_view>

#include <boost/json/object.hpp>
#include <caf/expected.hpp>

#include "webhook_ingress/admin.hpp"
#include "webhook_ingress/limits.hpp"

namespace wi::http {

/// Validates the body of `PATCH /admin/v1/tenants/{id}`:
/// `{"limits": {"max_endpoints": N|null, "max_stored_bytes": N|null,
/// "publish_rate": N|null, "publish_burst": N|null}}`. A limit given a number
/// is set, one given `null` follows the node default again, one left out
/// keeps its value. Checks in this order, the first failure wins:
/// 1. empty, non-JSON or non-object body: `invalid_json`, field `body`;
/// 2. `limits` missing: `validation_failed`, field `limits`;
/// 3. `limits` not an object: `invalid_parameter`, field `limits`;
/// 4. a known limit neither an integer nor null: `invalid_parameter`, field
///    `limits.<name>`;
/// 5. an unknown member of `limits`: `validation_failed`, field
///    `limits.<name>` (a typo must not pass silently);
/// 6. a value outside its range (`limit_ranges`): `validation_failed`, field
///    `limits.<name>`.
/// Other top-level members are ignored, as elsewhere in the API.
[[nodiscard]] caf::expected<limits_patch>
parse_limits_patch(std::string_view body);

/// Adds the limit members of the tenant view to `out`: `limits` (in force),
/// `limit_overrides` (only the tenant's own values) and `usage`
/// (`endpoints`, `stored_bytes`, and `publish_tokens` when known).
void add_limits_json(boost::json::object& out, const tenant_summary& x);

} // namespace wi::http
