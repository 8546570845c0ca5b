#include "daemon/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <syslog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
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

// The open log file (OpenLogFile) and a description of the current logger.
struct Destination {
  std::mutex mu;
  spdlog::sink_ptr file;  // guarded by mu
  std::string file_path;  // guarded by mu
  std::string current;    // guarded by mu
};

Destination& GlobalDestination() {
  static Destination* d = new Destination;  // never destroyed, as GlobalFields
  return *d;
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

// "%*" in a pattern: "[/mnt/x] ", the mountpoint of the line (none before it is known).
class MountpointFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string mountpoint = Mountpoint();
    if (mountpoint.empty()) return;
    dest.push_back('[');
    dest.append(mountpoint.data(), mountpoint.data() + mountpoint.size());
    const std::string_view close = "] ";
    dest.append(close.data(), close.data() + close.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<MountpointFlag>();
  }
};

void SetPattern(spdlog::sink_ptr& sink, const std::string& pattern, const std::string& eol) {
  auto formatter =
      std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::local, eol);
  formatter->add_flag<MountpointFlag>('*').set_pattern(pattern);
  sink->set_formatter(std::move(formatter));
}

// syslog stamps time, ident and pid, and carries the priority.
spdlog::sink_ptr MakeSyslogSink() {
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::syslog_sink_mt>(
      "webcfs", LOG_PID, LOG_DAEMON, /*enable_formatting=*/true);
  SetPattern(sink, "%*%v", "");
  return sink;
}

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

Result<void> OpenLogFile(const std::string& path) {
  std::error_code ec;
  const std::string absolute = std::filesystem::absolute(path, ec).lexically_normal().string();
  spdlog::sink_ptr sink;
  // spdlog reports a file it cannot open by throwing; nowhere else.
  try {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(absolute, /*truncate=*/false);
  } catch (const spdlog::spdlog_ex& e) {
    return Error::Io("log file " + absolute + ": " + e.what());
  }
  SetPattern(sink, "%Y-%m-%d %H:%M:%S.%e webcfs[%P]: %*%l: %v", "\n");
  Destination& d = GlobalDestination();
  std::lock_guard<std::mutex> lock(d.mu);
  d.file = std::move(sink);
  d.file_path = absolute;
  return Ok();
}

std::string LogDestination() {
  Destination& d = GlobalDestination();
  std::lock_guard<std::mutex> lock(d.mu);
  return d.current;
}

void SetupLogging(LogTarget target, spdlog::level::level_enum level) {
  Destination& d = GlobalDestination();
  std::lock_guard<std::mutex> lock(d.mu);
  spdlog::sink_ptr sink;
  if (target == LogTarget::kFile && d.file) {
    sink = d.file;
    d.current = "file " + d.file_path;
  } else if (target == LogTarget::kSyslog) {
    sink = MakeSyslogSink();
    d.current = "syslog";
  } else if (target == LogTarget::kJournal) {
    sink = std::make_shared<JournalSink>();
    d.current = "journal";
  } else {
    sink = std::make_shared<StderrSink>();
    d.current = "stderr";
  }
  auto logger = std::make_shared<spdlog::logger>("webcfs", std::move(sink));
  logger->set_level(level);
  // Warnings and errors reach the journal/terminal at once: they are what an
  // operator reads after a failure. A file gets every line at once: a
  // background daemon logs a few lines per event, and a crash loses none.
  logger->flush_on(target == LogTarget::kFile ? spdlog::level::trace : spdlog::level::warn);
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
