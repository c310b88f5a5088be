#include "support/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <curl/curl.h>

namespace wi_e2e {

namespace {

std::string to_lower(std::string_view x) {
  std::string result{x};
  std::transform(result.begin(), result.end(), result.begin(),
                 [](unsigned char c) { return static_cast<char>(tolower(c)); });
  return result;
}

std::string_view trim(std::string_view x) {
  while (!x.empty() && (x.front() == ' ' || x.front() == '\t'))
    x.remove_prefix(1);
  while (!x.empty() && (x.back() == ' ' || x.back() == '\t' ||
                        x.back() == '\r' || x.back() == '\n'))
    x.remove_suffix(1);
  return x;
}

size_t on_body(char* ptr, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(ptr, size * n);
  return size * n;
}

size_t on_header(char* ptr, size_t size, size_t n, void* user) {
  auto& headers = *static_cast<std::map<std::string, std::string>*>(user);
  std::string_view line{ptr, size * n};
  if (line.starts_with("HTTP/")) {
    headers.clear(); // a new response (e.g. after 100 Continue)
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    headers[to_lower(trim(line.substr(0, colon)))] =
      std::string{trim(line.substr(colon + 1))};
  }
  return size * n;
}

void global_init() {
  static std::once_flag flag;
  std::call_once(flag, [] { curl_global_init(CURL_GLOBAL_ALL); });
}

} // namespace

std::string http_response::header(std::string_view name) const {
  auto i = headers.find(to_lower(name));
  return i == headers.end() ? std::string{} : i->second;
}

bool http_response::has_header(std::string_view name) const {
  return headers.count(to_lower(name)) > 0;
}

const boost::json::value& http_response::data() const {
  if (auto* obj = json.if_object())
    if (auto* x = obj->if_contains("data"))
      return *x;
  std::ostringstream os;
  os << "response has no \"data\"\n" << *this;
  throw std::runtime_error(os.str());
}

const boost::json::object& http_response::error() const {
  if (auto* obj = json.if_object())
    if (auto* x = obj->if_contains("error"); x && x->is_object())
      return x->get_object();
  std::ostringstream os;
  os << "response has no \"error\" object\n" << *this;
  throw std::runtime_error(os.str());
}

std::ostream& operator<<(std::ostream& os, const http_response& r) {
  auto clip = [](const std::string& x) {
    return x.size() > 2000
             ? x.substr(0, 2000) + "...(" + std::to_string(x.size()) + " bytes)"
             : x;
  };
  os << "REQUEST: " << r.method << ' ' << r.path << '\n';
  for (const auto& [name, value] : r.request_headers)
    os << "  " << name << ": " << value << '\n';
  if (r.request_body)
    os << "  body: " << clip(*r.request_body) << '\n';
  os << "RESPONSE: " << r.status << '\n';
  for (const auto& [name, value] : r.headers)
    os << "  " << name << ": " << value << '\n';
  os << "  body: " << clip(r.body) << '\n';
  return os;
}

http_client::http_client(std::string base_url,
                         std::chrono::milliseconds timeout)
  : base_url_(std::move(base_url)), timeout_(timeout) {
  global_init();
}

namespace {

struct upload_state {
  const std::string* data;
  size_t offset = 0;
};

/// Feeds the body in pieces of at most 1000 bytes (several chunks).
size_t on_read(char* buffer, size_t size, size_t n, void* user) {
  auto& st = *static_cast<upload_state*>(user);
  auto len = std::min({size * n, st.data->size() - st.offset, size_t{1000}});
  std::memcpy(buffer, st.data->data() + st.offset, len);
  st.offset += len;
  return len;
}

/// Runs one exchange on `h` (reset first, so a kept handle reuses only its
/// connection, never stale options).
http_response perform(CURL* h, const std::string& base_url,
                      std::chrono::milliseconds timeout,
                      std::string_view method, std::string_view path,
                      const header_list& headers,
                      std::optional<std::string> body,
                      const request_options& opts) {
  http_response r;
  r.method = method;
  r.path = path;
  r.request_headers = headers;
  r.request_body = std::move(body);
  curl_easy_reset(h);
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> list{
    nullptr, &curl_slist_free_all};
  auto append = [&](const std::string& line) {
    auto* next = curl_slist_append(list.get(), line.c_str());
    if (next == nullptr)
      throw std::runtime_error("curl_slist_append failed");
    list.release();
    list.reset(next);
  };
  for (const auto& [name, value] : headers)
    append(value.empty() ? name + ";" : name + ": " + value);
  append("Expect:"); // no 100-continue round trip for larger bodies
  if (opts.chunked) {
    append("Transfer-Encoding: chunked");
    r.request_headers.emplace_back("Transfer-Encoding", "chunked");
  }
  auto url = base_url + std::string{path};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROXY, "");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &r.headers);
  auto method_str = std::string{method};
  upload_state upload{r.request_body ? &*r.request_body : nullptr};
  if (method_str == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (r.request_body && opts.chunked) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &upload);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method_str.c_str());
  } else if (r.request_body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r.request_body->data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(r.request_body->size()));
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method_str.c_str());
  } else if (method_str != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method_str.c_str());
  }
  auto rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    std::ostringstream os;
    os << "transport error: " << curl_easy_strerror(rc) << " (" << errbuf
       << ")\n"
       << r;
    throw std::runtime_error(os.str());
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  long connects = 0;
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
  r.new_connections = connects;
  if (!r.body.empty()) {
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (!ec) {
      r.json = std::move(v);
      r.is_json = true;
    }
  }
  return r;
}

} // namespace

http_response http_client::request(std::string_view method,
                                   std::string_view path,
                                   const header_list& headers,
                                   std::optional<std::string> body,
                                   const request_options& opts) const {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl{curl_easy_init(),
                                                           &curl_easy_cleanup};
  if (!curl)
    throw std::runtime_error("curl_easy_init failed");
  return perform(curl.get(), base_url_, timeout_, method, path, headers,
                 std::move(body), opts);
}

http_session::http_session(std::string base_url,
                           std::chrono::milliseconds timeout)
  : base_url_(std::move(base_url)), timeout_(timeout) {
  global_init();
  handle_ = curl_easy_init();
  if (handle_ == nullptr)
    throw std::runtime_error("curl_easy_init failed");
}

http_session::~http_session() {
  curl_easy_cleanup(handle_);
}

http_response http_session::request(std::string_view method,
                                    std::string_view path,
                                    const header_list& headers,
                                    std::optional<std::string> body,
                                    const request_options& opts) {
  return perform(handle_, base_url_, timeout_, method, path, headers,
                 std::move(body), opts);
}

header_list bearer(std::string_view token) {
  return {{"Authorization", "Bearer " + std::string{token}}};
}

std::string url_encode(std::string_view x) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string result;
  for (unsigned char c : x) {
    if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      result += static_cast<char>(c);
    } else {
      result += '%';
      result += hex[c >> 4];
      result += hex[c & 0xF];
    }
  }
  return result;
}

} // namespace wi_e2e
