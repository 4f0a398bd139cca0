// IMS-ES membership calls over SOAP 1.1: request builders for
// createMemberships, updateMemberships, deleteMemberships and
// readMembershipsForGroup, and the response parsers.
//
// Pure functions, no I/O. The builders write exactly the element order of
// itslearning's WSDL (MembershipManagementServiceSync) with a WS-Security
// UsernameToken (PasswordText) and XML-escapes every value. The parser
// matches elements by namespace URI and local name, never by prefix, so
// `h:`-prefixed headers and default-namespace redeclarations read the same.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/result.hpp"
#include "domain/group.hpp"

namespace rostersync::sync::soap {

inline constexpr std::string_view kCreateMembershipsAction = "http://www.imsglobal.org/soap/mms/createMemberships";
inline constexpr std::string_view kUpdateMembershipsAction = "http://www.imsglobal.org/soap/mms/updateMemberships";
inline constexpr std::string_view kDeleteMembershipsAction = "http://www.imsglobal.org/soap/mms/deleteMemberships";
inline constexpr std::string_view kReadMembershipsForGroupAction =
    "http://www.imsglobal.org/soap/mms/readMembershipsForGroup";
inline constexpr std::string_view kNsEnvelope = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr std::string_view kNsWsse =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
inline constexpr std::string_view kPasswordText =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";
inline constexpr std::string_view kNsMessBind = "http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0";
inline constexpr std::string_view kNsMms = "http://www.imsglobal.org/services/mms/xsd/imsMemberManMessSchema_v1p0";
inline constexpr std::string_view kNsMmd = "http://www.imsglobal.org/services/mms/xsd/imsMemberManDataSchema_v1p0";
inline constexpr std::string_view kNsCommon = "http://www.imsglobal.org/services/common/imsCommonSchema_v1p0";

// One membership a write carries (create, update or delete: deletes use the id alone).
struct WriteItem {
  std::string membership_id;
  std::string group_id;   // hierarchy sync id
  std::string person_id;  // person sync key
  std::string role_type;  // IMS-ES roleType
};

struct Credentials {
  std::string username;
  std::string password;
};

std::string xml_escape(std::string_view text);

std::string_view soap_action(MembershipOp op);
std::string_view operation_name(MembershipOp op);  // "createMemberships", ...

// The request for a batch of one kind of write. create and update send the
// whole membershipIdPair; delete sends only the ids (sourcedIdSet).
std::string build_membership_request(MembershipOp op, const Credentials& credentials, std::string_view message_id,
                                     std::span<const WriteItem> items);
std::string build_create_memberships(const Credentials& credentials, std::string_view message_id,
                                     std::span<const WriteItem> items);
std::string build_read_memberships_for_group(const Credentials& credentials, std::string_view message_id,
                                             std::string_view group_id);

struct StatusInfo {
  std::string code_major;   // success | unsupported | failure | processing
  std::string severity;     // status | warning | error
  std::string code_minor;   // "name=value" pairs joined by "; "
  std::string description;  // description/text
};

struct Response {
  bool is_fault = false;
  std::string fault_code;    // e.g. "a:InvalidSecurity" (as written)
  std::string fault_string;
  std::string message_id;    // echoed messageIdentifier, if any
  bool has_status_set = false;
  std::vector<StatusInfo> statuses;  // in request order
};

// Parses a SOAP 1.1 response envelope (success or Fault). Fails only when the
// body is not an understandable envelope.
Result<Response> parse_response(std::string_view body);

// What one requested item turned into.
enum class ItemOutcome { confirmed, failed, unknown };  // confirmed: itslearning did what was asked (create, update or delete)

struct BatchOutcome {
  enum class Kind {
    per_item,        // statuses matched the request: see items
    unknown,         // the batch's fate is unknown (count mismatch, unreadable body): stays pending
    fault,           // SOAP Fault, HTTP 408/429/5xx: transient, worth retrying; stays pending
    rejected,        // credentials or request rejected (InvalidSecurity, Client fault, other 4xx):
                     // a configuration error, resending will not help; stays pending
  } kind = Kind::unknown;
  std::vector<ItemOutcome> items;  // per_item only, one per request item
  std::vector<std::string> item_errors;  // per_item only: reason text for failed/unknown items
  Failure failure;                 // for every kind but per_item: ours, and the peer's text apart
  std::string error() const { return failure.describe(); }
};

// Interprets an HTTP exchange of a create/update/delete call with `sent` items.
BatchOutcome interpret_response(int http_status, std::string_view body, std::size_t sent);

using GroupMembership = RemoteMembership;

struct GroupReadOutcome {
  // per_item: `memberships` is the group's list. Otherwise as BatchOutcome
  // (a failure status counts as rejected) and `failure` says why.
  BatchOutcome::Kind kind = BatchOutcome::Kind::unknown;
  std::vector<GroupMembership> memberships;
  int unusable = 0;  // pairs without an id or a person, left out
  Failure failure;
};

// Interprets the answer to readMembershipsForGroup.
GroupReadOutcome interpret_group_read(int http_status, std::string_view body);

}  // namespace rostersync::sync::soap
