// Test support: validates XML against the IMS-ES schemas embedded in
// itslearning's WSDL (shared/specs/imses/MembershipManagementServiceSync.xml).
// The four xs:schema elements are cut into sibling files, each xs:import is
// pointed at its sibling, and libxml2 compiles them.
#pragma once

#include <string>
#include <vector>

namespace rostersync::testing {

class ImsesSchemas {
 public:
  ImsesSchemas();  // throws std::runtime_error if the WSDL or schemas are unusable
  ~ImsesSchemas();

  // Validates the first element with this namespace and local name found in
  // `document` against the schema of that namespace. Returns "" when valid,
  // otherwise the validator's messages.
  std::string validate_element(const std::string& document, const std::string& ns, const std::string& local_name) const;

 private:
  struct Impl;
  Impl* impl_;
};

// Parses `document` with libxml2 (no network, no entity loading) and returns
// the text of every element with this namespace and local name, in document
// order. Throws std::runtime_error when it is not well-formed.
std::vector<std::string> element_texts(const std::string& document, const std::string& ns, const std::string& local_name);

}  // namespace rostersync::testing
