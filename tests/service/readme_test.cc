// README.md documents exactly the command line `webcfs --help` prints: every
// subcommand has one "### `webcfs NAME ..." section, every flag a subcommand's
// --help lists appears in its section, and every flag its section names (in
// `code`) is one the subcommand has. A flag added without a word in the README,
// or documented after it is gone, fails here.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "service_test_util.h"

namespace webcfs::service_test {
namespace {

// The lines of `text` from the line `header:` up to the next blank line.
std::vector<std::string> HelpBlock(const std::string& text, const std::string& header) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (!inside) {
      inside = line == header;
      continue;
    }
    if (line.empty()) break;
    lines.push_back(line);
  }
  return lines;
}

std::set<std::string> Subcommands() {
  const CommandResult r = RunCommand({WebcfsBinary(), "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.all();
  std::set<std::string> names;
  for (const std::string& line : HelpBlock(r.all(), "Subcommands:")) {
    std::istringstream fields(line);
    std::string name;
    if (fields >> name) names.insert(name);
  }
  return names;
}

// The flags of `webcfs NAME --help` ("-o", "--registry", ...), without -h/--help.
std::set<std::string> FlagsOf(const std::string& subcommand) {
  const CommandResult r = RunCommand({WebcfsBinary(), subcommand, "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.all();
  std::set<std::string> flags;
  for (const std::string& line : HelpBlock(r.all(), "Options:")) {
    std::istringstream fields(line);
    std::string names;
    if (!(fields >> names) || names[0] != '-') continue;  // a wrapped help text
    std::istringstream split(names);
    for (std::string flag; std::getline(split, flag, ',');) {
      if (flag != "-h" && flag != "--help") flags.insert(flag);
    }
  }
  return flags;
}

// README's section of each subcommand: from its "### `webcfs NAME" heading to
// the next heading of level 2 or 3.
std::map<std::string, std::string> ReadmeSections() {
  std::map<std::string, std::string> sections;
  std::istringstream in(ReadHostFile(SourceDir() + "/README.md"));
  const std::regex heading(R"(^### `webcfs ([a-z-]+))");
  std::string* current = nullptr;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, heading)) {
      EXPECT_EQ(sections.count(m[1]), 0u) << "README.md documents `webcfs " << m[1] << "` twice";
      current = &sections[m[1]];
    } else if (line.rfind("## ", 0) == 0 || line.rfind("### ", 0) == 0) {
      current = nullptr;
      continue;
    }
    if (current != nullptr) *current += line + "\n";
  }
  return sections;
}

// Flags named in inline code outside code blocks: a span that starts with one
// (`--cache DIR`, `-o xattr`), or every flag of a synopsis (`webcfs x [--y]`);
// not a flag of another tool (`ls -l`).
std::set<std::string> FlagsNamedIn(const std::string& section) {
  std::set<std::string> flags;
  std::istringstream in(section);
  bool in_block = false;
  const std::regex code("`([^`]*)`");
  const std::regex flag(R"((?:^|[\s\[|(])(--?[A-Za-z][A-Za-z0-9-]*))");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) in_block = !in_block;
    if (in_block) continue;
    for (std::sregex_iterator c(line.begin(), line.end(), code), end; c != end; ++c) {
      const std::string span = (*c)[1];
      if (span.rfind("webcfs ", 0) != 0 && span.rfind("-", 0) != 0) continue;
      for (std::sregex_iterator f(span.begin(), span.end(), flag); f != end; ++f) {
        flags.insert((*f)[1]);
      }
    }
  }
  return flags;
}

TEST(ReadmeTest, EverySubcommandHasOneSectionAndEverySectionASubcommand) {
  const std::set<std::string> subcommands = Subcommands();
  ASSERT_GE(subcommands.size(), 5u) << "could not read the subcommands of webcfs --help";
  const auto sections = ReadmeSections();
  for (const std::string& name : subcommands) {
    EXPECT_EQ(sections.count(name), 1u) << "README.md has no \"### `webcfs " << name << "`\"";
  }
  for (const auto& [name, text] : sections) {
    EXPECT_EQ(subcommands.count(name), 1u)
        << "README.md documents `webcfs " << name << "`, which --help does not list";
  }
}

TEST(ReadmeTest, EveryFlagOfEverySubcommandIsDocumentedInItsSection) {
  const auto sections = ReadmeSections();
  for (const std::string& name : Subcommands()) {
    if (sections.count(name) == 0) continue;  // reported by the test above
    const std::set<std::string> documented = FlagsNamedIn(sections.at(name));
    for (const std::string& flag : FlagsOf(name)) {
      EXPECT_EQ(documented.count(flag), 1u)
          << "`webcfs " << name << " --help` lists " << flag
          << ", but its README.md section does not name it in `code`";
    }
  }
}

TEST(ReadmeTest, EveryFlagASectionNamesExists) {
  const auto sections = ReadmeSections();
  const std::set<std::string> subcommands = Subcommands();
  for (const auto& [name, text] : sections) {
    if (subcommands.count(name) == 0) continue;  // reported above
    const std::set<std::string> flags = FlagsOf(name);
    for (const std::string& flag : FlagsNamedIn(text)) {
      EXPECT_EQ(flags.count(flag), 1u)
          << "README.md's section of `webcfs " << name << "` names " << flag << ", which `webcfs "
          << name << " --help` does not list";
    }
  }
}

}  // namespace
}  // namespace webcfs::service_test
