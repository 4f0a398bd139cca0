// createMemberships: the built request validates against itslearning's own
// schemas; the response parser handles every shape itslearning answers with.
#include <gtest/gtest.h>

#include "sync/imses/soap.hpp"
#include "imses_schemas.hpp"

using namespace rostersync;
using namespace rostersync::sync::soap;

namespace {

const rostersync::testing::ImsesSchemas& schemas() {
  static rostersync::testing::ImsesSchemas s;
  return s;
}

std::vector<WriteItem> tricky_items() {
  return {
      {"rs:5:sis-1:course&<1>", "course&<1>", "sis-1", "Learner"},
      {"rs:22:O'Brien \"Ødegård\" & co:g", "g", "O'Brien \"Ødegård\" & co", "Instructor"},
      {"rs:3:李小龍:Ω", "Ω", "李小龍", "TeachingAssistant"},
  };
}

// An itslearning-shaped response: h: prefix AND the namespace redeclared as default.
std::string response(const std::string& statuses, const std::string& message_id = "m-1") {
  return R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><s:Header>)"
         R"(<h:syncResponseHeaderInfo xmlns:h="http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0" xmlns="http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">)"
         "<messageIdentifier>" + message_id + "</messageIdentifier><statusInfoSet>" + statuses +
         R"(</statusInfoSet></h:syncResponseHeaderInfo><o:Security s:mustUnderstand="1" xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><u:Timestamp u:Id="_0"><u:Created>2026-01-01T00:00:00Z</u:Created></u:Timestamp></o:Security></s:Header>)"
         R"(<s:Body><createMembershipsResponse xmlns="http://www.imsglobal.org/services/mms/xsd/imsMemberManMessSchema_v1p0"/></s:Body></s:Envelope>)";
}
const std::string kOk = "<statusInfo><codeMajor>success</codeMajor><severity>status</severity></statusInfo>";
const std::string kWarn = "<statusInfo><codeMajor>success</codeMajor><severity>warning</severity></statusInfo>";
const std::string kFail =
    "<statusInfo><codeMajor>failure</codeMajor><severity>error</severity><codeMinor><codeMinorField>"
    "<codeMinorName>PersonNotFound</codeMinorName><codeMinorValue>sis-2</codeMinorValue></codeMinorField></codeMinor>"
    R"(<description><language xmlns="http://www.imsglobal.org/services/common/imsCommonSchema_v1p0">en-US</language>)"
    R"(<text xmlns="http://www.imsglobal.org/services/common/imsCommonSchema_v1p0">Person does not exist.</text></description></statusInfo>)";
const std::string kProcessing = "<statusInfo><codeMajor>processing</codeMajor><severity>status</severity></statusInfo>";

}  // namespace

TEST(SoapBuilder, RequestBodyValidatesAgainstTheWsdlSchemas) {
  std::string xml = build_create_memberships({"user&<>\"'", "pässword&<>\"'"}, "msg-1&2", tricky_items());
  EXPECT_EQ(schemas().validate_element(xml, std::string(kNsMms), "createMembershipsRequest"), "");
  EXPECT_EQ(schemas().validate_element(xml, std::string(kNsMessBind), "syncRequestHeaderInfo"), "");
}

TEST(SoapBuilder, SchemaValidationRejectsABadRoleType) {
  // Proves the validation above can fail: an out-of-enumeration roleType.
  std::vector<WriteItem> items = {{"id", "g", "p", "Student"}};
  std::string xml = build_create_memberships({"u", "p"}, "m", items);
  EXPECT_NE(schemas().validate_element(xml, std::string(kNsMms), "createMembershipsRequest"), "");
}

TEST(SoapBuilder, ValuesRoundTripThroughAnXmlParser) {
  auto items = tricky_items();
  std::string xml = build_create_memberships({"user&<>\"'", "pässword&<>\"'"}, "msg-1", items);
  // An XML parser reads back exactly what went in, in request order.
  using rostersync::testing::element_texts;
  std::vector<std::string> expected_ids;
  for (const auto& item : items) {
    expected_ids.push_back(item.membership_id);  // mms:sourcedId/cmn:identifier
    expected_ids.push_back(item.group_id);       // mmd:groupSourcedId/cmn:identifier
    expected_ids.push_back(item.person_id);      // mmd:memberSourcedId/cmn:identifier
  }
  EXPECT_EQ(element_texts(xml, std::string(kNsCommon), "identifier"), expected_ids);
  std::vector<std::string> roles;
  for (const auto& item : items) roles.push_back(item.role_type);
  EXPECT_EQ(element_texts(xml, std::string(kNsMmd), "roleType"), roles);
  EXPECT_EQ(element_texts(xml, std::string(kNsWsse), "Username"), std::vector<std::string>{"user&<>\"'"});
  EXPECT_EQ(element_texts(xml, std::string(kNsWsse), "Password"), std::vector<std::string>{"pässword&<>\"'"});
  EXPECT_EQ(element_texts(xml, std::string(kNsMessBind), "messageIdentifier"), std::vector<std::string>{"msg-1"});
  // And the escaping is what the parser needed.
  EXPECT_EQ(xml.find("O'Brien \"Ødegård\" & co"), std::string::npos);  // never raw
  EXPECT_NE(xml.find("O&apos;Brien &quot;Ødegård&quot; &amp; co"), std::string::npos);
  EXPECT_NE(xml.find("李小龍"), std::string::npos);
  EXPECT_NE(xml.find(R"(soapenv:mustUnderstand="1")"), std::string::npos);
  EXPECT_NE(xml.find("#PasswordText\">pässword&amp;&lt;&gt;&quot;&apos;</wsse:Password>"), std::string::npos);
  EXPECT_EQ(xml_escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
}

TEST(SoapBuilder, ItemsKeepRequestOrder) {
  auto items = tricky_items();
  std::string xml = build_create_memberships({"u", "p"}, "m", items);
  auto a = xml.find("sis-1");
  auto b = xml.find("O&apos;Brien");
  auto c = xml.find("李小龍");
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST(SoapParser, SuccessForEveryItem) {
  auto out = interpret_response(200, response(kOk + kOk + kOk), 3);
  ASSERT_EQ(out.kind, BatchOutcome::Kind::per_item);
  EXPECT_EQ(out.items, (std::vector<ItemOutcome>{ItemOutcome::confirmed, ItemOutcome::confirmed, ItemOutcome::confirmed}));
}

TEST(SoapParser, ResponseShapeValidatesAgainstTheMessageBindingSchema) {
  EXPECT_EQ(schemas().validate_element(response(kOk + kFail + kWarn), std::string(kNsMessBind), "syncResponseHeaderInfo"), "");
}

TEST(SoapParser, PartialFailureIsMatchedByPosition) {
  auto out = interpret_response(200, response(kOk + kFail + kOk), 3);
  ASSERT_EQ(out.kind, BatchOutcome::Kind::per_item);
  EXPECT_EQ(out.items[0], ItemOutcome::confirmed);
  EXPECT_EQ(out.items[1], ItemOutcome::failed);
  EXPECT_EQ(out.items[2], ItemOutcome::confirmed);
  EXPECT_EQ(out.item_errors[1], "failure/error PersonNotFound=sis-2: Person does not exist.");
}

TEST(SoapParser, SuccessWithWarningIsCreated) {
  auto out = interpret_response(200, response(kWarn), 1);
  ASSERT_EQ(out.kind, BatchOutcome::Kind::per_item);
  EXPECT_EQ(out.items[0], ItemOutcome::confirmed);
}

TEST(SoapParser, ProcessingIsNotFinal) {
  auto out = interpret_response(200, response(kOk + kProcessing), 2);
  ASSERT_EQ(out.kind, BatchOutcome::Kind::per_item);
  EXPECT_EQ(out.items[1], ItemOutcome::unknown);
}

TEST(SoapParser, AnEmptyOrUnknownCodeMajorNamesTheFieldAndTheValue) {
  const std::string empty = "<statusInfo><codeMajor></codeMajor><severity>status</severity></statusInfo>";
  const std::string odd = "<statusInfo><codeMajor>queued</codeMajor><severity>status</severity></statusInfo>";
  auto out = interpret_response(200, response(empty + odd + kOk), 3);
  ASSERT_EQ(out.kind, BatchOutcome::Kind::per_item);
  EXPECT_EQ(out.items[0], ItemOutcome::unknown);
  EXPECT_EQ(out.items[1], ItemOutcome::unknown);
  EXPECT_NE(out.item_errors[0].find("statusInfo/codeMajor is empty or missing"), std::string::npos) << out.item_errors[0];
  EXPECT_NE(out.item_errors[1].find("statusInfo/codeMajor 'queued' is unknown"), std::string::npos) << out.item_errors[1];
  EXPECT_NE(out.item_errors[0], "/status");
}

TEST(SoapParser, CountMismatchMakesTheWholeBatchUnknown) {
  auto out = interpret_response(200, response(kOk + kOk), 3);
  EXPECT_EQ(out.kind, BatchOutcome::Kind::unknown);
  EXPECT_NE(out.error().find("2 statuses for 3 items"), std::string::npos);
}

TEST(SoapParser, SingleStatusInfoAnswersASingleOperation) {
  std::string body = R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>)"
                     R"(<syncResponseHeaderInfo xmlns="http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0">)"
                     "<statusInfo><codeMajor>success</codeMajor><severity>status</severity></statusInfo>"
                     "</syncResponseHeaderInfo></s:Header><s:Body/></s:Envelope>";
  auto out = interpret_response(200, body, 1);
  ASSERT_EQ(out.kind, BatchOutcome::Kind::per_item);
  EXPECT_EQ(out.items[0], ItemOutcome::confirmed);
}

TEST(SoapParser, PrefixesDoNotMatterOnlyNamespaces) {
  // Same content, other prefixes; and a look-alike in the wrong namespace is ignored.
  std::string body = R"(<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header>)"
                     R"(<x:syncResponseHeaderInfo xmlns:x="http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0">)"
                     "<x:statusInfoSet><x:statusInfo><x:codeMajor>failure</x:codeMajor><x:severity>error</x:severity></x:statusInfo>"
                     R"(<x:statusInfo><codeMajor xmlns="urn:other">success</codeMajor><x:codeMajor>success</x:codeMajor><x:severity>status</x:severity></x:statusInfo>)"
                     "</x:statusInfoSet></x:syncResponseHeaderInfo></e:Header><e:Body/></e:Envelope>";
  auto out = interpret_response(200, body, 2);
  ASSERT_EQ(out.kind, BatchOutcome::Kind::per_item);
  EXPECT_EQ(out.items[0], ItemOutcome::failed);
  EXPECT_EQ(out.items[1], ItemOutcome::confirmed);
}

TEST(SoapParser, InvalidSecurityFaultIsARejection) {
  std::string fault = R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>)"
                      R"(<faultcode xmlns:a="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">a:InvalidSecurity</faultcode>)"
                      R"(<faultstring xml:lang="en-US">An error occurred when verifying security for the message.</faultstring></s:Fault></s:Body></s:Envelope>)";
  auto out = interpret_response(500, fault, 3);
  EXPECT_EQ(out.kind, BatchOutcome::Kind::rejected);
  EXPECT_EQ(out.error(), "SOAP Fault a:InvalidSecurity (HTTP 500): An error occurred when verifying security for the message.");
}

TEST(SoapParser, ServerFaultIsRetryable) {
  std::string fault = R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>)"
                      "<faultcode>s:Server</faultcode><faultstring>Timeout expired</faultstring></s:Fault></s:Body></s:Envelope>";
  auto out = interpret_response(500, fault, 1);
  EXPECT_EQ(out.kind, BatchOutcome::Kind::fault);
  EXPECT_NE(out.error().find("Timeout expired"), std::string::npos);
}

TEST(SoapParser, PeerTextIsMadeSafeAndBoundedBeforeItReachesAMessage) {
  // Found by fuzz_soap_response: a character reference put a raw newline (a
  // forged log line) and DEL into the fault text.
  std::string fault = R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>)"
                      "<faultcode>s:Server</faultcode><faultstring>Timeout&#10;[error] forged&#x7f;&#13;x</faultstring>"
                      "</s:Fault></s:Body></s:Envelope>";
  auto out = interpret_response(500, fault, 1);
  EXPECT_EQ(out.kind, BatchOutcome::Kind::fault);
  EXPECT_EQ(out.error(), "SOAP Fault s:Server (HTTP 500): Timeout [error] forged  x");

  std::string long_text(5000, 'x');
  auto failed = interpret_response(200, response(
      "<statusInfo><codeMajor>failure</codeMajor><severity>error</severity><description>"
      R"(<text xmlns="http://www.imsglobal.org/services/common/imsCommonSchema_v1p0">)" + long_text +
      "&#10;</text></description></statusInfo>"), 1);
  ASSERT_EQ(failed.kind, BatchOutcome::Kind::per_item);
  EXPECT_EQ(failed.item_errors[0], "failure/error: " + std::string(1000, 'x') + "...");
}

TEST(SoapParser, UnreadableBodies) {
  EXPECT_EQ(interpret_response(503, "<html>Service Unavailable</html", 1).kind, BatchOutcome::Kind::fault);
  EXPECT_EQ(interpret_response(200, "", 1).kind, BatchOutcome::Kind::unknown);
  EXPECT_EQ(interpret_response(200, "<a/>", 1).kind, BatchOutcome::Kind::unknown);
  std::string no_header = R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>)";
  EXPECT_EQ(interpret_response(200, no_header, 1).kind, BatchOutcome::Kind::unknown);
}

TEST(SoapParser, EntitiesAreNotExpanded) {
  // The entity is referenced where the parser reads text: expansion would put
  // /etc/passwd into the echoed messageIdentifier.
  std::string xxe = R"(<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>)" +
                    response(kOk, "id-&x;-end");
  auto parsed = parse_response(xxe);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->statuses.size(), 1u);
  // Not expanded: the reference reads as nothing, and the text around it stays.
  EXPECT_EQ(parsed->message_id, "id--end");
}

// --- updateMemberships, deleteMemberships, readMembershipsForGroup ---

TEST(SoapBuilder, EveryWriteOperationValidatesAgainstTheWsdlSchemas) {
  const std::pair<MembershipOp, const char*> ops[] = {{MembershipOp::create, "createMembershipsRequest"},
                                                      {MembershipOp::update, "updateMembershipsRequest"},
                                                      {MembershipOp::remove, "deleteMembershipsRequest"}};
  for (const auto& [op, element] : ops) {
    std::string xml = build_membership_request(op, {"u&", "p<"}, "msg-1", tricky_items());
    EXPECT_EQ(schemas().validate_element(xml, std::string(kNsMms), element), "") << element;
    EXPECT_EQ(schemas().validate_element(xml, std::string(kNsMessBind), "syncRequestHeaderInfo"), "") << element;
  }
  std::string read = build_read_memberships_for_group({"u", "p"}, "m", "course&<1>");
  EXPECT_EQ(schemas().validate_element(read, std::string(kNsMms), "readMembershipsForGroupRequest"), "");
}

TEST(SoapBuilder, SchemaValidationRejectsAWriteInTheWrongShape) {
  // Proves the validation above can fail: a delete must carry ids, not pairs.
  std::string create = build_membership_request(MembershipOp::create, {"u", "p"}, "m", tricky_items());
  std::string as_delete = create;
  for (std::string from : {"createMembershipsRequest"}) {
    for (std::size_t at; (at = as_delete.find(from)) != std::string::npos;) as_delete.replace(at, from.size(), "deleteMembershipsRequest");
  }
  EXPECT_NE(schemas().validate_element(as_delete, std::string(kNsMms), "deleteMembershipsRequest"), "");
}

TEST(SoapBuilder, DeleteSendsOnlyTheIdsAndUpdateTheNewRole) {
  auto items = tricky_items();
  std::string del = build_membership_request(MembershipOp::remove, {"u", "p"}, "m", items);
  auto ids = rostersync::testing::element_texts(del, std::string(kNsCommon), "identifier");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], items[0].membership_id);
  EXPECT_EQ(ids[2], items[2].membership_id);
  EXPECT_TRUE(rostersync::testing::element_texts(del, std::string(kNsMmd), "roleType").empty());

  std::string upd = build_membership_request(MembershipOp::update, {"u", "p"}, "m", items);
  auto roles = rostersync::testing::element_texts(upd, std::string(kNsMmd), "roleType");
  ASSERT_EQ(roles.size(), 3u);
  EXPECT_EQ(roles[2], "TeachingAssistant");
  EXPECT_EQ(soap_action(MembershipOp::update), "http://www.imsglobal.org/soap/mms/updateMemberships");
  EXPECT_EQ(soap_action(MembershipOp::remove), "http://www.imsglobal.org/soap/mms/deleteMemberships");
}

namespace {
std::string group_response(const std::string& pairs, const std::string& status = kOk) {
  std::string r = response(status);
  std::string body = R"(<readMembershipsForGroupResponse xmlns="http://www.imsglobal.org/services/mms/xsd/imsMemberManMessSchema_v1p0"><membershipIDPairSet>)" +
                     pairs + "</membershipIDPairSet></readMembershipsForGroupResponse>";
  auto at = r.find("<createMembershipsResponse");
  auto end = r.find("/>", at) + 2;
  return r.replace(at, end - at, body);
}
std::string pair(const std::string& id, const std::string& group, const std::string& person, const std::string& role) {
  const std::string cmn = R"( xmlns="http://www.imsglobal.org/services/common/imsCommonSchema_v1p0")";
  const std::string mmd = R"( xmlns="http://www.imsglobal.org/services/mms/xsd/imsMemberManDataSchema_v1p0")";
  return "<membershipIdPair><sourcedId><identifier" + cmn + ">" + id + "</identifier></sourcedId><membership>" +
         "<groupSourcedId" + mmd + "><identifier" + cmn + ">" + group + "</identifier></groupSourcedId><member" + mmd +
         "><memberSourcedId><identifier" + cmn + ">" + person + "</identifier></memberSourcedId><role><roleType>" + role +
         "</roleType></role></member></membership></membershipIdPair>";
}
}  // namespace

TEST(SoapGroupRead, ListsEveryPairWithItsIdPersonAndRole) {
  std::string body = group_response(pair("itsla-0A1B", "g", "sis-1", "Learner") + pair("rs:5:sis-2:g", "g", "sis-2", "Instructor") +
                                    pair("", "g", "sis-3", "Learner"));
  GroupReadOutcome out = interpret_group_read(200, body);
  ASSERT_EQ(out.kind, BatchOutcome::Kind::per_item) << out.failure.describe();
  ASSERT_EQ(out.memberships.size(), 2u);
  EXPECT_EQ(out.memberships[0], (GroupMembership{"itsla-0A1B", "g", "sis-1", "Learner"}));
  EXPECT_EQ(out.memberships[1].role_type, "Instructor");
  EXPECT_EQ(out.unusable, 1);
}

TEST(SoapGroupRead, AnEmptyGroupIsAnEmptyList) {
  GroupReadOutcome out = interpret_group_read(200, group_response(""));
  EXPECT_EQ(out.kind, BatchOutcome::Kind::per_item);
  EXPECT_TRUE(out.memberships.empty());
}

TEST(SoapGroupRead, FailureStatusFaultAndMissingBodyAreNotAnEmptyGroup) {
  EXPECT_EQ(interpret_group_read(200, group_response(pair("a", "g", "p", "Learner"), kFail)).kind,
            BatchOutcome::Kind::rejected);
  auto failed = interpret_group_read(200, group_response("", kFail));
  EXPECT_NE(failed.failure.describe().find("Person does not exist"), std::string::npos);
  std::string fault = R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>boom</faultstring></s:Fault></s:Body></s:Envelope>)";
  EXPECT_EQ(interpret_group_read(500, fault).kind, BatchOutcome::Kind::fault);
  // A success status with no response element: not "nobody is in the group".
  EXPECT_EQ(interpret_group_read(200, response(kOk)).kind, BatchOutcome::Kind::unknown);
}
