// A real runtime on a catalog mount: Node's built-in WASI (node:wasi,
// preview1) runs every command of the example registry's webcfs/demo from
// MNT/webcfs/demo@1/.webc/commands/, with the package tree preopened as "/",
// and prints what each command prints, including a file of a dependency's
// volume read through the tree.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "tests/common/paths.h"
#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

TEST(CatalogWasiTest, NodeRunsEveryCommandOfTheExampleTree) {
  if (RunCommand({"node", "--version"}).exit_code != 0) GTEST_SKIP() << "no node in PATH";
  TempDir cache{"catalog-wasi-cache"};
  Mount m("--catalog", {"--registry", BuildDir() + "/examples/registry", "--cache", cache.path()});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const std::string tree = m / "webcfs/demo@1";
  // Command → its arguments and what it must print.
  const std::map<std::string, std::pair<std::vector<std::string>, std::string>> expected = {
      {"demo",
       {{},
        "webcfs/demo: a package tree served as a directory.\nTry: ls /usr/share/greetings "
        "/usr/share/words /srv/greetings\n"}},
      {"hello", {{}, "Hello from webcfs/demo (this command shadows webcfs/hello's)!\n"}},
      {"greeting", {{}, ReadHostFile(tree + "/srv/greetings/en.txt")}},
      {"greet", {{"from", "node"}, "from node\n"}},
      {"words", {{}, "apple banana cherry damson elderberry fig grape\n"}},
      // banner.wat writes its text's terminating NUL too.
      {"banner",
       {{},
        std::string("+--------------------------+\n| webcfs: packages as dirs |\n"
                    "+--------------------------+\n") +
            std::string(1, '\0')}},
  };
  std::map<std::string, std::string> printed;
  for (const auto& e : std::filesystem::directory_iterator(tree + "/.webc/commands")) {
    const std::string command = e.path().stem();
    auto want = expected.find(command);
    ASSERT_NE(want, expected.end()) << "a command this test does not know: " << command;
    std::vector<std::string> argv = {"node", SourceDir() + "/tests/integration/wasi_run.mjs", tree,
                                     e.path()};
    argv.insert(argv.end(), want->second.first.begin(), want->second.first.end());
    const CommandResult r = RunCommand(argv);
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.err;
    printed[command] = r.out;
  }
  ASSERT_EQ(printed.size(), expected.size());
  for (const auto& [command, want] : expected) EXPECT_EQ(printed[command], want.second) << command;
  EXPECT_EQ(printed["greeting"], "Hello\n");
}

}  // namespace
}  // namespace webcfs::testing
