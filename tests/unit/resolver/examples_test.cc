// The bundled example registry (examples/, packed at build time into
// <build>/examples/registry): what README's `webcfs resolve` example prints.
#include <gtest/gtest.h>

#include "resolver/resolution.h"
#include "tests/unit/resolver/package_util.h"
#include "webc/container.h"

namespace webcfs::resolver {
namespace {

using Strings = std::vector<std::string>;

TEST(ExamplesTest, DemoTreeHasAChainADiamondAndASharedVolume) {
  testing::TempDir tmp;
  ResolveOptions o;
  o.registries = {std::string(WEBCFS_BINARY_DIR) + "/examples/registry"};
  o.cache_dir = (tmp / "cache").string();
  Resolution r = testing::MustResolve("webcfs/demo", o);
  EXPECT_TRUE(r.warnings.empty()) << ::testing::PrintToString(r.warnings);
  ASSERT_EQ(testing::PackageIds(r),
            (Strings{"webcfs/demo@1.0.0", "webcfs/banner@1.0.0", "webcfs/words@1.1.0",
                     "webcfs/greeting-data@1.0.0", "webcfs/hello@0.1.0"}));
  // Diamond: banner and words share one greeting-data node (index 3).
  EXPECT_EQ(r.packages[1].dependencies[0].package, 3u);
  EXPECT_EQ(r.packages[2].dependencies[0].package, 3u);
  Strings mounts;
  for (const Mapping& m : r.mappings) {
    mounts.push_back(m.mount_path + " <- " + r.packages[m.volume_package].id + ":" + m.volume);
  }
  EXPECT_EQ(mounts, (Strings{"/etc/demo <- webcfs/demo@1.0.0:/etc",
                             "/srv/greetings <- webcfs/greeting-data@1.0.0:/greetings",
                             "/usr/share/banner/greetings <- webcfs/greeting-data@1.0.0:/greetings",
                             "/usr/share/words <- webcfs/words@1.1.0:/words",
                             "/usr/share/greetings <- webcfs/greeting-data@1.0.0:/greetings",
                             "/public <- webcfs/hello@0.1.0:/public"}));
  Strings commands;
  for (const CommandEntry& c : r.commands) {
    commands.push_back(c.name + " <- " + r.packages[c.atom_package].id);
    // Real wasm modules, compiled from examples/*/*.wat.
    const webc::Container& holder = *r.packages[c.atom_package].container;
    const webc::Entry* atom = holder.FindAtom(c.atom);
    ASSERT_NE(atom, nullptr) << c.name;
    std::byte scratch[8];
    auto head = holder.ReadFile(*atom, 0, sizeof scratch, scratch);
    ASSERT_TRUE(head.ok());
    ASSERT_EQ(head->size(), 8u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(head->data()), 4), std::string("\0asm", 4))
        << c.name;
  }
  EXPECT_EQ(commands, (Strings{"demo <- webcfs/demo@1.0.0", "hello <- webcfs/demo@1.0.0",
                               "greeting <- webcfs/demo@1.0.0", "banner <- webcfs/banner@1.0.0",
                               "words <- webcfs/words@1.1.0", "greet <- webcfs/hello@0.1.0"}))
      << "the root's hello shadows webcfs/hello's";
  EXPECT_EQ(r.entrypoint, "demo");
}

}  // namespace
}  // namespace webcfs::resolver
