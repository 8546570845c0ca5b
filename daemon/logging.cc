#include "daemon/logging.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <syslog.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/systemd_protocol.h"

namespace webcfs::daemon {

namespace {

// The structured fields. Process state; daemon/ is the only layer that has any.
struct Fields {
  std::mutex mu;
  std::string mountpoint;  // guarded by mu
  std::string package;     // guarded by mu
};

Fields& GlobalFields() {
  static Fields* fields = new Fields;  // never destroyed: loggers may log during exit
  return *fields;
}

int SyslogPriority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return LOG_DEBUG;
    case spdlog::level::info:
      return LOG_INFO;
    case spdlog::level::warn:
      return LOG_WARNING;
    case spdlog::level::err:
      return LOG_ERR;
    case spdlog::level::critical:
      return LOG_CRIT;
    default:
      return LOG_INFO;
  }
}

std::string Mountpoint() {
  Fields& f = GlobalFields();
  std::lock_guard<std::mutex> lock(f.mu);
  return f.mountpoint;
}

// "webcfs[/mnt/x]: message" — the mountpoint tells lines of several daemons
// apart when their output is merged.
void WriteStderrLine(const spdlog::details::log_msg& msg, const std::string& mountpoint) {
  std::string line = "webcfs";
  if (!mountpoint.empty()) line += "[" + mountpoint + "]";
  line += ": ";
  if (msg.level >= spdlog::level::warn || msg.level <= spdlog::level::debug) {
    const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size()).append(": ");
  }
  line.append(msg.payload.data(), msg.payload.size());
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

// Entries with MOUNTPOINT and PACKAGE fields, so that `journalctl
// MOUNTPOINT=/mnt/x` selects one mount's daemon (spdlog's systemd_sink sends
// only MESSAGE, PRIORITY and the source location, and needs libsystemd).
class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string mountpoint, package;
    {
      Fields& f = GlobalFields();
      std::lock_guard<std::mutex> lock(f.mu);
      mountpoint = f.mountpoint;
      package = f.package;
    }
    // Empty fields are left out.
    std::vector<std::string> fields;
    fields.reserve(5);
    fields.push_back("MESSAGE=" + std::string(msg.payload.data(), msg.payload.size()));
    fields.push_back("PRIORITY=" + std::to_string(SyslogPriority(msg.level)));
    fields.push_back("SYSLOG_IDENTIFIER=webcfs");
    if (!mountpoint.empty()) fields.push_back("MOUNTPOINT=" + mountpoint);
    if (!package.empty()) fields.push_back("PACKAGE=" + package);
    auto sent = systemd_protocol::SendJournal(fields);
    if (sent) return;
    // Under systemd stderr reaches the journal too (without the fields): no
    // line is lost. Why the journal failed is said once, not per line.
    if (!reported_failure_) {
      reported_failure_ = true;  // guarded by base_sink's mutex, held here
      std::fprintf(stderr, "webcfs: logging to stderr: %s\n", sent.error().message().c_str());
    }
    WriteStderrLine(msg, mountpoint);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  bool reported_failure_ = false;
};

class StderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    WriteStderrLine(msg, Mountpoint());
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

Result<spdlog::level::level_enum> ParseLogLevel(std::string_view name) {
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn" || name == "warning") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  if (name == "critical") return spdlog::level::critical;
  if (name == "off") return spdlog::level::off;
  return Error::InvalidArgument("unknown log level '" + std::string(name) +
                                "' (known: trace, debug, info, warn, error, critical, off)");
}

LogTarget DetectLogTarget() {
  const bool by_systemd =
      std::getenv("INVOCATION_ID") != nullptr || std::getenv("JOURNAL_STREAM") != nullptr;
  struct stat st;
  if (by_systemd && stat(systemd_protocol::kJournalSocket, &st) == 0 && S_ISSOCK(st.st_mode)) {
    return LogTarget::kJournal;
  }
  return LogTarget::kStderr;
}

void SetupLogging(LogTarget target, spdlog::level::level_enum level) {
  spdlog::sink_ptr sink;
  if (target == LogTarget::kJournal) {
    sink = std::make_shared<JournalSink>();
  } else {
    sink = std::make_shared<StderrSink>();
  }
  auto logger = std::make_shared<spdlog::logger>("webcfs", std::move(sink));
  logger->set_level(level);
  // Warnings and errors reach the journal/terminal at once: they are what an
  // operator reads after a failure.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

void SetLogMountpoint(std::string mountpoint) {
  Fields& f = GlobalFields();
  std::lock_guard<std::mutex> lock(f.mu);
  f.mountpoint = std::move(mountpoint);
}

void SetLogPackage(std::string package) {
  Fields& f = GlobalFields();
  std::lock_guard<std::mutex> lock(f.mu);
  f.package = std::move(package);
}

}  // namespace webcfs::daemon
