// `webcfs unmount MOUNTPOINT`: unmounts a webcfs mount (the daemon serving it
// then exits). Refuses anything that is not a webcfs mount. The status file a
// dead daemon left behind is removed either way.
#include <cstdio>
#include <memory>
#include <string>

#include "daemon/cli/subcommands.h"
#include "daemon/status_file.h"
#include "fuse/mountpoint.h"

namespace webcfs::daemon {

namespace {

struct UnmountArgs {
  std::string mountpoint;
  bool lazy = false;
};

int RunUnmount(const UnmountArgs& args) {
  (void)ReadStatus(args.mountpoint);  // removes the file when its daemon is gone
  auto mounted = fuse::FindMount(args.mountpoint);
  if (!mounted) {
    std::fprintf(stderr, "webcfs: %s\n", mounted.error().message().c_str());
    return 1;
  }
  if (!mounted->has_value()) {
    std::fprintf(stderr, "webcfs: %s: not mounted\n", args.mountpoint.c_str());
    return 1;
  }
  if ((*mounted)->fs_type != fuse::kFsType) {
    std::fprintf(stderr, "webcfs: %s: not a webcfs mount (%s)\n", args.mountpoint.c_str(),
                 (*mounted)->fs_type.c_str());
    return 1;
  }
  if (auto r = fuse::UnmountPath(args.mountpoint, args.lazy); !r) {
    std::fprintf(stderr, "webcfs: %s\n", r.error().message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

void AddUnmountSubcommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<UnmountArgs>();
  CLI::App* cmd = app.add_subcommand("unmount", "Unmount a webcfs filesystem");
  cmd->add_option("mountpoint", args->mountpoint, "where the package is mounted")->required();
  cmd->add_flag("-l,--lazy", args->lazy, "detach now even if busy; clean up when no longer used");
  cmd->callback([args, &exit_code] { exit_code = RunUnmount(*args); });
}

}  // namespace webcfs::daemon
