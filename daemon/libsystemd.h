// libsystemd, loaded when first needed instead of linked.
//
// Why: outside systemd (a mount from a shell, a benchmark, a CI job) the daemon
// never calls it, yet linking it maps libsystemd and its dependencies
// (libgcrypt, libgpg-error, liblzma, liblz4, libcap) into every process: about
// 0.35 MB of the daemon's resident memory and ~2 ms of every start-up
// (bench/FINDINGS.md §3.2). Under systemd the same three functions run as
// before, from the same library.
#pragma once

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include <string>

namespace webcfs::daemon::libsystemd {

struct Api {
  decltype(&::sd_notify) notify = nullptr;
  decltype(&::sd_watchdog_enabled) watchdog_enabled = nullptr;
  decltype(&::sd_journal_sendv) journal_sendv = nullptr;
};

// The functions of libsystemd.so.0, loaded on the first call (thread-safe;
// later calls return the same result). nullptr if the library or one of the
// symbols cannot be loaded; then *error (if given) says why.
const Api* Load(std::string* error = nullptr);

}  // namespace webcfs::daemon::libsystemd
