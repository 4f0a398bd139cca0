// The HTTP Link header (RFC 8288), as LMSs page NRPS rosters with it.
//
// Platforms write it every way the grammar allows, and some ways it does
// not quite: several Link lines, several links in one line joined by commas
// with or without a space (Canvas sends current,next,prev,first,last), `rel`
// quoted or bare and holding several space-separated relation types,
// parameters whose quoted values hold commas or semicolons, relative targets.
// Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/result.hpp"

namespace rostersync::sync {

struct WebLink {
  std::string target;             // the URI-Reference between < >, as written
  std::vector<std::string> rels;  // relation types, lower-cased (the first `rel` parameter only)
  std::vector<std::pair<std::string, std::string>> params;  // other parameters: name lower-cased, value unquoted
  bool has_rel(std::string_view rel) const;
};

// Every link in one header value, in order. An entry that does not start
// with '<' or never closes it is skipped up to the next comma outside quotes;
// the others are still returned.
std::vector<WebLink> parse_link_header(std::string_view value);

// The `next` link among all Link header lines, resolved against `request_url`
// (the URL of the response that carried it). nullopt when there is none.
// Fails when two different `next` targets are given (the walk would have to
// guess) or a target cannot be resolved. Absolute targets are returned byte
// for byte; `rel="differences"` and every other relation are ignored.
Result<std::optional<std::string>> find_next_link(const std::vector<std::string>& header_values,
                                                  const std::string& request_url);
// The same for any relation type (`last`: where offset paging says the roster
// ends; a walk whose `last` moves is a roster that changed under it).
Result<std::optional<std::string>> find_link(const std::vector<std::string>& header_values,
                                             const std::string& request_url, std::string_view rel);

}  // namespace rostersync::sync
