// The admin dashboard's files and the pure decision of what to answer
// (issue 18).

#include "http/ui_assets.hpp"

#include <gtest/gtest.h>

#include "webhook_ingress/error.hpp"

using namespace wi::http;
using wi::errc;

namespace {

const ui_asset& asset(std::string_view name) {
  for (const auto& x : ui_assets())
    if (x.name == name)
      return x;
  throw std::runtime_error("no asset " + std::string{name});
}

} // namespace

TEST(ui_assets, the_four_files_are_embedded_with_types_and_etags) {
  ASSERT_EQ(ui_assets().size(), 4u);
  EXPECT_EQ(asset("index.html").content_type, "text/html; charset=utf-8");
  EXPECT_EQ(asset("app.js").content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(asset("app.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(asset("favicon.svg").content_type, "image/svg+xml");
  size_t total = 0;
  for (const auto& x : ui_assets()) {
    EXPECT_EQ(x.etag.size(), 18u) << x.name;
    EXPECT_EQ(x.etag.front(), '"');
    EXPECT_FALSE(x.body.empty()) << x.name;
    total += x.body.size();
  }
  EXPECT_EQ(ui_assets_total_bytes(), total);
  // The page stays light (docs/dashboard.md states the size).
  EXPECT_LT(total, 64u * 1024);
  EXPECT_NE(asset("index.html").body.find("href=\"favicon.svg\""),
            std::string_view::npos);
}

TEST(ui_assets, paths_of_the_dashboard) {
  EXPECT_TRUE(is_ui_path("/admin/ui"));
  EXPECT_TRUE(is_ui_path("/admin/ui/"));
  EXPECT_TRUE(is_ui_path("/admin/ui/app.js"));
  EXPECT_FALSE(is_ui_path("/admin/uix"));
  EXPECT_FALSE(is_ui_path("/admin/v1/node"));
  EXPECT_FALSE(is_ui_path("/admin"));
}

TEST(ui_assets, answers) {
  auto get = http_method::get;
  auto index = answer_ui(get, "/admin/ui/", std::nullopt);
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->asset->name, "index.html");
  auto redirect = answer_ui(get, "/admin/ui", std::nullopt);
  ASSERT_TRUE(redirect);
  EXPECT_EQ(redirect->status, 308);
  EXPECT_EQ(redirect->location, "/admin/ui/");
  auto js = answer_ui(get, "/admin/ui/app.js", std::nullopt);
  ASSERT_TRUE(js);
  EXPECT_EQ(js->asset->name, "app.js");
  for (auto bad : {"/admin/ui/nope", "/admin/ui/x/app.js", "/admin/ui//",
                   "/admin/uiapp.js"}) {
    auto r = answer_ui(get, bad, std::nullopt);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(wi::code_of(r.error()), errc::route_not_found) << bad;
  }
  auto post = answer_ui(http_method::post, "/admin/ui/", std::nullopt);
  ASSERT_FALSE(post);
  EXPECT_EQ(wi::code_of(post.error()), errc::method_not_allowed);
}

TEST(ui_assets, if_none_match_gives_304) {
  auto etag = std::string{asset("app.js").etag};
  auto status = [](std::string_view header) {
    auto r = answer_ui(http_method::get, "/admin/ui/app.js", header);
    return r ? r->status : 0;
  };
  EXPECT_EQ(status(etag), 304);
  EXPECT_EQ(status("W/" + etag), 304);
  EXPECT_EQ(status("\"other\", " + etag), 304);
  EXPECT_EQ(status("*"), 304);
  EXPECT_EQ(status("\"other\""), 200);
  EXPECT_EQ(status(""), 200);
  EXPECT_EQ(status(etag.substr(1)), 200);
}
