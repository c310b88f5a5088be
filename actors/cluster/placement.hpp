#pragma once

// Placement decisions as pure functions: which node owns a tenant, and the
// etcd keys and values of cluster mode. No I/O, no clock, deterministic on
// every node and platform (a node computes the same owner as any other).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "webhook_ingress/cluster.hpp"

namespace wi::cluster {

/// The rendezvous (highest random weight) score of `node_id` for
/// `tenant_id`: a 64-bit hash of both, fixed across builds and platforms.
[[nodiscard]] uint64_t rendezvous_score(std::string_view tenant_id,
                                        std::string_view node_id) noexcept;

/// The node among `node_ids` with the highest score for `tenant_id` (ties,
/// which need equal 64-bit hashes, go to the smaller id); nothing when
/// `node_ids` is empty. Adding a node moves only the tenants it now wins
/// (about 1/N); removing one moves only the tenants it owned.
[[nodiscard]] std::optional<std::string>
rendezvous_owner(std::string_view tenant_id,
                 const std::vector<std::string>& node_ids);

/// The ids of the members placement may choose: those in state `active`.
[[nodiscard]] std::vector<std::string>
placement_candidates(const std::vector<member>& members);

/// How many tenants each node owns in `placements` (tenant id ->
/// placement); nodes owning none are absent.
[[nodiscard]] std::map<std::string, size_t>
count_by_owner(const std::map<std::string, placement, std::less<>>& placements);

/// Self-fencing: whether a node whose lease was last renewed at
/// `last_renewal` may still acknowledge writes at `now`, i.e.
/// `now - last_renewal < ttl - margin`. Never before a first renewal.
[[nodiscard]] bool may_acknowledge(
  std::chrono::steady_clock::time_point now,
  std::optional<std::chrono::steady_clock::time_point> last_renewal,
  std::chrono::milliseconds ttl, std::chrono::milliseconds margin) noexcept;

// -- etcd keys and values -----------------------------------------------------

/// `<root>/members/` : one key per member, under its lease.
[[nodiscard]] std::string members_prefix(std::string_view root);

/// `<root>/tenants/` : one placement key per tenant.
[[nodiscard]] std::string tenants_prefix(std::string_view root);

/// `{"id","http","peer","state"}`.
[[nodiscard]] std::string encode_member(const member& x);

/// Parses `encode_member`'s output; nothing when malformed.
[[nodiscard]] std::optional<member> decode_member(std::string_view text);

/// `{"owner","epoch"}`, plus `"backup"` when the placement names one.
[[nodiscard]] std::string encode_placement(const placement& x);

/// Parses `encode_placement`'s output; nothing when malformed.
[[nodiscard]] std::optional<placement> decode_placement(std::string_view text);

} // namespace wi::cluster
