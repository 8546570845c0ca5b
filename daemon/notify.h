// The systemd notification protocol (sd_notify(3)) as the daemon uses it,
// spoken directly (systemd_protocol.h). A failed notification is logged, not
// fatal.
// Every call is a no-op when NOTIFY_SOCKET is unset (not run by systemd), so
// callers need no "are we a service" checks.
//
// Sequence of a service's life (tests/service/notify_test.cc asserts it):
//   STATUS=resolving ...      start-up progress
//   READY=1 + STATUS=...      once the kernel mount answers requests
//   WATCHDOG=1                every WatchdogInterval()/2 while the FUSE loop answers
//   RELOADING=1 + MONOTONIC_USEC=...  then READY=1 + STATUS=...   around a reload
//   STOPPING=1                on SIGTERM/SIGINT
//   ERRNO=n + STATUS=...      on a fatal error, before a non-zero exit
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace webcfs::daemon::notify {

void Status(std::string_view status);
void Ready(std::string_view status);
// RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC now), which systemd 253+
// uses to tell this reload from a previous one.
void Reloading(std::string_view status);
void Stopping(std::string_view status);
void Watchdog();
void Fatal(int errno_value, std::string_view status);

// WATCHDOG_USEC when the watchdog is enabled for this process (WATCHDOG_PID
// unset or ours), else nullopt.
std::optional<std::chrono::microseconds> WatchdogInterval();

}  // namespace webcfs::daemon::notify
