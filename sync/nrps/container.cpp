#include "sync/nrps/container.hpp"
#include "domain/text.hpp"

// basic_parser streams events without building a tree: on the no-change
// pass parsing is most of the per-member work, and a tree costs about three
// times the events (an allocation and a hash entry per value).
#include <boost/json/basic_parser_impl.hpp>

#include <cmath>
#include <vector>

namespace rostersync::sync {
namespace json = boost::json;
namespace {

// What the handler is inside of, innermost last.
enum class Frame {
  root,     // the container object
  context,  // root.context
  members,  // root.members
  member,   // one entry of members
  roles,    // member.roles
  skip,     // anything else: read past, unseen
};

// The keys the handler reads, recognised once per key instead of compared
// as strings for every value.
enum class Key { other, id, context, members, next, label, title, user_id, user_id_camel, roles, status, sourcedid,
                 sourcedid_camel, email, name };

Key key_of(std::string_view k) {
  switch (k.size()) {
    case 2: return k == "id" ? Key::id : Key::other;
    case 4: return k == "next" ? Key::next : k == "name" ? Key::name : Key::other;
    case 5: return k == "label" ? Key::label : k == "title" ? Key::title : k == "roles" ? Key::roles : k == "email" ? Key::email : Key::other;
    case 6: return k == "userId" ? Key::user_id_camel : k == "status" ? Key::status : Key::other;
    case 7: return k == "context" ? Key::context : k == "members" ? Key::members : k == "user_id" ? Key::user_id : Key::other;
    case 18: return k == "lisPersonSourcedid" ? Key::sourcedid_camel : Key::other;
    case 20: return k == "lis_person_sourcedid" ? Key::sourcedid : Key::other;
    default: return Key::other;
  }
}

// A member's fields as they arrive; the rules match the NRPS spellings:
// user_id before userId, lis_person_sourcedid before lisPersonSourcedid,
// the last occurrence of a repeated key wins.
struct MemberFields {
  std::optional<std::string> user_id, user_id_camel;  // "" = present but unusable
  bool user_id_seen = false, user_id_camel_seen = false;
  bool roles_array = false;
  std::vector<std::string> roles;
  std::optional<std::string> status, sourcedid, sourcedid_camel, email, name;
};

std::optional<std::string> integral_id(double d) {
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.007199254740992e15) {
    return std::to_string(static_cast<long long>(d));
  }
  return std::nullopt;
}

class Handler {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  RosterPage page;
  bool root_is_object = false;
  bool members_array = false;
  bool next_not_string = false;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }

  bool on_object_begin(boost::system::error_code&) {
    if (stack_.empty()) {
      root_is_object = true;
      push(Frame::root);
    } else if (top() == Frame::root && key_ == Key::context) {
      clear_context();  // a repeated key: the last value wins whole
      push(Frame::context);
    } else if (top() == Frame::members) {
      member_ = MemberFields{};
      push(Frame::member);
    } else {
      value_seen_at(Frame::skip);
    }
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    Frame ended = pop();
    if (ended == Frame::member) finish_member();
    return true;
  }
  bool on_array_begin(boost::system::error_code&) {
    if (stack_.empty()) {
      push(Frame::skip);
    } else if (top() == Frame::root && key_ == Key::members) {
      members_array = true;
      page.members.clear();
      page.malformed_members = 0;
      push(Frame::members);
    } else if (top() == Frame::member && key_ == Key::roles) {
      member_.roles_array = true;
      member_.roles.clear();
      push(Frame::roles);
    } else {
      value_seen_at(Frame::skip);
    }
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    pop();
    return true;
  }

  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (!skipping()) part_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, boost::system::error_code&) {
    if (skipping()) return true;
    if (part_.empty()) {
      key_ = key_of(std::string_view(s.data(), s.size()));
    } else {
      part_.append(s.data(), s.size());
      key_ = key_of(part_);
      part_.clear();
    }
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (!skipping()) part_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, boost::system::error_code&) {
    if (skipping()) return true;
    if (part_.empty()) {
      string_value(std::string_view(s.data(), s.size()));
    } else {
      part_.append(s.data(), s.size());
      string_value(part_);
      part_.clear();
    }
    return true;
  }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, boost::system::error_code&) {
    number_value(std::to_string(i));
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, boost::system::error_code&) {
    number_value(std::to_string(u));
    return true;
  }
  bool on_double(double d, json::string_view, boost::system::error_code&) {
    number_value(integral_id(d));
    return true;
  }
  bool on_bool(bool, boost::system::error_code&) {
    other_value();
    return true;
  }
  bool on_null(boost::system::error_code&) {
    if (!stack_.empty() && top() == Frame::root && key_ == Key::next) {
      page.next.reset();
      next_not_string = false;
      return true;
    }
    other_value();
    return true;
  }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }

 private:
  Frame top() const { return stack_.back(); }
  void push(Frame f) { stack_.push_back(f); }
  Frame pop() {
    Frame f = stack_.back();
    stack_.pop_back();
    return f;
  }
  bool skipping() const { return !stack_.empty() && top() == Frame::skip; }
  void clear_context() {
    page.context_id.clear();
    page.context_label.clear();
    page.context_title.clear();
  }

  // A container value the handler does not read; inside members it is a
  // malformed entry, and inside a member it replaces a field.
  void value_seen_at(Frame f) {
    other_value();
    push(f);
  }

  // A scalar that is not a string (or a container) where a field may be.
  void other_value() {
    if (stack_.empty()) return;
    switch (top()) {
      case Frame::root:
        if (key_ == Key::context) clear_context();
        if (key_ == Key::next) next_not_string = true;
        if (key_ == Key::id) page.container_id.clear();
        if (key_ == Key::members) members_array = false;
        break;
      case Frame::context:
        if (key_ == Key::id) page.context_id.clear();
        else if (key_ == Key::label) page.context_label.clear();
        else if (key_ == Key::title) page.context_title.clear();
        break;
      case Frame::members:
        ++page.malformed_members;
        break;
      case Frame::member:
        member_field({}, false);
        break;
      default:
        break;
    }
  }

  void string_value(std::string_view text) {
    if (stack_.empty()) return;
    switch (top()) {
      case Frame::root:
        if (key_ == Key::context) clear_context();
        if (key_ == Key::id) page.container_id = text;
        else if (key_ == Key::next) {
          next_not_string = false;
          if (text.empty()) page.next.reset();
          else page.next = std::string(text);
        } else if (key_ == Key::members) {
          members_array = false;
        }
        break;
      case Frame::context:
        if (key_ == Key::id) page.context_id = text;
        else if (key_ == Key::label) page.context_label = text;
        else if (key_ == Key::title) page.context_title = text;
        break;
      case Frame::members:
        ++page.malformed_members;
        break;
      case Frame::member:
        member_field(text, true);
        break;
      case Frame::roles:
        member_.roles.emplace_back(text);
        break;
      case Frame::skip:
        break;
    }
  }

  void number_value(std::optional<std::string> id) {
    if (stack_.empty()) return;
    if (top() == Frame::member && (key_ == Key::user_id || key_ == Key::user_id_camel)) {
      member_field(id ? std::string_view(*id) : std::string_view(), true);
      return;
    }
    other_value();
  }

  // A member's field got a value: a string (`is_string`) or anything else.
  // (A number for a user id arrives here as its text, "" when unusable.)
  void member_field(std::string_view text, bool is_string) {
    auto set = [&](std::optional<std::string>& field) {
      if (is_string) field = std::string(text);
      else field.reset();
    };
    if (key_ == Key::user_id || key_ == Key::user_id_camel) {
      bool camel = key_ == Key::user_id_camel;
      (camel ? member_.user_id_camel_seen : member_.user_id_seen) = true;
      (camel ? member_.user_id_camel : member_.user_id) = is_string ? std::string(text) : std::string();
    } else if (key_ == Key::roles) {
      member_.roles_array = false;
    } else if (key_ == Key::status) {
      set(member_.status);
    } else if (key_ == Key::sourcedid) {
      set(member_.sourcedid);
    } else if (key_ == Key::sourcedid_camel) {
      set(member_.sourcedid_camel);
    } else if (key_ == Key::email) {
      set(member_.email);
    } else if (key_ == Key::name) {
      set(member_.name);
    }
  }

  void finish_member() {
    MemberFields& f = member_;
    // user_id decides when present, even if unusable; userId only without it.
    const std::optional<std::string>& id = f.user_id_seen ? f.user_id : f.user_id_camel;
    if ((!f.user_id_seen && !f.user_id_camel_seen) || !id || id->empty() || !f.roles_array) {
      ++page.malformed_members;
      return;
    }
    Member m;
    m.user_id = *id;
    m.roles = std::move(f.roles);
    m.status = f.status.value_or("");
    m.active = m.status.empty() || m.status == "Active";
    m.lis_person_sourcedid = f.sourcedid ? *f.sourcedid : f.sourcedid_camel.value_or("");
    m.email = f.email.value_or("");
    m.name = f.name.value_or("");
    page.members.push_back(std::move(m));
  }

  std::vector<Frame> stack_;
  Key key_ = Key::other;  // the last key read in the innermost object that is read
  std::string part_;  // a key or string arriving in parts
  MemberFields member_;
};

}  // namespace

Result<RosterPage> parse_roster_page(std::string_view body) {
  if (body.empty()) return fail(FailureKind::bad_response, "empty response body (expected a membership container)");
  json::basic_parser<Handler> parser(json::parse_options{});
  boost::system::error_code ec;
  std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && used < body.size()) ec = json::error::extra_data;
  if (ec) return fail(FailureKind::bad_response, "response is not JSON (" + ec.message() + "): " + clip_for_message(body, 120));
  Handler& h = parser.handler();
  if (!h.root_is_object) return fail(FailureKind::bad_response, "response is not a JSON object");
  if (!h.members_array) return fail(FailureKind::bad_response, "response has no `members` array (not a membership container)");
  if (h.next_not_string) return fail(FailureKind::bad_response, "`next` is not a string");
  return std::move(h.page);
}

}  // namespace rostersync::sync
