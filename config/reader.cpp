// The YAML reader's helpers (config/reader.hpp).
#include "config/reader.hpp"

#include <string>

namespace rostersync::config {

std::string yaml_hint(const std::string& msg) {
  static const std::pair<const char*, const char*> kHints[] = {
      {"end of map flow not found", "a '{' is not closed by '}'"},
      {"end of sequence flow not found", "a '[' is not closed by ']'"},
      {"end of map not found", "a key is indented less or more than the keys beside it"},
      {"end of sequence not found", "a '- ' item is indented less or more than the items beside it"},
      {"illegal tab", "indent with spaces: YAML does not allow tabs there"},
      {"illegal map value", "a value holding ': ' (or starting with a special character) needs quotes"},
      {"illegal map key", "a key cannot start there: check the indentation and the line before"},
      {"illegal block entry", "a '- ' item cannot start there: check its indentation"},
      {"illegal flow end", "a '}' or ']' closes nothing"},
      {"unknown escape character", "inside double quotes a backslash starts an escape: use single quotes for paths"},
      {"illegal EOF in scalar", "a quote is not closed"},
      {"unknown token", "a character YAML reserves (such as @ or `) starts a value: put the value in quotes"},
  };
  for (const auto& [fragment, hint] : kHints) {
    if (msg.find(fragment) != std::string::npos) return std::string(" (") + hint + ")";
  }
  return "";
}

std::string describe(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

// A mapping key as text; YAML also allows lists and mappings as keys.
std::string key_text(const Context& ctx, const YAML::Node& key, const std::string& parent_path) {
  if (!key.IsScalar()) {
    ctx.error(key, parent_path.empty() ? "(top level)" : parent_path, "keys must be plain names, got " + describe(key));
  }
  return key.Scalar();
}

}  // namespace rostersync::config
