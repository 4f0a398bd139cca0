// The documentation cannot drift from the program: rostersync(8) and the
// bash completion list exactly the commands and options `--help` does, and
// rostersync.yaml(5) documents every key of the shipped example
// configuration with the default the example shows (and nothing else).
#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "harness.hpp"

using namespace rostersync::testing;
namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in) << p;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::set<std::string> long_options_in(const std::string& text) {
  static const std::regex kOption(R"(--[a-z][a-z-]*)");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kOption); it != std::sregex_iterator(); ++it) {
    out.insert(it->str());
  }
  return out;
}

std::string help_of(const std::vector<std::string>& args) {
  auto [rc, out] = Workspace().rostersync_output(args);
  EXPECT_EQ(rc, 0) << out;
  return out;
}

// Subcommand names from `rostersync --help`.
std::vector<std::string> commands_of_help(const std::string& help) {
  std::vector<std::string> out;
  bool in_list = false;
  for (const auto& line : lines_of(help)) {
    if (line.rfind("Subcommands:", 0) == 0) {
      in_list = true;
      continue;
    }
    static const std::regex kCommand(R"(^  ([a-z][a-z-]*)\s.*)");
    std::smatch m;
    if (in_list && std::regex_match(line, m, kCommand)) out.push_back(m[1]);
  }
  return out;
}

// Options a command's --help lists (option lines only, not descriptions).
std::set<std::string> options_of_help(const std::string& help) {
  std::set<std::string> out;
  for (const auto& line : lines_of(help)) {
    static const std::regex kOptionLine(R"(^  (-[a-z],)?(--[a-z][a-z-]*).*)");
    std::smatch m;
    if (std::regex_match(line, m, kOptionLine) && m[2] != "--help") out.insert(m[2]);
  }
  return out;
}

}  // namespace

TEST(Docs, TheManPageAndTheCompletionListExactlyTheCommandsAndOptionsOfHelp) {
  const std::string man = read(fs::path(ROSTERSYNC_SOURCE_DIR) / "docs" / "rostersync.8.scd");
  const std::string completion = read(fs::path(ROSTERSYNC_SOURCE_DIR) / "docs" / "rostersync.bash-completion");
  const std::string top = help_of({"--help"});
  const std::vector<std::string> commands = commands_of_help(top);
  ASSERT_GE(commands.size(), 16u) << top;

  // Global options: in the man page's GLOBAL OPTIONS and the completion's list.
  for (const std::string& option : options_of_help(top)) {
    EXPECT_TRUE(has(man, "*" + option + "*")) << option << " is not in rostersync.8";
    EXPECT_TRUE(has(completion, option)) << option << " is not in the bash completion";
  }

  // Commands the man page describes: lines "*name* ..." under COMMANDS.
  std::map<std::string, std::set<std::string>> man_options;
  bool in_commands = false;
  for (const auto& line : lines_of(man)) {
    if (line.rfind("# ", 0) == 0) in_commands = line == "# COMMANDS";
    static const std::regex kEntry(R"(^\*([a-z][a-z-]*)\*(.*))");
    std::smatch m;
    if (in_commands && std::regex_match(line, m, kEntry)) {
      auto found = long_options_in(m[2]);
      man_options[m[1]].insert(found.begin(), found.end());
    }
  }
  std::set<std::string> from_help(commands.begin(), commands.end()), from_man;
  for (const auto& [name, options] : man_options) from_man.insert(name);
  EXPECT_EQ(from_man, from_help) << "rostersync.8's COMMANDS and --help list different commands";

  // The completion's command list and each command's options.
  std::smatch listed;
  ASSERT_TRUE(std::regex_search(completion, listed, std::regex(R"(local commands="([^"]*)\")")));
  std::set<std::string> completion_commands;
  std::istringstream words(listed[1].str());
  for (std::string w; words >> w;) completion_commands.insert(w);
  EXPECT_EQ(completion_commands, from_help) << "the bash completion lists other commands than --help";

  for (const std::string& command : commands) {
    const std::set<std::string> options = options_of_help(help_of({command, "--help"}));
    EXPECT_EQ(man_options[command], options) << "rostersync.8 and `rostersync " << command << " --help` differ";
    // The completion's case branch naming this command: "a|b) options=\"...\"".
    std::set<std::string> completed;
    for (const auto& line : lines_of(completion)) {
      static const std::regex kBranch(R"(^\s+([a-z|-]+)\) options="([^"]*)\".*)");
      std::smatch m;
      if (!std::regex_match(line, m, kBranch)) continue;
      std::string names = "|" + m[1].str() + "|";
      if (has(names, "|" + command + "|")) completed = long_options_in(m[2]);
    }
    EXPECT_EQ(completed, options) << "the bash completion and `rostersync " << command << " --help` differ";
  }
}

namespace {

// The example configuration as YAML, with its commented-out blocks
// ("#registry:", "#  path: ...") taken in: they document keys too.
YAML::Node example_with_commented_keys() {
  std::string text;
  static const std::regex kCommentedKey(R"(^#( {2,}|)([a-z_]+):(.*)$)");
  for (const auto& line : lines_of(read(fs::path(ROSTERSYNC_SOURCE_DIR) / "config" / "rostersync.example.yaml"))) {
    std::smatch m;
    text += (std::regex_match(line, m, kCommentedKey) ? m[1].str() + m[2].str() + ":" + m[3].str() : line) + "\n";
  }
  return YAML::Load(text);
}

// key path -> the example's value ("" for lists and mappings documented whole), first occurrence.
void walk(const YAML::Node& node, const std::string& path, std::map<std::string, std::optional<std::string>>& keys) {
  if (node.IsMap() && path != "job_defaults") {
    for (const auto& entry : node) {
      const std::string key = entry.first.as<std::string>();
      walk(entry.second, path.empty() ? key : path + "." + key, keys);
    }
    return;
  }
  if (node.IsSequence() && path == "jobs") {
    for (const auto& item : node) walk(item, "jobs[]", keys);
    return;
  }
  if (keys.count(path)) return;
  if (node.IsScalar()) keys[path] = node.Scalar();
  else keys[path] = std::nullopt;  // a list (role_map, scopes) or job_defaults: no single default to compare
}

}  // namespace

TEST(Docs, TheConfigurationManPageDocumentsEveryExampleKeyWithItsDefault) {
  std::map<std::string, std::optional<std::string>> example;
  YAML::Node root = example_with_commented_keys();
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    if (key == "sources" || key == "targets") {
      for (const auto& named : entry.second) walk(named.second, key + ".<name>", example);
    } else {
      walk(entry.second, key, example);
    }
  }
  ASSERT_GT(example.size(), 60u);

  // "*key* (unit, default VALUE)" or "(unit, required)".
  std::map<std::string, std::string> documented;
  static const std::regex kKeyLine(R"(^\*([a-z_<>.\[\]]+)\* \((.*)\)$)");
  for (const auto& line : lines_of(read(fs::path(ROSTERSYNC_SOURCE_DIR) / "docs" / "rostersync.yaml.5.scd"))) {
    std::smatch m;
    if (std::regex_match(line, m, kKeyLine)) documented[m[1]] = m[2];
  }
  for (const auto& [key, value] : example) {
    auto it = documented.find(key);
    if (it == documented.end()) {
      ADD_FAILURE() << key << " is in the example configuration but not in rostersync.yaml(5)";
      continue;
    }
    if (!value || has(it->second, "required")) continue;
    const std::string shown = value->empty() ? "\"\"" : *value;
    EXPECT_TRUE(has(it->second + ",", "default " + shown + ","))
        << key << ": the example shows " << shown << ", rostersync.yaml(5) says (" << it->second << ")";
  }
  for (const auto& [key, text] : documented) {
    EXPECT_TRUE(example.count(key)) << key << " is in rostersync.yaml(5) but not in the example configuration";
  }
}

// The built pages exist where `cmake --install` takes them from.
TEST(Docs, TheManPagesAreBuilt) {
  const fs::path built = fs::path(ROSTERSYNC_BIN).parent_path().parent_path() / "docs";
  for (const char* page : {"rostersync.8", "rostersync.yaml.5", "rostersync-sim.1"}) {
    std::string text = read(built / page);
    EXPECT_TRUE(has(text, ".TH")) << page;
  }
}
