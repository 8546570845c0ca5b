// The should-fail corpus: one generated
// container per attack, each with what its refusal must say. Generated at test
// time from hand-built bytes (tests/unit/webc/craft_util.h), so the repository
// holds no opaque binaries and each case states exactly what is wrong.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

namespace webcfs::testing {

struct HostileCase {
  std::string name;     // file stem: "<name>.webc" (or ".webc.zst")
  std::string bytes;    // the container file
  std::string problem;  // a part of the one-line error both `inspect` and `mount` must print
  bool zstd = false;    // `bytes` is a zstd frame
};

// gtest prints the case by name, not as bytes.
inline void PrintTo(const HostileCase& c, std::ostream* os) { *os << c.name; }

// The `--max-decompressed` the tests run `inspect` and `mount` with; the
// zstd bomb inflates past it.
inline constexpr const char* kTestDecompressLimit = "16777216";

// Every case; all are refused by `webcfs inspect` and `webcfs mount`.
std::vector<HostileCase> HostileCorpus();

}  // namespace webcfs::testing
