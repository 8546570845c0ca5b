// The two systemd wire protocols the daemon speaks, implemented natively
// instead of through libsystemd.
//
// Why: the daemon is linked fully statically, and a static binary cannot
// dlopen libsystemd.so.0. Both protocols are systemd's documented, stable
// interface (sd_notify(3): "the protocol is stable and should be considered
// the API"; systemd's "Native Journal Protocol"), so speaking them directly is
// what systemd recommends for programs that do not link libsystemd. Each call
// opens its own socket and closes it: the calls are rare (notifications, log
// lines) and this keeps no state across fork() or between threads.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "webc/base/result.h"

namespace webcfs::daemon::systemd_protocol {

// journald's socket for native-protocol entries.
inline constexpr const char* kJournalSocket = "/run/systemd/journal/socket";

// sd_notify(0, message): sends `message` ("READY=1\nSTATUS=...") as one
// datagram to $NOTIFY_SOCKET, a path ("/run/...") or an abstract socket
// ("@name"). Succeeds without sending when NOTIFY_SOCKET is unset or empty
// (not run by systemd). The variable is left set: later notifications (reload,
// stop) need it.
Result<void> Notify(std::string_view message);

// sd_watchdog_enabled(0, &usec): $WATCHDOG_USEC when it is a positive decimal
// and $WATCHDOG_PID is unset or names this process; nullopt otherwise,
// including for malformed values.
std::optional<std::chrono::microseconds> WatchdogInterval();

// sd_journal_sendv: one journal entry from `fields`, each "NAME=value" with
// NAME of A-Z, 0-9 and '_' (not leading '_' or digit, at most 64 characters);
// values may hold any bytes. An entry too large for one datagram is passed as
// a sealed memfd, as libsystemd does. Errors leave the entry unsent, so the
// caller can write it elsewhere.
Result<void> SendJournal(const std::vector<std::string>& fields,
                         const char* socket_path = kJournalSocket);

}  // namespace webcfs::daemon::systemd_protocol
