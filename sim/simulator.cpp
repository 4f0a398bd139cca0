#include "sim/simulator.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <fstream>
#include <memory>
#include <sstream>

namespace rostersync::sim {
namespace json = boost::json;
namespace {

constexpr const char* kMembership = "http://purl.imsglobal.org/vocab/lis/v2/membership#";
constexpr const char* kNsEnv = "http://schemas.xmlsoap.org/soap/envelope/";
constexpr const char* kNsWsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
constexpr const char* kNsMms = "http://www.imsglobal.org/services/mms/xsd/imsMemberManMessSchema_v1p0";
constexpr const char* kNsMmd = "http://www.imsglobal.org/services/mms/xsd/imsMemberManDataSchema_v1p0";
constexpr const char* kNsCmn = "http://www.imsglobal.org/services/common/imsCommonSchema_v1p0";
constexpr const char* kNsMb = "http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0";

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::string hex(std::uint64_t v) {
  std::ostringstream out;
  out << std::hex << v;
  return out.str();
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

// A roster member's user id as text, whichever spelling and type it was generated with.
std::string member_user_id(const json::value& m) {
  const json::object* o = m.if_object();
  if (!o) return "";
  for (const char* key : {"user_id", "userId"}) {
    if (const json::value* id = o->if_contains(key)) {
      if (id->is_string()) return std::string(id->as_string());
      if (id->is_int64()) return std::to_string(id->as_int64());
    }
  }
  return "";
}

Reply ltiaas_error(int status, const std::string& error, const std::string& message, const std::string& description) {
  json::object o{{"status", status}, {"error", error},
                 {"details", json::object{{"message", message}, {"description", description}}}};
  return {status, "application/json", json::serialize(o)};
}

// --- namespace-aware XML helpers (libxml2) ---
bool is(const xmlNode* n, const char* ns, const char* name) {
  return n && n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name) && n->ns &&
         xmlStrEqual(n->ns->href, BAD_CAST ns);
}
const xmlNode* child(const xmlNode* p, const char* ns, const char* name) {
  for (const xmlNode* c = p ? p->children : nullptr; c; c = c->next) {
    if (is(c, ns, name)) return c;
  }
  return nullptr;
}
std::string text(const xmlNode* n) {
  if (!n) return {};
  xmlChar* t = xmlNodeGetContent(n);
  std::string out = t ? reinterpret_cast<const char*>(t) : "";
  xmlFree(t);
  return out;
}
using Doc = std::unique_ptr<xmlDoc, decltype(&xmlFreeDoc)>;
Doc parse_xml(const std::string& body) {
  return Doc(xmlReadMemory(body.data(), static_cast<int>(body.size()), "req.xml", nullptr,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING),
             &xmlFreeDoc);
}
// The request element in the Body (createMembershipsRequest, ...), if any.
const xmlNode* request_element(const xmlDoc* doc) {
  const xmlNode* env = xmlDocGetRootElement(doc);
  if (!is(env, kNsEnv, "Envelope")) return nullptr;
  const xmlNode* body = child(env, kNsEnv, "Body");
  for (const xmlNode* c = body ? body->children : nullptr; c; c = c->next) {
    if (c->type == XML_ELEMENT_NODE && c->ns && xmlStrEqual(c->ns->href, BAD_CAST kNsMms)) return c;
  }
  return nullptr;
}

Reply soap_fault(const std::string& code_ns, const std::string& code, const std::string& text) {
  std::string body = std::string(R"(<s:Envelope xmlns:s=")") + kNsEnv + R"("><s:Body><s:Fault><faultcode xmlns:a=")" +
                     code_ns + R"(">)" + code + R"(</faultcode><faultstring xml:lang="en-US">)" + escape(text) +
                     "</faultstring></s:Fault></s:Body></s:Envelope>";
  return {500, "text/xml; charset=utf-8", body};
}

struct ItemStatus {
  bool ok;
  std::string minor_name;
  std::string minor_value;
  std::string description;
};

// Shaped like itslearning's answers: `h:` prefix plus a redeclared default namespace.
std::string sync_response(const std::string& message_id, const std::vector<ItemStatus>& statuses) {
  std::string x = std::string(R"(<s:Envelope xmlns:s=")") + kNsEnv +
                  R"(" xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><s:Header>)";
  x += std::string(R"(<h:syncResponseHeaderInfo xmlns:h=")") + kNsMb + R"(" xmlns=")" + kNsMb +
       R"(" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><messageIdentifier>)" + escape(message_id) +
       "</messageIdentifier><statusInfoSet>";
  for (const auto& s : statuses) {
    x += "<statusInfo><codeMajor>";
    x += s.ok ? "success</codeMajor><severity>status</severity>" : "failure</codeMajor><severity>error</severity>";
    if (!s.minor_name.empty()) {
      x += "<codeMinor><codeMinorField><codeMinorName>" + escape(s.minor_name) + "</codeMinorName><codeMinorValue>" +
           escape(s.minor_value) + "</codeMinorValue></codeMinorField></codeMinor>";
    }
    if (!s.description.empty()) {
      x += std::string("<description><language xmlns=\"") + kNsCmn + "\">en-US</language><text xmlns=\"" + kNsCmn + "\">" +
           escape(s.description) + "</text></description>";
    }
    x += "</statusInfo>";
  }
  x += "</statusInfoSet></h:syncResponseHeaderInfo>";
  x += std::string(R"(<o:Security s:mustUnderstand="1" xmlns:o=")") + kNsWsse +
       R"("><u:Timestamp u:Id="_0"><u:Created>2026-01-01T00:00:00.000Z</u:Created><u:Expires>2026-01-01T00:05:00.000Z</u:Expires></u:Timestamp></o:Security>)";
  x += std::string("</s:Header><s:Body><createMembershipsResponse xmlns=\"") + kNsMms + "\"/></s:Body></s:Envelope>";
  return x;
}

}  // namespace

Simulator::Simulator(Options options) : options_(std::move(options)) {
  if (options_.roster_file.empty()) {
    generate();
    return;
  }
  std::ifstream in(options_.roster_file);
  if (!in) throw std::runtime_error("cannot read roster file " + options_.roster_file);
  std::stringstream buf;
  buf << in.rdbuf();
  json::value doc = json::parse(buf.str());
  for (const auto& [key, roster] : doc.as_object()) {
    Roster r;
    r.context = roster.as_object().at("context").as_object();
    for (const auto& m : roster.as_object().at("members").as_array()) r.members.push_back(m);
    rosters_[std::string(key)] = std::move(r);
  }
}

void Simulator::generate() {
  static const char* kFirst[] = {"Ada", "Bjørn", "Chloé", "Dmitri", "Eun-ji", "Farah", "Gustav", "Hana", "Ines", "Jonas"};
  static const char* kLast[] = {"Ødegård", "Smith", "Nguyen", "O'Brien", "Müller", "García", "Kowalski", "Tanaka"};
  const int n = options_.contexts;
  const int m = options_.members;
  const long pool = std::max<long>(m, static_cast<long>(n) * m / 2);
  for (int c = 1; c <= n; ++c) {
    Roster r;
    r.context = {{"id", "ctx-" + std::to_string(c)}, {"label", "C" + std::to_string(c)}, {"title", "Course " + std::to_string(c)}};
    const bool camel = c % 2 == 0;
    const bool numeric_ids = c % 3 == 0;
    const long offset = static_cast<long>(c - 1) * (m / 2);
    for (int j = 0; j < m; ++j) {
      long p = (offset + j) % pool;
      std::uint64_t h = splitmix(options_.seed * 1'000'003ull + static_cast<std::uint64_t>(p));
      json::object member;
      json::value uid = numeric_ids ? json::value(1'000'000 + p) : json::value("u" + hex(h));
      std::string given = kFirst[h % 10];
      std::string family = kLast[(h >> 8) % 8];
      json::array roles;
      if (j == 0) roles.emplace_back(std::string(kMembership) + "Instructor");
      else if (j == 1 && m >= 10) {
        roles.emplace_back(std::string(kMembership) + "Instructor");
        roles.emplace_back("http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant");
      } else roles.emplace_back(std::string(kMembership) + "Learner");
      std::string status = "Active";
      std::string sourcedid = "sis-" + std::to_string(100000 + p);
      if (options_.mix && m >= 10) {
        if (j == 2) status = "Inactive";
        if (j == 3) roles.emplace_back("http://purl.imsglobal.org/vocab/lti/system/person#TestUser");
        if (j == 4) sourcedid.clear();
        if (j == 5) roles = json::array{"http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"};
        if (j == 6) sourcedid += "-O'Brien&Co<x>\"";
      }
      member[camel ? "userId" : "user_id"] = uid;
      member["roles"] = roles;
      if (!(options_.mix && j == 7)) member["status"] = status;  // sometimes absent: means Active
      member["name"] = given + " " + family;
      member[camel ? "givenName" : "given_name"] = given;
      member[camel ? "familyName" : "family_name"] = family;
      member["email"] = "p" + std::to_string(p) + "@school.example";
      if (!sourcedid.empty()) member[camel ? "lisPersonSourcedid" : "lis_person_sourcedid"] = sourcedid;
      r.members.emplace_back(std::move(member));
    }
    rosters_["course-" + std::to_string(c) + "-key"] = std::move(r);
  }
}

int Simulator::count_operations(const std::string& body) {
  Doc doc = parse_xml(body);
  if (!doc) return 0;
  const xmlNode* request = request_element(doc.get());
  if (is(request, kNsMms, "readMembershipsForGroupRequest")) return 1;  // a read counts as one operation
  int n = 0;
  for (const char* set_name : {"membershipIdPairSet", "sourcedIdSet"}) {
    const xmlNode* set = child(request, kNsMms, set_name);
    for (const xmlNode* c = set ? set->children : nullptr; c; c = c->next) {
      if (is(c, kNsMms, "membershipIdPair") || is(c, kNsCmn, "identifier")) ++n;
    }
  }
  return n;
}

std::pair<std::string, const FaultRule*> Simulator::pick_fault(Endpoint endpoint) {
  std::uint64_t n = ++requests_since_rules_[endpoint];
  for (const FaultRule& rule : rules_) {
    if (rule.endpoint != endpoint || rule.kinds.empty()) continue;
    bool fires = rule.on_request ? n == rule.on_request
                                 : std::uniform_real_distribution<double>(0, 1)(fault_rng_) < rule.probability;
    if (!fires) continue;
    const std::string& kind = rule.kinds[std::uniform_int_distribution<std::size_t>(0, rule.kinds.size() - 1)(fault_rng_)];
    ++faults_injected_[kind];
    return {kind, &rule};
  }
  return {"", nullptr};
}

namespace {

// Faults that answer instead of the service: nothing is applied.
std::optional<Reply> refusal_fault(const std::string& kind, const FaultRule& rule) {
  Reply r;
  r.content_type = "text/html";
  if (kind == "status_500" || kind == "status_502" || kind == "status_503") {
    r.status = std::stoi(kind.substr(7));
    r.body = "<html><body><h1>" + std::to_string(r.status) + "</h1>simulated outage</body></html>";
    return r;
  }
  if (kind == "throttle") {
    r.status = 429;
    r.retry_after = rule.retry_after;
    r.body = "Too Many Requests";
    return r;
  }
  if (kind == "reset_before") {
    r.delivery = Delivery::reset;
    return r;
  }
  return std::nullopt;
}

// Faults that damage an answer after the service applied the request.
void damage(Reply& r, const std::string& kind) {
  if (kind == "reset_after") r.delivery = Delivery::reset;
  else if (kind == "truncate") r.delivery = Delivery::truncate;
  else if (kind == "drip") r.delivery = Delivery::drip;
  else if (kind == "malformed") r.body = r.body.substr(0, r.body.size() / 3) + "\x01<<{{ not what you expected";
  else if (kind == "empty") r.body.clear();
  else if (kind == "oversized") r.body += std::string(24u << 20, ' ');  // beyond rostersync's 16 MiB default cap
}

}  // namespace

Reply Simulator::handle(const Request& req, std::chrono::system_clock::time_point now) {
  const std::string& method = req.method;
  const std::string& target = req.target;
  if (target.rfind("/_sim/", 0) == 0) return control(method, target, req.body);
  user_agents_.insert(req.user_agent);
  // The platform side answers only on its own origin's host name (127.0.0.1);
  // "localhost" stands for another origin, where no credential may ever arrive.
  if (req.host.rfind("localhost", 0) == 0 && !req.authorization.empty()) ++foreign_origin_requests_;
  bool roster = target.rfind("/api/memberships", 0) == 0 && method == "GET";
  bool ims = method == "POST" && target.find(".svc") != std::string::npos;
  bool token = method == "POST" && target == "/platform/token";
  bool nrps = method == "GET" && target.rfind("/platform/contexts/", 0) == 0;
  if (!roster && !ims && !token && !nrps) return {404, "text/plain", "no such endpoint: " + method + " " + target};
  if (roster || nrps) ++page_requests_;  // faulted requests count too
  if (ims) ++create_calls_;
  auto [kind, rule] = pick_fault(roster || nrps ? Endpoint::roster : ims ? Endpoint::imses : Endpoint::token);
  std::chrono::milliseconds delay(rule && kind == "latency" ? rule->latency_ms : 0);
  if (rule) {
    if (auto refused = refusal_fault(kind, *rule)) return *refused;
  }
  Reply r = roster  ? memberships(target, req.authorization, kind)
            : nrps  ? platform_page(req, kind, now)
            : token ? platform_token(req, now)
                    : imses(req.soap_action, req.body, kind);
  damage(r, kind);
  r.delay = delay;
  return r;
}

Reply Simulator::memberships(const std::string& target, const std::string& authorization, const std::string& fault) {
  std::string key;
  for (const char* scheme : {"SERVICE-AUTH-V1 ", "LTIK-AUTH-V2 "}) {
    std::string prefix = scheme + options_.api_key + ":";
    if (authorization.rfind(prefix, 0) == 0) key = authorization.substr(prefix.size());
  }
  // LTIK-AUTH-V1 Token=<ltik>, Additional=Bearer <API_KEY> (the older documented form).
  const std::string v1 = "LTIK-AUTH-V1 Token=", bearer = ", Additional=Bearer " + options_.api_key;
  if (authorization.rfind(v1, 0) == 0 && authorization.size() > v1.size() + bearer.size() &&
      authorization.compare(authorization.size() - bearer.size(), bearer.size(), bearer) == 0) {
    key = authorization.substr(v1.size(), authorization.size() - v1.size() - bearer.size());
  }
  if (key.empty() || !rosters_.count(key)) {
    return ltiaas_error(401, "Unauthorized", "INVALID_SERVICE_KEY_AUTHORIZATION_HEADER", "Invalid or unknown service key.");
  }
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return ltiaas_error(400, "Bad Request", "INVALID_QUERY", "Unparseable request target.");
  auto params = url->params();
  if (auto it = params.find("url"); it != params.end()) {
    std::string next((*it).value);
    auto cursor = issued_next_.find(next);
    if (cursor == issued_next_.end() || cursor->second.service_key != key) {
      return ltiaas_error(400, "Bad Request", "INVALID_NEXT_URL", "The url parameter is not a next URL this service issued.");
    }
    return serve_page(key, cursor->second.offset, cursor->second.limit, cursor->second.page, fault);
  }
  std::size_t limit = 1000;
  if (auto it = params.find("limit"); it != params.end()) limit = std::max(1, std::atoi(std::string((*it).value).c_str()));
  return serve_page(key, 0, limit, 1, fault);
}

Reply Simulator::serve_page(const std::string& key, std::size_t offset, std::size_t limit, int page,
                            const std::string& fault) {
  if (fail_page_ != 0 && page == fail_page_) {
    return ltiaas_error(500, "Internal Server Error", "PLATFORM_ERROR", "Simulated failure on page " + std::to_string(page));
  }
  const Roster& r = rosters_.at(key);
  json::array members;
  for (std::size_t i = offset; i < std::min(r.members.size(), offset + limit); ++i) members.push_back(r.members[i]);
  std::string ctx_id(r.context.at("id").as_string());
  json::object out{{"id", "https://lms.example.edu/api/lti/courses/" + ctx_id + "/names_and_roles"},
                   {"context", r.context},
                   {"members", std::move(members)}};
  if (offset + limit < r.members.size()) {
    // Opaque LMS URL with characters that must survive the url= round trip
    // unchanged (percent-escapes in both cases, '+', '&').
    std::string next = "https://lms.example.edu/api/lti/courses/" + ctx_id + "/names_and_roles?tlid=a%2Fb%2fc+d&page=" +
                       std::to_string(page + 1) + "&per_page=" + std::to_string(limit);
    issued_next_[next] = {key, offset + limit, limit, page + 1};
    out["next"] = next;
  }
  if (fault == "no_members") out.erase("members");
  if (fault == "next_loop" || fault == "next_other_origin") {
    // A `next` back to this very page, or to a host that is not the LMS.
    std::string next = fault == "next_other_origin"
                           ? "https://collector.attacker.example/api/lti/courses/" + ctx_id + "/names_and_roles?page=2"
                           : "https://lms.example.edu/api/lti/courses/" + ctx_id + "/names_and_roles?loop=" +
                                 std::to_string(page);
    issued_next_[next] = {key, offset, limit, page};
    out["next"] = next;
  }
  return {200, "application/json", json::serialize(out)};
}

namespace {

// The operation a SOAPAction names ("" when it is none the simulator serves).
std::string imses_operation(const std::string& soap_action) {
  std::string action = soap_action;
  if (action.size() >= 2 && action.front() == '"' && action.back() == '"') action = action.substr(1, action.size() - 2);
  const std::string prefix = "http://www.imsglobal.org/soap/mms/";
  if (action.rfind(prefix, 0) != 0) return "";
  std::string op = action.substr(prefix.size());
  static const std::set<std::string> kServed = {"createMemberships", "updateMemberships", "replaceMemberships",
                                                "deleteMemberships", "readMembershipsForGroup"};
  return kServed.count(op) ? op : "";
}

std::string group_response_body(const std::vector<std::pair<std::string, StoredMembership>>& found) {
  std::string x = std::string("<readMembershipsForGroupResponse xmlns=\"") + kNsMms + "\"><membershipIDPairSet>";
  for (const auto& [id, m] : found) {
    x += std::string("<membershipIdPair><sourcedId><identifier xmlns=\"") + kNsCmn + "\">" + escape(id) +
         "</identifier></sourcedId><membership><groupSourcedId xmlns=\"" + kNsMmd + "\"><identifier xmlns=\"" + kNsCmn +
         "\">" + escape(m.group) + "</identifier></groupSourcedId><member xmlns=\"" + kNsMmd +
         "\"><memberSourcedId><identifier xmlns=\"" + kNsCmn + "\">" + escape(m.person) +
         "</identifier></memberSourcedId><role><roleType>" + escape(m.role) + "</roleType></role></member></membership>"
         "</membershipIdPair>";
  }
  return x + "</membershipIDPairSet></readMembershipsForGroupResponse>";
}

}  // namespace

Reply Simulator::imses(const std::string& soap_action, const std::string& body, const std::string& fault) {
  const std::string op = imses_operation(soap_action);
  if (op.empty()) {
    return soap_fault(kNsEnv, "a:ActionNotSupported", "The SOAP action '" + soap_action + "' is not supported.");
  }
  Doc doc = parse_xml(body);
  const xmlNode* env = doc ? xmlDocGetRootElement(doc.get()) : nullptr;
  if (!is(env, kNsEnv, "Envelope")) return soap_fault(kNsEnv, "s:Client", "The request body could not be deserialized.");
  const xmlNode* token = child(child(child(env, kNsEnv, "Header"), kNsWsse, "Security"), kNsWsse, "UsernameToken");
  if (text(child(token, kNsWsse, "Username")) != options_.imses_username ||
      text(child(token, kNsWsse, "Password")) != options_.imses_password) {
    return soap_fault(kNsWsse, "a:InvalidSecurity", "An error occurred when verifying security for the message.");
  }
  std::string message_id =
      text(child(child(child(env, kNsEnv, "Header"), kNsMb, "syncRequestHeaderInfo"), kNsMb, "messageIdentifier"));
  const xmlNode* request = child(child(env, kNsEnv, "Body"), kNsMms, (op + "Request").c_str());
  if (!request) return soap_fault(kNsEnv, "s:Client", "The request body could not be deserialized.");
  ++calls_by_operation_[op];

  if (op == "readMembershipsForGroup") {
    std::string group = text(child(child(request, kNsMms, "groupSourcedId"), kNsCmn, "identifier"));
    std::vector<std::pair<std::string, StoredMembership>> found;
    for (const auto& [id, m] : memberships_) {
      if (m.group == group) found.emplace_back(id, m);
    }
    std::string xml = sync_response(message_id, {{true, "", "", ""}});
    auto at = xml.find("<createMembershipsResponse");
    xml.replace(at, xml.find("/>", at) + 2 - at, group_response_body(found));
    return {200, "text/xml; charset=utf-8", xml};
  }

  std::vector<ItemStatus> statuses;
  if (op == "deleteMemberships") {
    for (const xmlNode* id = child(request, kNsMms, "sourcedIdSet") ? child(request, kNsMms, "sourcedIdSet")->children
                                                                    : nullptr;
         id; id = id->next) {
      if (!is(id, kNsCmn, "identifier")) continue;
      std::string value = text(id);
      ++items_received_;
      if (memberships_.erase(value) == 0) {
        statuses.push_back({false, "MembershipNotFound", value, "Membership with sourcedId '" + value + "' does not exist."});
      } else {
        statuses.push_back({true, "", "", ""});
      }
    }
  } else {
    const xmlNode* set = child(request, kNsMms, "membershipIdPairSet");
    if (!set) return soap_fault(kNsEnv, "s:Client", "The request body could not be deserialized.");
    static const std::set<std::string> kRoleTypes = {"Learner", "Instructor", "ContentDeveloper", "Member", "Manager",
                                                      "Mentor", "Administrator", "TeachingAssistant", "01", "02", "03",
                                                      "04", "05", "06", "07", "08", "Default", "Guest"};
    struct Item {
      std::string id, group, person, role;
    };
    std::vector<Item> items;
    for (const xmlNode* p = set->children; p; p = p->next) {
      if (!is(p, kNsMms, "membershipIdPair")) continue;
      const xmlNode* membership = child(p, kNsMms, "membership");
      const xmlNode* member = child(membership, kNsMmd, "member");
      Item it{text(child(child(p, kNsMms, "sourcedId"), kNsCmn, "identifier")),
              text(child(child(membership, kNsMmd, "groupSourcedId"), kNsCmn, "identifier")),
              text(child(child(member, kNsMmd, "memberSourcedId"), kNsCmn, "identifier")),
              text(child(child(member, kNsMmd, "role"), kNsMmd, "roleType"))};
      if (!kRoleTypes.count(it.role)) {  // itslearning faults the whole request on a bad enumeration value
        return soap_fault(kNsEnv, "s:Client", "The formatter threw an exception while trying to deserialize the message: "
                                              "invalid roleType '" + it.role + "'.");
      }
      items.push_back(std::move(it));
    }
    items_received_ += items.size();
    for (const Item& it : items) {
      if (it.id.empty() || it.id.size() > 255) {
        statuses.push_back({false, "MembershipId", it.id, "Membership sourcedId is missing or longer than 255 characters."});
      } else if (it.group.empty() || it.person.empty()) {
        statuses.push_back({false, "Membership", it.id, "Group or person sourcedId is missing."});
      } else if (reject_persons_.count(it.person) || (fault == "item_failure" && statuses.empty())) {
        statuses.push_back({false, "PersonNotFound", it.person, "Person with sync key '" + it.person + "' does not exist."});
      } else {
        // Create, update and replace all act as upserts for the same id;
        // a new id for a pair already present makes a SECOND membership,
        // as it would in itslearning (tests look for exactly that).
        memberships_[it.id] = {it.group, it.person, it.role};
        statuses.push_back({true, "", "", ""});
      }
    }
  }
  if (fault == "wrong_count" && !statuses.empty()) statuses.pop_back();
  std::string xml = sync_response(message_id, statuses);
  if (op != "createMemberships") {
    auto at = xml.find("<createMembershipsResponse");
    xml.replace(at, 26, "<" + op + "Response");
  }
  if (fault == "processing") {  // applied, but not reported as final
    for (std::size_t at = 0; (at = xml.find("<codeMajor>success</codeMajor>", at)) != std::string::npos;) {
      xml.replace(at, 30, "<codeMajor>processing</codeMajor>");
    }
  }
  return {200, "text/xml; charset=utf-8", xml};
}

Reply Simulator::control(const std::string& method, const std::string& path, const std::string& body) {
  if (method == "GET" && path == "/_sim/state") {
    json::array ms;
    for (const auto& [id, m] : memberships_) {
      ms.push_back(json::object{{"id", id}, {"group", m.group}, {"person", m.person}, {"role", m.role}});
    }
    json::object o{{"memberships", std::move(ms)},
                   {"create_calls", create_calls_},
                   {"items_received", items_received_},
                   {"page_requests", page_requests_},
                   {"max_in_flight_ops", max_in_flight_ops},
                   {"max_in_flight_pages", max_in_flight_pages_},
                   {"max_in_flight_pages_per_roster", max_in_flight_pages_per_roster_}};
    json::object calls;
    for (const auto& [op, n] : calls_by_operation_) calls[op] = n;
    o["calls"] = std::move(calls);
    json::object injected;
    for (const auto& [kind, n] : faults_injected_) injected[kind] = n;
    o["faults_injected"] = std::move(injected);
    o["user_agents"] = json::array(user_agents_.begin(), user_agents_.end());
    platform_state(o);
    return {200, "application/json", json::serialize(o)};
  }
  if (method == "POST" && path == "/_sim/platform") return platform_control(body);
  if (method == "GET" && path == "/_sim/rosters") {
    json::object o;
    for (const auto& [key, r] : rosters_) {
      json::array members(r.members.begin(), r.members.end());
      o[key] = json::object{{"context", r.context}, {"members", std::move(members)}};
    }
    return {200, "application/json", json::serialize(o)};
  }
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  const std::string prefix = "/_sim/rosters/";
  if (method == "POST" && path.rfind(prefix, 0) == 0 && path.size() > prefix.size() + 8 &&
      path.substr(path.size() - 8) == "/members") {
    std::string key = path.substr(prefix.size(), path.size() - prefix.size() - 8);
    if (ec || !doc.is_array() || !rosters_.count(key)) return {400, "text/plain", "expected a JSON array for a known roster"};
    for (const auto& m : doc.as_array()) rosters_[key].members.push_back(m);
    return {200, "application/json", "{}"};
  }
  // POST /_sim/memberships [{"id", "group", "person", "role"}]: memberships
  // made outside rostersync (by hand in the UI: itsla-<GUID> ids, or by an
  // earlier integration), kept as they are.
  if (method == "POST" && path == "/_sim/memberships") {
    if (ec || !doc.is_array()) return {400, "text/plain", "expected a JSON array of memberships"};
    for (const auto& m : doc.as_array()) {
      const json::object* o = m.if_object();
      if (!o || !o->if_contains("id") || !o->if_contains("group") || !o->if_contains("person")) {
        return {400, "text/plain", "each membership needs id, group and person"};
      }
      std::string role = o->if_contains("role") ? std::string(o->at("role").as_string()) : "Learner";
      memberships_[std::string(o->at("id").as_string())] = {std::string(o->at("group").as_string()),
                                                            std::string(o->at("person").as_string()), role};
    }
    return {200, "application/json", "{}"};
  }
  // DELETE /_sim/memberships/<id>: removed in itslearning behind rostersync's back.
  if (method == "DELETE" && path.rfind("/_sim/memberships/", 0) == 0) {
    std::string id = path.substr(18);
    if (memberships_.erase(id) == 0) return {404, "text/plain", "no membership " + id};
    return {200, "application/json", "{}"};
  }
  // POST /_sim/rosters/<key>/members/<user_id>/roles ["Instructor"]: the member's roles change.
  if (method == "POST" && path.rfind(prefix, 0) == 0 && path.size() > 6 && path.substr(path.size() - 6) == "/roles") {
    std::string rest = path.substr(prefix.size(), path.size() - prefix.size() - 6);
    auto mid = rest.find("/members/");
    if (ec || !doc.is_array() || mid == std::string::npos || !rosters_.count(rest.substr(0, mid))) {
      return {400, "text/plain", "expected a JSON array of roles for a known roster"};
    }
    std::string user = rest.substr(mid + 9);
    for (auto& m : rosters_[rest.substr(0, mid)].members) {
      if (member_user_id(m) == user) {
        m.as_object()["roles"] = doc;
        return {200, "application/json", "{}"};
      }
    }
    return {404, "text/plain", "no member " + user};
  }
  if (method == "POST" && path == "/_sim/faults") {
    if (ec || !doc.is_object()) return {400, "text/plain", "expected a JSON object"};
    const json::object& o = doc.as_object();
    if (auto* v = o.if_contains("fail_page")) fail_page_ = static_cast<int>(v->to_number<std::int64_t>());
    if (auto* v = o.if_contains("reject_persons")) {
      reject_persons_.clear();
      for (const auto& p : v->as_array()) reject_persons_.insert(std::string(p.as_string()));
    }
    if (auto* v = o.if_contains("imses_password")) options_.imses_password = std::string(v->as_string());
    if (auto* v = o.if_contains("seed")) fault_rng_.seed(static_cast<std::uint64_t>(v->to_number<std::int64_t>()));
    if (auto* v = o.if_contains("rules")) {
      rules_.clear();
      requests_since_rules_.clear();
      for (const auto& item : v->as_array()) {
        const json::object& r = item.as_object();
        FaultRule rule;
        const auto& endpoint = r.at("endpoint").as_string();
        rule.endpoint = endpoint == "roster" ? Endpoint::roster : endpoint == "token" ? Endpoint::token : Endpoint::imses;
        for (const auto& k : r.at("kinds").as_array()) rule.kinds.emplace_back(k.as_string());
        if (auto* p = r.if_contains("probability")) rule.probability = p->to_number<double>();
        if (auto* n = r.if_contains("on_request")) rule.on_request = n->to_number<std::uint64_t>();
        if (auto* l = r.if_contains("latency_ms")) rule.latency_ms = static_cast<int>(l->to_number<std::int64_t>());
        if (auto* a = r.if_contains("retry_after")) rule.retry_after = std::string(a->as_string());
        rules_.push_back(std::move(rule));
      }
    }
    return {200, "application/json", "{}"};
  }
  // DELETE /_sim/rosters/<key>/members/<user_id>: the member leaves the course.
  if (method == "DELETE" && path.rfind(prefix, 0) == 0) {
    std::string rest = path.substr(prefix.size());
    auto mid = rest.find("/members/");
    if (mid != std::string::npos && rosters_.count(rest.substr(0, mid))) {
      std::string user = rest.substr(mid + 9);
      auto& members = rosters_[rest.substr(0, mid)].members;
      auto before = members.size();
      std::erase_if(members, [&](const json::value& m) { return member_user_id(m) == user; });
      if (members.size() == before) return {404, "text/plain", "no member " + user};
      return {200, "application/json", "{}"};
    }
  }
  return {404, "text/plain", "unknown control endpoint " + method + " " + path};
}

void Simulator::page_started(const std::string& authorization) {
  max_in_flight_pages_ = std::max(max_in_flight_pages_, ++in_flight_pages_);
  max_in_flight_pages_per_roster_ = std::max(max_in_flight_pages_per_roster_, ++in_flight_pages_by_roster_[authorization]);
}

void Simulator::page_finished(const std::string& authorization) {
  --in_flight_pages_;
  --in_flight_pages_by_roster_[authorization];
}

}  // namespace rostersync::sim
