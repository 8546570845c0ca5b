// Process-wide logging (spdlog): to the systemd journal with structured
// fields when started by systemd, to stderr otherwise; once a background
// daemon serves, to syslog or to a file (--log-file).
#pragma once

#include <spdlog/common.h>

#include <string>
#include <string_view>

#include "webc/base/result.h"

namespace webcfs::daemon {

// "trace", "debug", "info", "warn" (or "warning"), "error", "critical", "off".
Result<spdlog::level::level_enum> ParseLogLevel(std::string_view name);

// Where log lines go.
enum class LogTarget { kStderr, kJournal, kSyslog, kFile };

// The journal when the process was started by systemd (INVOCATION_ID or
// JOURNAL_STREAM is set) and journald's socket exists; stderr otherwise.
LogTarget DetectLogTarget();

// Installs the default logger for `target` at `level`. Journal entries carry
// SYSLOG_IDENTIFIER=webcfs, PRIORITY and the fields MOUNTPOINT and PACKAGE
// (`journalctl MOUNTPOINT=/mnt/x`); an entry the journal does not take is
// written to stderr instead, which systemd also collects. Safe to call again
// (e.g. once the configuration file has been read).
// kSyslog sends to syslog(3) (ident webcfs, facility daemon); kFile appends to
// the file OpenLogFile opened.
void SetupLogging(LogTarget target, spdlog::level::level_enum level);

// Opens `path` for appending, for SetupLogging(kFile, ...). Called before the
// daemon detaches, so that a path it cannot write is an error its caller sees.
Result<void> OpenLogFile(const std::string& path);

// Where the current logger writes: "journal", "stderr", "syslog" or
// "file /abs/path" (`webcfs status` shows it).
std::string LogDestination();

// Structured fields attached to every following journal entry (and shown as a
// "[mountpoint]" prefix on stderr). Thread-safe; a reload updates the package.
void SetLogMountpoint(std::string mountpoint);
void SetLogPackage(std::string package);

}  // namespace webcfs::daemon
