// The binary's log lines: spdlog's text format or one JSON object a line,
// written to stderr in batches (`make_log_formatter`, `install_logger`,
// declared in config.hpp). Split from config.cpp: options and logging are
// two concerns.

#include <algorithm>
#include <mutex>
#include <string>

#include <unistd.h>

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/common/text.hpp"
#include "config.hpp"

namespace wi {

namespace {

// -- JSON log lines -----------------------------------------------------------

void put(spdlog::memory_buf_t& dest, std::string_view x) {
  dest.append(x.data(), x.data() + x.size());
}

/// Appends `x` as a JSON string; invalid UTF-8 becomes U+FFFD.
void put_json_string(spdlog::memory_buf_t& dest, std::string_view x) {
  static constexpr char hex[] = "0123456789abcdef";
  dest.push_back('"');
  size_t i = 0;
  while (i < x.size()) {
    auto c = static_cast<unsigned char>(x[i]);
    if (c >= 0x80) {
      auto n = utf8_sequence_length(x.substr(i));
      if (n == 0) {
        put(dest, "\\ufffd");
        ++i;
      } else {
        put(dest, x.substr(i, n));
        i += n;
      }
      continue;
    }
    if (c == '"' || c == '\\') {
      dest.push_back('\\');
      dest.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      put(dest, "\\n");
    } else if (c == '\t') {
      put(dest, "\\t");
    } else if (c < 0x20 || c == 0x7f) {
      put(dest, "\\u00");
      dest.push_back(hex[c >> 4]);
      dest.push_back(hex[c & 0xf]);
    } else {
      dest.push_back(static_cast<char>(c));
    }
    ++i;
  }
  dest.push_back('"');
}

/// Whether `x` is a JSON number.
bool is_json_number(std::string_view x) {
  size_t i = 0;
  auto digits = [&] {
    auto start = i;
    while (i < x.size() && std::isdigit(static_cast<unsigned char>(x[i])))
      ++i;
    return i - start;
  };
  if (i < x.size() && x[i] == '-')
    ++i;
  auto int_start = i;
  auto n = digits();
  if (n == 0 || (n > 1 && x[int_start] == '0'))
    return false;
  if (i < x.size() && x[i] == '.') {
    ++i;
    if (digits() == 0)
      return false;
  }
  return i == x.size();
}

/// One `key=value` pair at the end of a log message.
struct log_field {
  std::string_view key;
  std::string value;
  bool quoted = false;
};

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/// Splits `x` into its text and the logfmt pairs it ends with (in order).
std::pair<std::string_view, std::vector<log_field>>
split_fields(std::string_view x) {
  std::vector<log_field> fields;
  size_t end = x.size();
  while (end > 0) {
    log_field f;
    size_t eq = 0;
    if (x[end - 1] == '"') {
      // Find the opening quote: the last unescaped one before the closing.
      size_t open = end - 1;
      bool found = false;
      while (open > 0) {
        --open;
        if (x[open] == '"' && (open == 0 || x[open - 1] != '\\')) {
          found = true;
          break;
        }
      }
      if (!found || open == 0 || x[open - 1] != '=')
        break;
      auto raw = x.substr(open + 1, end - open - 2);
      for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\' && i + 1 < raw.size())
          ++i;
        f.value += raw[i];
      }
      f.quoted = true;
      eq = open - 1;
    } else {
      auto space = x.rfind(' ', end - 1);
      if (space == std::string_view::npos)
        break;
      auto token = x.substr(space + 1, end - space - 1);
      auto pos = token.find('=');
      if (pos == std::string_view::npos ||
          token.find('"') != std::string_view::npos)
        break;
      f.value = std::string{token.substr(pos + 1)};
      eq = space + 1 + pos;
    }
    size_t key_begin = eq;
    while (key_begin > 0 && is_key_char(x[key_begin - 1]))
      --key_begin;
    if (key_begin == eq || key_begin == 0 || x[key_begin - 1] != ' ' ||
        !(x[key_begin] >= 'a' && x[key_begin] <= 'z'))
      break;
    f.key = x.substr(key_begin, eq - key_begin);
    if (f.key == "time" || f.key == "level" || f.key == "msg")
      break;
    fields.push_back(std::move(f));
    end = key_begin - 1;
  }
  std::reverse(fields.begin(), fields.end());
  auto text = x.substr(0, end);
  while (!text.empty() && text.back() == ' ')
    text.remove_suffix(1);
  return {text, std::move(fields)};
}

std::string_view level_name(spdlog::level::level_enum x) {
  switch (x) {
  case spdlog::level::trace:
    return "trace";
  case spdlog::level::debug:
    return "debug";
  case spdlog::level::info:
    return "info";
  case spdlog::level::warn:
    return "warn";
  case spdlog::level::err:
    return "error";
  case spdlog::level::critical:
    return "critical";
  default:
    return "off";
  }
}

/// One JSON object per line; see `make_log_formatter`.
class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto since = msg.time.time_since_epoch();
    auto secs = duration_cast<seconds>(since);
    auto millis = duration_cast<milliseconds>(since - secs).count();
    auto t = static_cast<std::time_t>(secs.count());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[40];
    auto n =
      std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                    tm.tm_min, tm.tm_sec, static_cast<int>(millis));
    put(dest, R"({"time":")");
    put(dest, std::string_view{stamp, static_cast<size_t>(std::max(n, 0))});
    put(dest, R"(","level":")");
    put(dest, level_name(msg.level));
    put(dest, R"(","msg":)");
    auto [text, fields] =
      split_fields(std::string_view{msg.payload.data(), msg.payload.size()});
    put_json_string(dest, text);
    for (const auto& f : fields) {
      dest.push_back(',');
      put_json_string(dest, f.key);
      dest.push_back(':');
      if (!f.quoted && is_json_number(f.value))
        put(dest, f.value);
      else
        put_json_string(dest, f.value);
    }
    put(dest, "}\n");
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

} // namespace

namespace {

/// Writes log lines to stderr in batches: each line is formatted into a
/// buffer, which is written when it holds `limit` bytes, on `flush()`
/// (every second from spdlog's periodic flusher, and after every warning
/// or error, see `install_logger`), and when the sink is destroyed at exit.
/// spdlog's own stderr sinks write and flush each line: one write(2) per
/// request cost the API about 15% of its GET rate (docs/benchmarks.md). A
/// kill -9 loses at most the last second of info and debug lines.
class buffered_stderr_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  ~buffered_stderr_sink() override {
    std::lock_guard guard{mutex_};
    write_out();
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    buffer_.append(line.data(), line.size());
    if (buffer_.size() >= limit)
      write_out();
  }

  void flush_() override { write_out(); }

 private:
  static constexpr size_t limit = 64 * 1024;

  void write_out() noexcept {
    const char* p = buffer_.data();
    size_t n = buffer_.size();
    while (n > 0) {
      auto written = ::write(STDERR_FILENO, p, n);
      if (written < 0 && errno == EINTR)
        continue;
      if (written <= 0)
        break; // stderr is gone: the lines are dropped
      p += written;
      n -= static_cast<size_t>(written);
    }
    buffer_.clear();
  }

  std::string buffer_;
};

} // namespace

std::unique_ptr<spdlog::formatter> make_log_formatter(std::string_view format) {
  if (format == "text")
    return std::make_unique<spdlog::pattern_formatter>();
  if (format == "json")
    return std::make_unique<json_formatter>();
  return nullptr;
}

void install_logger(const config& cfg) {
  // A terminal gets colored lines at once; anything else (a file, a pipe,
  // a log collector) gets them in batches.
  spdlog::sink_ptr sink;
  if (cfg.log_format == "text" && ::isatty(STDERR_FILENO) == 1)
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  else
    sink = std::make_shared<buffered_stderr_sink>();
  auto logger = std::make_shared<spdlog::logger>("webhook-ingress", sink);
  logger->flush_on(spdlog::level::warn);
  if (auto f = make_log_formatter(cfg.log_format))
    logger->set_formatter(std::move(f));
  auto level = spdlog::level::info;
  if (cfg.log_level == "trace")
    level = spdlog::level::trace;
  else if (cfg.log_level == "debug")
    level = spdlog::level::debug;
  else if (cfg.log_level == "warn")
    level = spdlog::level::warn;
  else if (cfg.log_level == "error")
    level = spdlog::level::err;
  else if (cfg.log_level == "off")
    level = spdlog::level::off;
  logger->set_level(level);
  spdlog::set_default_logger(std::move(logger));
  spdlog::flush_every(std::chrono::seconds{1});
}

} // namespace wi
