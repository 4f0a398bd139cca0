#include "sync/ltiaas/error_body.hpp"

#include <boost/json.hpp>

#include "domain/text.hpp"

namespace rostersync::sync {
namespace json = boost::json;
namespace {

std::string string_field(const json::object& obj, std::string_view key) {
  auto* v = obj.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

Failure ltiaas_error(int http_status, std::string_view body) {
  Failure f = fail(FailureKind::http_status, "HTTP " + std::to_string(http_status), http_status);
  std::string& out = f.peer_text;
  auto add = [&out](const std::string& text) { out += (out.empty() ? "" : ": ") + text; };
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) {
    if (!body.empty()) out = clip_for_message(body);
    return f;
  }
  const json::object& root = doc.as_object();
  std::string error = string_field(root, "error");
  if (!error.empty()) add(clip_for_message(error, 120));
  if (auto* details = root.if_contains("details"); details && details->is_object()) {
    const json::object& d = details->as_object();
    for (std::string_view key : {"message", "description"}) {
      std::string text = string_field(d, key);
      if (!text.empty()) add(clip_for_message(text));
    }
    if (auto* errors = d.if_contains("errors"); errors && errors->is_array()) {
      // A handful is enough to diagnose; a peer could send thousands.
      constexpr std::size_t kMaxErrorsShown = 5;
      const json::array& list = errors->as_array();
      for (std::size_t i = 0; i < list.size() && i < kMaxErrorsShown; ++i) {
        add(clip_for_message(json::serialize(list[i])));
      }
      if (list.size() > kMaxErrorsShown) out += " (and " + std::to_string(list.size() - kMaxErrorsShown) + " more)";
    }
  } else if (error.empty()) {
    add(clip_for_message(body));
  }
  return f;
}

std::string describe_error_body(int http_status, std::string_view body) { return ltiaas_error(http_status, body).describe(); }

}  // namespace rostersync::sync
