// The webcfs executable's code layout (daemon/CMakeLists.txt): in a build
// with WEBCFS_LINK_ORDER (compiled only there), the functions daemon/link-order.txt lists must sit
// in the binary in that order, the serving ones packed together. Fails when the list has gone stale
// (too many of its functions renamed or removed): regenerate it with
// scripts/link-order.py.
#ifdef WEBCFS_LINK_ORDER
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/common/paths.h"

namespace {

const std::string kBinary = webcfs::testing::WebcfsBinary();
const std::string kLinkOrder = WEBCFS_SOURCE_DIR "/daemon/link-order.txt";

std::string Output(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::string out;
  char buffer[65536];
  size_t n;
  while (pipe && (n = fread(buffer, 1, sizeof buffer, pipe.get())) > 0) out.append(buffer, n);
  return out;
}

struct Symbol {
  uint64_t address = 0;
  uint64_t size = 0;
};

std::map<std::string, Symbol> SymbolsOf(const std::string& binary) {
  std::map<std::string, Symbol> symbols;
  std::istringstream nm(Output("nm -S --defined-only '" + binary + "'"));
  for (std::string line; std::getline(nm, line);) {
    std::istringstream fields(line);
    std::string address, size, type, name;
    if (!(fields >> address >> size >> type >> name)) continue;  // no size: not a function
    symbols.emplace(name,
                    Symbol{std::stoull(address, nullptr, 16), std::stoull(size, nullptr, 16)});
  }
  return symbols;
}

// The listed sections of one block ("# serving..." or "# start-up..."), as the
// symbols they hold (".text.NAME", ".text.startup.NAME", ...); nullptr if absent.
std::vector<const Symbol*> Block(const std::map<std::string, Symbol>& symbols,
                                 const std::string& title) {
  std::ifstream in(kLinkOrder);
  std::vector<const Symbol*> block;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# ", 0) == 0) {
      if (line.rfind("# serving", 0) == 0 || line.rfind("# start-up", 0) == 0) {
        inside = line.rfind("# " + title, 0) == 0;
      }
      continue;
    }
    if (!inside || line.rfind(".text.", 0) != 0) continue;
    std::string name = line.substr(6);
    for (const char* prefix : {"startup.", "hot.", "unlikely.", "exit."}) {
      if (!symbols.count(name) && name.rfind(prefix, 0) == 0) name = name.substr(strlen(prefix));
    }
    auto it = symbols.find(name);
    block.push_back(it == symbols.end() ? nullptr : &it->second);
  }
  return block;
}

TEST(LinkOrderTest, ListedFunctionsAreLaidOutInOrderServingOnesPacked) {
  if (Output("readelf -SW '" + kBinary + "'").find(".text.webcfs_ordered") == std::string::npos) {
    GTEST_SKIP() << kBinary << " has no ordered code section (not a WEBCFS_STATIC_RUNTIME build)";
  }
  const auto symbols = SymbolsOf(kBinary);
  ASSERT_FALSE(symbols.empty()) << "nm found no symbols in " << kBinary;
  for (const char* title : {"serving", "start-up"}) {
    SCOPED_TRACE(title);
    const auto block = Block(symbols, title);
    ASSERT_GT(block.size(), 50u) << kLinkOrder << " has no '" << title << "' block";
    std::vector<const Symbol*> found;
    for (const Symbol* s : block) {
      if (s) found.push_back(s);
    }
    EXPECT_GE(found.size() * 10, block.size() * 9)
        << found.size() << " of " << block.size() << " listed functions are in " << kBinary
        << ": regenerate " << kLinkOrder << " with scripts/link-order.py";
    size_t in_order = 0;
    uint64_t code = 0, first = UINT64_MAX, end = 0;
    for (size_t i = 0; i < found.size(); ++i) {
      code += found[i]->size;
      first = std::min(first, found[i]->address);
      end = std::max(end, found[i]->address + found[i]->size);
      if (i > 0 && found[i]->address > found[i - 1]->address) ++in_order;
    }
    EXPECT_EQ(in_order + 1, found.size()) << "the linker did not follow " << kLinkOrder;
    if (std::string(title) == "serving") {
      // Packed: the serving code spans little more than its own size, so the
      // forked daemon faults in a few 64 KiB windows instead of dozens.
      const uint64_t span = end - first;
      EXPECT_LE(span, code + code / 4) << "serving code spans " << span << " bytes for " << code;
    }
  }
}

// Code built without -ffunction-sections is listed by archive member
// ("libc.a:malloc.o .text"): the static build lays glibc's malloc out with the
// serving code, ahead of the unordered .text.
TEST(LinkOrderTest, ListedArchiveMembersAreLaidOutAheadOfTheRest) {
  const std::string sections = Output("readelf -SW '" + kBinary + "'");
  if (sections.find(".text.webcfs_ordered") == std::string::npos) {
    GTEST_SKIP() << kBinary << " has no ordered code section (not a WEBCFS_STATIC_RUNTIME build)";
  }
  if (Output("readelf -lW '" + kBinary + "'").find("INTERP") != std::string::npos) {
    GTEST_SKIP() << kBinary << " uses the shared glibc (libcurl has no static build on Debian)";
  }
  std::ifstream in(kLinkOrder);
  bool listed = false;
  for (std::string line; std::getline(in, line);) listed |= line.rfind("libc.a:malloc.o ", 0) == 0;
  ASSERT_TRUE(listed) << kLinkOrder << " does not list glibc's malloc: regenerate it";
  // "[13] .text  PROGBITS  <address> ...": where the unordered code begins.
  std::istringstream lines(sections);
  uint64_t text_start = 0;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line.substr(line.find(']') + 1));
    std::string name, type, address;
    if (fields >> name >> type >> address && name == ".text")
      text_start = std::stoull(address, nullptr, 16);
  }
  ASSERT_NE(text_start, 0u) << "no .text section in " << kBinary;
  const auto symbols = SymbolsOf(kBinary);
  const auto malloc_symbol = symbols.find("malloc");
  ASSERT_NE(malloc_symbol, symbols.end()) << "no malloc in " << kBinary;
  EXPECT_LT(malloc_symbol->second.address, text_start);
}

}  // namespace
#endif  // WEBCFS_LINK_ORDER
