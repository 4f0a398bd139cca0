#include "sync/imses/soap.hpp"
#include "domain/text.hpp"
#include "sync/policy/retry_policy.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <memory>

namespace rostersync::sync::soap {
namespace {

// Longest text kept from any one element of a response (a fault string, a
// status description); itslearning's own are a sentence long.
constexpr std::size_t kMaxPeerText = 1000;

using DocPtr = std::unique_ptr<xmlDoc, decltype(&xmlFreeDoc)>;

bool is(const xmlNode* n, std::string_view ns, std::string_view name) {
  if (!n || n->type != XML_ELEMENT_NODE) return false;
  if (name != reinterpret_cast<const char*>(n->name)) return false;
  std::string_view actual = n->ns && n->ns->href ? reinterpret_cast<const char*>(n->ns->href) : "";
  return actual == ns;
}

const xmlNode* child(const xmlNode* parent, std::string_view ns, std::string_view name) {
  for (const xmlNode* c = parent ? parent->children : nullptr; c; c = c->next) {
    if (is(c, ns, name)) return c;
  }
  return nullptr;
}

std::vector<const xmlNode*> children(const xmlNode* parent, std::string_view ns, std::string_view name) {
  std::vector<const xmlNode*> out;
  for (const xmlNode* c = parent ? parent->children : nullptr; c; c = c->next) {
    if (is(c, ns, name)) out.push_back(c);
  }
  return out;
}

std::string text(const xmlNode* n) {
  if (!n) return {};
  xmlChar* content = xmlNodeGetContent(n);
  std::string out = content ? reinterpret_cast<const char*>(content) : "";
  xmlFree(content);
  auto first = out.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  // Everything read here ends up in logs and the database: made safe (no
  // control characters, valid UTF-8) and bounded where it enters.
  return clip_for_message(std::string_view(out).substr(first, out.find_last_not_of(" \t\r\n") - first + 1),
                          kMaxPeerText);
}

// Fault children are unqualified in SOAP 1.1, but some stacks qualify them.
const xmlNode* fault_child(const xmlNode* fault, std::string_view name) {
  if (const xmlNode* n = child(fault, "", name)) return n;
  return child(fault, kNsEnvelope, name);
}

StatusInfo read_status(const xmlNode* n) {
  StatusInfo s;
  s.code_major = text(child(n, kNsMessBind, "codeMajor"));
  s.severity = text(child(n, kNsMessBind, "severity"));
  for (const xmlNode* field : children(child(n, kNsMessBind, "codeMinor"), kNsMessBind, "codeMinorField")) {
    if (!s.code_minor.empty()) s.code_minor += "; ";
    s.code_minor += text(child(field, kNsMessBind, "codeMinorName"));
    std::string value = text(child(field, kNsMessBind, "codeMinorValue"));
    if (!value.empty()) s.code_minor += "=" + value;
  }
  if (const xmlNode* d = child(n, kNsMessBind, "description")) s.description = text(child(d, kNsCommon, "text"));
  return s;
}


std::string local_part(std::string_view qname) {
  auto colon = qname.rfind(':');
  return std::string(colon == std::string_view::npos ? qname : qname.substr(colon + 1));
}

std::string describe(const StatusInfo& s) {
  std::string out = s.code_major + "/" + s.severity;
  if (!s.code_minor.empty()) out += " " + s.code_minor;
  if (!s.description.empty()) out += ": " + s.description;
  return out;
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// The envelope up to the open Body: namespaces, WS-Security, message id.
void open_envelope(std::string& x, const Credentials& credentials, std::string_view message_id) {
  x += R"(<?xml version="1.0" encoding="utf-8"?>)";
  x += R"(<soapenv:Envelope xmlns:soapenv=")";
  x += kNsEnvelope;
  x += R"(" xmlns:wsse=")";
  x += kNsWsse;
  x += R"(" xmlns:mb=")";
  x += kNsMessBind;
  x += R"(" xmlns:mms=")";
  x += kNsMms;
  x += R"(" xmlns:mmd=")";
  x += kNsMmd;
  x += R"(" xmlns:cmn=")";
  x += kNsCommon;
  x += R"("><soapenv:Header><wsse:Security soapenv:mustUnderstand="1"><wsse:UsernameToken><wsse:Username>)";
  x += xml_escape(credentials.username);
  x += R"(</wsse:Username><wsse:Password Type=")";
  x += kPasswordText;
  x += R"(">)";
  x += xml_escape(credentials.password);
  x += R"(</wsse:Password></wsse:UsernameToken></wsse:Security><mb:syncRequestHeaderInfo><mb:messageIdentifier>)";
  x += xml_escape(message_id);
  x += R"(</mb:messageIdentifier></mb:syncRequestHeaderInfo></soapenv:Header><soapenv:Body>)";
}

void close_envelope(std::string& x) { x += "</soapenv:Body></soapenv:Envelope>"; }

void identifier(std::string& x, std::string_view value) {
  x += "<cmn:identifier>";
  x += xml_escape(value);
  x += "</cmn:identifier>";
}

}  // namespace

std::string_view soap_action(MembershipOp op) {
  switch (op) {
    case MembershipOp::create: return kCreateMembershipsAction;
    case MembershipOp::update: return kUpdateMembershipsAction;
    case MembershipOp::remove: return kDeleteMembershipsAction;
  }
  return kCreateMembershipsAction;
}

std::string_view operation_name(MembershipOp op) {
  switch (op) {
    case MembershipOp::create: return "createMemberships";
    case MembershipOp::update: return "updateMemberships";
    case MembershipOp::remove: return "deleteMemberships";
  }
  return "createMemberships";
}

std::string build_membership_request(MembershipOp op, const Credentials& credentials, std::string_view message_id,
                                     std::span<const WriteItem> items) {
  std::string x;
  x.reserve(1024 + items.size() * 600);
  open_envelope(x, credentials, message_id);
  if (op == MembershipOp::remove) {
    x += "<mms:deleteMembershipsRequest><mms:sourcedIdSet>";
    for (const WriteItem& item : items) identifier(x, item.membership_id);
    x += "</mms:sourcedIdSet></mms:deleteMembershipsRequest>";
    close_envelope(x);
    return x;
  }
  const std::string_view request = op == MembershipOp::update ? "updateMembershipsRequest" : "createMembershipsRequest";
  x += "<mms:";
  x += request;
  x += "><mms:membershipIdPairSet>";
  for (const WriteItem& item : items) {
    x += "<mms:membershipIdPair><mms:sourcedId>";
    identifier(x, item.membership_id);
    x += "</mms:sourcedId><mms:membership><mmd:groupSourcedId>";
    identifier(x, item.group_id);
    x += "</mmd:groupSourcedId><mmd:member><mmd:memberSourcedId>";
    identifier(x, item.person_id);
    x += "</mmd:memberSourcedId><mmd:role><mmd:roleType>";
    x += xml_escape(item.role_type);
    x += "</mmd:roleType></mmd:role></mmd:member></mms:membership></mms:membershipIdPair>";
  }
  x += "</mms:membershipIdPairSet></mms:";
  x += request;
  x += ">";
  close_envelope(x);
  return x;
}

std::string build_create_memberships(const Credentials& credentials, std::string_view message_id,
                                     std::span<const WriteItem> items) {
  return build_membership_request(MembershipOp::create, credentials, message_id, items);
}

std::string build_read_memberships_for_group(const Credentials& credentials, std::string_view message_id,
                                             std::string_view group_id) {
  std::string x;
  open_envelope(x, credentials, message_id);
  x += "<mms:readMembershipsForGroupRequest><mms:groupSourcedId>";
  identifier(x, group_id);
  x += "</mms:groupSourcedId></mms:readMembershipsForGroupRequest>";
  close_envelope(x);
  return x;
}

Result<Response> parse_response(std::string_view body) {
  if (body.empty()) return fail(FailureKind::bad_response, "empty SOAP response body");
  // NONET: never fetch anything; no NOENT: entities are not expanded (XXE).
  DocPtr doc(xmlReadMemory(body.data(), static_cast<int>(body.size()), "response.xml", nullptr,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING),
             &xmlFreeDoc);
  if (!doc) return fail(FailureKind::bad_response, "response is not well-formed XML: " + clip_for_message(body, 120));
  const xmlNode* envelope = xmlDocGetRootElement(doc.get());
  if (!is(envelope, kNsEnvelope, "Envelope")) {
    return fail(FailureKind::bad_response, "response is not a SOAP 1.1 Envelope");
  }
  Response r;
  const xmlNode* soap_body = child(envelope, kNsEnvelope, "Body");
  if (const xmlNode* fault = child(soap_body, kNsEnvelope, "Fault")) {
    r.is_fault = true;
    r.fault_code = text(fault_child(fault, "faultcode"));
    r.fault_string = text(fault_child(fault, "faultstring"));
    return r;
  }
  const xmlNode* info = child(child(envelope, kNsEnvelope, "Header"), kNsMessBind, "syncResponseHeaderInfo");
  if (!info) return fail(FailureKind::bad_response, "SOAP response has no syncResponseHeaderInfo header");
  r.message_id = text(child(info, kNsMessBind, "messageIdentifier"));
  if (const xmlNode* set = child(info, kNsMessBind, "statusInfoSet")) {
    r.has_status_set = true;
    for (const xmlNode* s : children(set, kNsMessBind, "statusInfo")) r.statuses.push_back(read_status(s));
  } else if (const xmlNode* single = child(info, kNsMessBind, "statusInfo")) {
    r.statuses.push_back(read_status(single));
  }
  return r;
}

BatchOutcome interpret_response(int http_status, std::string_view body, std::size_t sent) {
  BatchOutcome out;
  Result<Response> parsed = parse_response(body);
  if (!parsed) {
    if (http_status < 200 || http_status >= 300) {
      out.kind = classify_http_status(http_status) == FailureClass::configuration ? BatchOutcome::Kind::rejected
                                                                                  : BatchOutcome::Kind::fault;
      out.failure = fail(FailureKind::http_status, "HTTP " + std::to_string(http_status), http_status, clip_for_message(body));
    } else {
      out.kind = BatchOutcome::Kind::unknown;
      out.failure = fail(FailureKind::bad_response, "unreadable IMS-ES response: " + parsed.failure().message,
                         http_status);
    }
    return out;
  }
  const Response& r = *parsed;
  if (r.is_fault) {
    std::string code = local_part(r.fault_code);
    bool rejected = code == "InvalidSecurity" || code == "FailedAuthentication" || code == "FailedCheck" ||
                    code == "Client" || code == "InvalidSecurityToken";
    out.kind = rejected ? BatchOutcome::Kind::rejected : BatchOutcome::Kind::fault;
    out.failure = fail(FailureKind::soap_fault, "SOAP Fault " + r.fault_code + " (HTTP " + std::to_string(http_status) + ")",
                       http_status, r.fault_string);
    return out;
  }
  if (http_status < 200 || http_status >= 300) {
    out.kind = classify_http_status(http_status) == FailureClass::configuration ? BatchOutcome::Kind::rejected
                                                                                : BatchOutcome::Kind::fault;
    out.failure = fail(FailureKind::http_status, "HTTP " + std::to_string(http_status) + " without a SOAP Fault", http_status);
    return out;
  }
  if (r.statuses.size() != sent) {
    out.kind = BatchOutcome::Kind::unknown;
    out.failure.kind = FailureKind::bad_response;
    out.failure.message = "statusInfoSet holds " + std::to_string(r.statuses.size()) + " statuses for " + std::to_string(sent) +
                " items; outcome unknown";
    return out;
  }
  out.kind = BatchOutcome::Kind::per_item;
  for (const StatusInfo& s : r.statuses) {
    if (s.code_major == "success") {
      out.items.push_back(ItemOutcome::confirmed);
      out.item_errors.emplace_back();
    } else if (s.code_major == "failure" || s.code_major == "unsupported") {
      out.items.push_back(ItemOutcome::failed);
      out.item_errors.push_back(describe(s));
    } else if (s.code_major == "processing") {  // not final
      out.items.push_back(ItemOutcome::unknown);
      out.item_errors.push_back(describe(s));
    } else {  // nothing itslearning defines: the outcome is unknown, and the text says why
      out.items.push_back(ItemOutcome::unknown);
      out.item_errors.push_back(
          (s.code_major.empty() ? std::string("statusInfo/codeMajor is empty or missing")
                                : "statusInfo/codeMajor '" + clip_for_message(s.code_major, 60) + "' is unknown") +
          " (expected success, failure, unsupported or processing); outcome unknown" +
          (s.description.empty() ? std::string() : ": " + s.description));
    }
  }
  return out;
}

}  // namespace rostersync::sync::soap

namespace rostersync::sync::soap {

GroupReadOutcome interpret_group_read(int http_status, std::string_view body) {
  GroupReadOutcome out;
  BatchOutcome status = interpret_response(http_status, body, 1);
  out.kind = status.kind;
  out.failure = status.failure;
  if (status.kind != BatchOutcome::Kind::per_item) return out;
  if (status.items[0] != ItemOutcome::confirmed) {
    out.kind = status.items[0] == ItemOutcome::failed ? BatchOutcome::Kind::rejected : BatchOutcome::Kind::unknown;
    out.failure = fail(FailureKind::soap_fault, "readMembershipsForGroup answered with a failure status", http_status,
                       status.item_errors[0]);
    return out;
  }
  DocPtr doc(xmlReadMemory(body.data(), static_cast<int>(body.size()), "response.xml", nullptr,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_HUGE),
             &xmlFreeDoc);
  const xmlNode* envelope = doc ? xmlDocGetRootElement(doc.get()) : nullptr;
  const xmlNode* response =
      child(child(envelope, kNsEnvelope, "Body"), kNsMms, "readMembershipsForGroupResponse");
  if (!response) {
    out.kind = BatchOutcome::Kind::unknown;
    out.failure = fail(FailureKind::bad_response, "readMembershipsForGroup response has no readMembershipsForGroupResponse",
                       http_status);
    return out;
  }
  // The response spells the set membershipIDPairSet (capital ID), unlike
  // requests; both are accepted, since nothing else could be meant.
  const xmlNode* set = child(response, kNsMms, "membershipIDPairSet");
  if (!set) set = child(response, kNsMms, "membershipIdPairSet");
  for (const xmlNode* pair : children(set, kNsMms, "membershipIdPair")) {
    const xmlNode* membership = child(pair, kNsMms, "membership");
    const xmlNode* member = child(membership, kNsMmd, "member");
    GroupMembership m;
    m.membership_id = text(child(child(pair, kNsMms, "sourcedId"), kNsCommon, "identifier"));
    m.group_id = text(child(child(membership, kNsMmd, "groupSourcedId"), kNsCommon, "identifier"));
    m.person_key = text(child(child(member, kNsMmd, "memberSourcedId"), kNsCommon, "identifier"));
    m.role_type = text(child(child(member, kNsMmd, "role"), kNsMmd, "roleType"));
    if (m.membership_id.empty() || m.person_key.empty()) {
      ++out.unusable;  // nothing to adopt or compare without both
      continue;
    }
    out.memberships.push_back(std::move(m));
  }
  out.kind = BatchOutcome::Kind::per_item;
  return out;
}

}  // namespace rostersync::sync::soap
