#include "tests/unit/resolver/package_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/common/paths.h"
#include "webc/base/sha256.h"
#include "webc/writer.h"

namespace webcfs::resolver::testing {

ResolveOptions TestOptions(const std::filesystem::path& tmp) {
  ResolveOptions o;
  o.registries = {(tmp / "registry").string()};
  o.cache_dir = (tmp / "cache").string();
  return o;
}

Resolution MustResolve(const std::string& spec, const ResolveOptions& options) {
  auto r = Resolve(spec, options);
  EXPECT_TRUE(r.ok()) << spec << ": " << r.error().message();
  return r ? std::move(*r) : Resolution{};
}

std::vector<std::string> PackageIds(const Resolution& r) {
  std::vector<std::string> ids;
  for (const auto& p : r.packages) ids.push_back(p.id);
  return ids;
}

}  // namespace webcfs::resolver::testing
