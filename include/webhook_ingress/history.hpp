#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "webhook_ingress/domain.hpp"

namespace wi {

/// Parameters of `GET /v1/webhook/events` (issue 17), already validated.
struct event_query {
  /// 1-based page number.
  uint32_t page = 1;
  /// Items per page, 1-100.
  uint32_t page_size = 10;
  /// Only events of this type; empty for every type.
  std::string event_type;
  /// Inclusive bounds on the event's `created_at`, if any.
  std::optional<unix_millis> created_from;
  std::optional<unix_millis> created_to;
};

/// One page of a tenant's events, newest first.
struct event_page {
  std::vector<event_state> items;
  uint32_t page = 1;
  uint32_t page_size = 10;
  /// Number of events matching the filters, over all pages.
  uint64_t total_items = 0;
};

/// One attempt of an event, with the endpoint it went to.
struct event_attempt {
  endpoint_id endpoint = 0;
  attempt_info attempt;
};

/// One page of an event's attempts on all endpoints, newest first.
struct event_attempt_page {
  std::vector<event_attempt> items;
  uint32_t page = 1;
  uint32_t page_size = 10;
  uint64_t total_items = 0;
};

} // namespace wi
