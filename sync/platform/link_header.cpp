#include "sync/platform/link_header.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <algorithm>

#include "domain/text.hpp"

namespace rostersync::sync {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

class Scanner {
 public:
  explicit Scanner(std::string_view text) : s_(text) {}
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  void skip_ows() {
    while (!done() && is_ows(s_[i_])) ++i_;
  }
  void advance() { ++i_; }

  // Past the next comma that is not inside a quoted string (or to the end).
  void skip_entry() {
    bool quoted = false;
    for (; !done(); ++i_) {
      char c = s_[i_];
      if (quoted && c == '\\') {
        ++i_;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        ++i_;
        return;
      }
    }
  }

  // "<...>": the text inside, or nullopt when it never closes.
  std::optional<std::string_view> target() {
    std::size_t close = s_.find('>', i_ + 1);
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view out = s_.substr(i_ + 1, close - i_ - 1);
    i_ = close + 1;
    return out;
  }

  // A token: up to '=', ';', ',' or white space.
  std::string_view token() {
    std::size_t start = i_;
    while (!done() && !is_ows(s_[i_]) && s_[i_] != '=' && s_[i_] != ';' && s_[i_] != ',') ++i_;
    return s_.substr(start, i_ - start);
  }

  // A quoted-string starting at '"', unescaped; an unclosed one runs to the end.
  std::string quoted() {
    std::string out;
    ++i_;
    while (!done() && s_[i_] != '"') {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
      out += s_[i_++];
    }
    if (!done()) ++i_;  // the closing quote
    return out;
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

std::vector<std::string> split_rels(std::string_view value) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && std::isspace(static_cast<unsigned char>(value[i]))) ++i;
    std::size_t start = i;
    while (i < value.size() && !std::isspace(static_cast<unsigned char>(value[i]))) ++i;
    if (i > start) out.push_back(lower(value.substr(start, i - start)));
  }
  return out;
}

}  // namespace

bool WebLink::has_rel(std::string_view rel) const {
  std::string wanted = lower(rel);
  return std::find(rels.begin(), rels.end(), wanted) != rels.end();
}

std::vector<WebLink> parse_link_header(std::string_view value) {
  std::vector<WebLink> links;
  Scanner in(value);
  for (;;) {
    while (!in.done() && (is_ows(in.peek()) || in.peek() == ',')) in.advance();
    if (in.done()) break;
    if (in.peek() != '<') {
      in.skip_entry();
      continue;
    }
    std::optional<std::string_view> target = in.target();
    if (!target) break;  // "<" never closed: nothing after it can be read
    WebLink link;
    link.target = std::string(*target);
    bool rel_seen = false;
    for (;;) {
      in.skip_ows();
      if (in.done() || in.peek() == ',') break;
      if (in.peek() != ';') {  // junk after the link: drop the rest of this entry
        in.skip_entry();
        break;
      }
      in.advance();
      in.skip_ows();
      std::string name = lower(in.token());
      in.skip_ows();
      std::string param_value;
      if (in.peek() == '=') {
        in.advance();
        in.skip_ows();
        param_value = in.peek() == '"' ? in.quoted() : std::string(in.token());
      }
      if (name.empty()) continue;
      if (name == "rel") {
        if (!rel_seen) link.rels = split_rels(param_value);  // later occurrences are ignored (RFC 8288 3.3)
        rel_seen = true;
      } else {
        link.params.emplace_back(std::move(name), std::move(param_value));
      }
    }
    links.push_back(std::move(link));
  }
  return links;
}

Result<std::optional<std::string>> find_next_link(const std::vector<std::string>& header_values,
                                                  const std::string& request_url) {
  return find_link(header_values, request_url, "next");
}

Result<std::optional<std::string>> find_link(const std::vector<std::string>& header_values,
                                             const std::string& request_url, std::string_view rel) {
  std::optional<std::string> next;
  const std::string quoted = "Link rel=\"" + std::string(rel) + "\"";
  for (const std::string& value : header_values) {
    for (const WebLink& link : parse_link_header(value)) {
      if (!link.has_rel(rel)) continue;
      std::string resolved;
      auto ref = boost::urls::parse_uri_reference(link.target);
      if (!ref) {
        return fail(FailureKind::protocol, quoted + " target '" + redact_url(link.target) + "' is not a URI reference");
      }
      if (ref->has_scheme()) {
        resolved = link.target;  // opaque: byte for byte
      } else {
        auto base = boost::urls::parse_absolute_uri(request_url);
        boost::urls::url out;
        if (!base || boost::urls::resolve(*base, *ref, out).has_error()) {
          return fail(FailureKind::protocol, quoted + " target '" + redact_url(link.target) +
                                                 "' cannot be resolved against " + redact_url(request_url));
        }
        resolved = std::string(out.buffer());
      }
      if (next && *next != resolved) {
        return fail(FailureKind::protocol, "two different " + quoted + " targets (" + redact_url(*next) + " and " +
                                               redact_url(resolved) + "); refusing to guess");
      }
      next = std::move(resolved);
    }
  }
  return next;
}

}  // namespace rostersync::sync
