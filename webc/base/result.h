// Result<T>: a value or an Error. The one error-handling rule of the codebase
// (docs/architecture.md, "Errors"): our code returns Result and never throws.
//
// An Error is a small code plus a message read outside-in; each layer prepends
// its context with With(): "pkg.webc: volume 'atom': entry 'a/b': name contains '/'".
#pragma once

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace webcfs {

class [[nodiscard]] Error {
 public:
  enum class Code {
    kNotFound,
    kCorrupt,
    kUnsupported,
    kInvalidArgument,
    kIo,
    kIntegrity,
    kConflict,
    kResourceLimit,
  };

  Error(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Error NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Error Corrupt(std::string m) { return {Code::kCorrupt, std::move(m)}; }
  static Error Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
  static Error InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Error Integrity(std::string m) { return {Code::kIntegrity, std::move(m)}; }
  static Error Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
  static Error ResourceLimit(std::string m) { return {Code::kResourceLimit, std::move(m)}; }
  // An I/O failure with errno lifted into the message: "<context>: <strerror>".
  static Error Io(const std::string& context, int err) {
    Error e{Code::kIo, context + ": " + std::strerror(err)};
    e.errno_ = err;
    return e;
  }
  static Error Io(std::string m) { return {Code::kIo, std::move(m)}; }

  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // errno captured by Io(context, err), else 0.
  int sys_errno() const { return errno_; }

  // Prepends "context: " to the message, keeping the code.
  Error With(const std::string& context) && {
    message_ = context + ": " + message_;
    return std::move(*this);
  }
  Error With(const std::string& context) const& {
    Error copy = *this;
    return std::move(copy).With(context);
  }

  // The errno a FUSE reply should carry for this error.
  int ToErrno() const {
    switch (code_) {
      case Code::kNotFound:
        return ENOENT;
      case Code::kInvalidArgument:
        return EINVAL;
      case Code::kUnsupported:
        return ENOTSUP;
      case Code::kResourceLimit:
        return ENOMEM;
      case Code::kIo:
        return errno_ != 0 ? errno_ : EIO;
      default:
        return EIO;
    }
  }

 private:
  Code code_;
  std::string message_;
  int errno_ = 0;
};

// Short name for the code of an error, for messages and tests.
inline const char* CodeName(Error::Code c) {
  switch (c) {
    case Error::Code::kNotFound:
      return "NotFound";
    case Error::Code::kCorrupt:
      return "Corrupt";
    case Error::Code::kUnsupported:
      return "Unsupported";
    case Error::Code::kInvalidArgument:
      return "InvalidArgument";
    case Error::Code::kIo:
      return "Io";
    case Error::Code::kIntegrity:
      return "Integrity";
    case Error::Code::kConflict:
      return "Conflict";
    case Error::Code::kResourceLimit:
      return "ResourceLimit";
  }
  return "Unknown";
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  explicit operator bool() const { return v_.index() == 0; }
  bool ok() const { return v_.index() == 0; }

  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }

  Error& error() & { return std::get<1>(v_); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT

  explicit operator bool() const { return !error_.has_value(); }
  bool ok() const { return !error_.has_value(); }
  Error& error() & { return *error_; }
  const Error& error() const& { return *error_; }
  Error&& error() && { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

inline Result<void> Ok() { return {}; }

}  // namespace webcfs

// Propagates an error from an expression returning Result<...>, adding no context.
#define WEBCFS_RETURN_IF_ERROR(expr)                               \
  do {                                                             \
    auto webcfs_status_ = (expr);                                  \
    if (!webcfs_status_) return std::move(webcfs_status_).error(); \
  } while (0)
