#pragma once

#include <string>
#include <utility>
#include <vector>

#include "crash/history.hpp"

namespace wi_crash {

/// Reads what `history::check` compares: the admin tenant list, and for each
/// (tenant id, token) in `tokens` every page of its endpoint list, a GET of
/// the identifier after the last one, and a GET of one listed endpoint
/// (which must show every field of its list item, unchanged). Then a list
/// request with each of `token_probes` (its status), each publish of
/// `repeats` sent again (its answer), and `GET /v1/webhook/events/<id>` of
/// each (token, event id) in `events` and of each event a repeat answered.
/// All requests go to `base_url` (loopback) on one kept-alive connection.
/// Malformed answers are noted in `problems`; a transport failure throws
/// `std::runtime_error`. Leaves `deliveries` empty (the caller reads the
/// receiver after this).
observation
observe(const std::string& base_url, const std::string& admin_token,
        const std::vector<std::pair<std::string, std::string>>& tokens,
        const std::vector<std::pair<std::string, std::string>>& events = {},
        const std::vector<repeat_request>& repeats = {},
        const std::vector<std::string>& token_probes = {});

} // namespace wi_crash
