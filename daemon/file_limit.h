// Open-file limits. The daemon keeps one descriptor per package open while it
// serves, and a reload two while it builds the next tree beside the current
// one, so systemd's default soft limit of 1024 is too low for large trees.
#pragma once

#include "webc/base/result.h"

namespace webcfs::daemon {

// Raises the soft RLIMIT_NOFILE to the hard limit (the unit sets the hard
// limit with LimitNOFILE=).
void RaiseFileLimit();

// `e` naming the limit it ran into when it is EMFILE or ENFILE, else `e`.
Error WithFileLimit(Error e);

}  // namespace webcfs::daemon
