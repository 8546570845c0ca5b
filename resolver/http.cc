#include "resolver/http.h"

// The types and constants only: libcurl itself is loaded on first use (Api()).
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "resolver/registry_auth.h"

namespace webcfs::resolver {
namespace {

// libcurl's entry points, from libcurl.so.4 loaded with dlopen the first time
// a remote registry is used. Linking it would map libcurl and the thirty
// libraries it needs into every webcfs process at start-up (about 40 ms per
// command, mount included), and Debian has no static build of them.
struct CurlApi {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_share_init) share_init;
  decltype(&::curl_share_cleanup) share_cleanup;
  decltype(&::curl_share_setopt) share_setopt;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
  decltype(&::curl_url) url;
  decltype(&::curl_url_cleanup) url_cleanup;
  decltype(&::curl_url_set) url_set;
  decltype(&::curl_url_get) url_get;
  decltype(&::curl_free) free;
};

struct LoadedCurl {
  CurlApi api{};
  std::string error;  // why it could not be loaded; empty when loaded
};

template <typename F>
bool Bind(void* lib, const char* name, F* out, std::string* error) {
  *out = reinterpret_cast<F>(::dlsym(lib, name));
  if (*out == nullptr && error->empty()) *error = std::string("libcurl has no ") + name;
  return *out != nullptr;
}

LoadedCurl LoadCurl() {
  LoadedCurl l;
  void* lib = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    l.error = std::string("remote registries need libcurl (Debian package libcurl4): ") +
              (why != nullptr ? why : "cannot load libcurl.so.4");
    return l;
  }
  CurlApi& a = l.api;
  std::string* e = &l.error;
  Bind(lib, "curl_global_init", &a.global_init, e);
  Bind(lib, "curl_easy_init", &a.easy_init, e);
  Bind(lib, "curl_easy_cleanup", &a.easy_cleanup, e);
  Bind(lib, "curl_easy_perform", &a.easy_perform, e);
  Bind(lib, "curl_easy_setopt", &a.easy_setopt, e);
  Bind(lib, "curl_easy_getinfo", &a.easy_getinfo, e);
  Bind(lib, "curl_easy_strerror", &a.easy_strerror, e);
  Bind(lib, "curl_share_init", &a.share_init, e);
  Bind(lib, "curl_share_cleanup", &a.share_cleanup, e);
  Bind(lib, "curl_share_setopt", &a.share_setopt, e);
  Bind(lib, "curl_slist_append", &a.slist_append, e);
  Bind(lib, "curl_slist_free_all", &a.slist_free_all, e);
  Bind(lib, "curl_url", &a.url, e);
  Bind(lib, "curl_url_cleanup", &a.url_cleanup, e);
  Bind(lib, "curl_url_set", &a.url_set, e);
  Bind(lib, "curl_url_get", &a.url_get, e);
  Bind(lib, "curl_free", &a.free, e);
  if (l.error.empty()) {
    CURLcode init = a.global_init(CURL_GLOBAL_DEFAULT);
    if (init != CURLE_OK) l.error = std::string("libcurl: ") + a.easy_strerror(init);
  }
  return l;
}

const LoadedCurl& Loaded() {
  static const LoadedCurl loaded = LoadCurl();
  return loaded;
}

// REQUIRES: Loaded().error is empty (HttpClient::Create checked it).
const CurlApi& Api() { return Loaded().api; }

// Token answers are small; a larger one is refused.
constexpr uint64_t kMaxTokenAnswer = 1 << 20;
// A token without `expires_in` lives this long (the token spec's default).
constexpr std::chrono::seconds kDefaultTokenLife{60};
// Tokens are dropped this long before they expire, so none expires in flight.
constexpr std::chrono::seconds kTokenMargin{5};

// Bytes of an error answer's body kept for the message.
constexpr size_t kMaxErrorBody = 512;

// libcurl's receive buffer (CURLOPT_BUFFERSIZE; its maximum is 10 MiB).
constexpr long kReceiveBufferBytes = 512L << 10;

// Idle connections the shared pool keeps (CURLOPT_MAXCONNECTS). libcurl's
// default of 5 would close most of what a burst of parallel requests opened,
// and the next burst (a tree's downloads after its queries) would pay a
// connection set-up per request again.
constexpr long kIdleConnections = 64;

bool RetryableCurlCode(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

bool RetryableStatus(long status) { return status == 429 || (status >= 500 && status <= 599); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// One line of an error body: control characters dropped, cut short.
std::string Snippet(const std::string& body) {
  std::string out;
  for (char c : body) {
    if (out.size() >= 160) {
      out += "...";
      break;
    }
    out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

Error StatusError(const std::string& what, long status, const std::string& body) {
  std::string m = what + ": HTTP " + std::to_string(status);
  if (status == 401 || status == 403) {
    return Error::InvalidArgument(
        m +
        ": the registry needs credentials: pass --registry-token TOKEN (or the "
        "config key registry_token) or set WASMER_TOKEN");
  }
  if (!body.empty()) m += " (" + Snippet(body) + ")";
  if (status == 404 || status == 410) return Error::NotFound(m);
  return Error::Io(m);
}

}  // namespace

// Connections, DNS answers and TLS sessions shared by every transfer.
struct HttpClient::Shared {
  // Set up on the first request (Ready), so that a resolve answered from the
  // cache never loads libcurl.
  std::once_flag once;
  std::optional<Error> error;
  CURLSH* share = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;
  ~Shared() {
    if (share != nullptr) Api().share_cleanup(share);
  }
};

// One request and what came back.
struct HttpClient::Transfer {
  std::string method;  // "GET", "HEAD", "POST", "PUT" or "PATCH"
  std::string url;
  const std::string* post_body = nullptr;  // the body of a POST or PUT
  // A body read from a file while it is sent (HttpRequest::body_fd).
  int body_fd = -1;
  uint64_t body_offset = 0;
  uint64_t body_size = 0;
  uint64_t body_sent = 0;  // in this attempt
  int body_errno = 0;
  std::string content_type;
  const std::vector<std::string>* extra_headers = nullptr;
  std::vector<std::pair<std::string, std::string>>* response_headers = nullptr;
  uint64_t max_body = 0;
  const HttpSink* sink = nullptr;
  // Per attempt.
  uint64_t delivered = 0;     // body bytes given to the sink, across attempts
  uint64_t this_attempt = 0;  // body bytes received in this attempt
  bool resuming = false;      // this attempt asked for Range: delivered-
  // GetRange: the body is bytes [range_start, range_start + max_body) of the
  // resource; a 200 answer (the whole resource) ends the transfer.
  bool ranged = false;
  uint64_t range_start = 0;
  bool range_ignored = false;
  bool checked_status = false;
  long status = 0;
  std::string error_body;
  std::optional<Error> sink_error;
  bool too_large = false;
  CURL* easy = nullptr;
  // Authentication (registry_auth): the Authorization value sent, whether a
  // challenge was answered already, and whether this is a token request
  // (which answers no challenge itself).
  std::string authorization;
  bool answered_challenge = false;
  bool token_request = false;
  std::vector<std::pair<std::string, std::string>> own_headers;

  std::string What() const { return method + " " + url; }
};

namespace {

size_t WriteCallback(char* data, size_t size, size_t n, void* user);
size_t HeaderCallback(char* data, size_t size, size_t n, void* user);

// The next piece of a file body.
size_t ReadCallback(char* data, size_t size, size_t n, void* user) {
  auto& t = *static_cast<HttpClient::Transfer*>(user);
  const size_t want = static_cast<size_t>(std::min<uint64_t>(size * n, t.body_size - t.body_sent));
  if (want == 0) return 0;
  const ssize_t got =
      ::pread(t.body_fd, data, want, static_cast<off_t>(t.body_offset + t.body_sent));
  if (got <= 0) {
    t.body_errno = got < 0 ? errno : EIO;  // a file shorter than announced
    return CURL_READFUNC_ABORT;
  }
  t.body_sent += static_cast<uint64_t>(got);
  return static_cast<size_t>(got);
}

bool Cancelled(const HttpClient::Transfer& t) {
  return t.sink != nullptr && t.sink->cancelled && t.sink->cancelled();
}

// Sleeps `d` in slices, polling the transfer's cancellation; false when cancelled.
bool SleepUnlessCancelled(const HttpClient::Transfer& t, std::chrono::milliseconds d) {
  constexpr std::chrono::milliseconds kSlice{100};
  for (auto left = d; left.count() > 0; left -= kSlice) {
    if (Cancelled(t)) return false;
    std::this_thread::sleep_for(std::min(left, kSlice));
  }
  return !Cancelled(t);
}

// libcurl's progress callback: non-zero aborts the transfer.
int ProgressCallback(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return Cancelled(*static_cast<HttpClient::Transfer*>(user)) ? 1 : 0;
}

void LockShare(CURL*, curl_lock_data data, curl_lock_access, void* user) {
  static_cast<std::array<std::mutex, CURL_LOCK_DATA_LAST>*>(user)->at(data).lock();
}
void UnlockShare(CURL*, curl_lock_data data, void* user) {
  static_cast<std::array<std::mutex, CURL_LOCK_DATA_LAST>*>(user)->at(data).unlock();
}

}  // namespace

HttpClient::HttpClient(HttpOptions options)
    : options_(std::move(options)), shared_(std::make_unique<Shared>()) {}

HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(HttpOptions options) {
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(options)));
}

Result<void> HttpClient::Ready() {
  Shared& s = *shared_;
  std::call_once(s.once, [&s] {
    if (!Loaded().error.empty()) {
      s.error = Error::Unsupported(Loaded().error);
      return;
    }
    s.share = Api().share_init();
    if (s.share == nullptr) {
      s.error = Error::ResourceLimit("libcurl: cannot create a share handle");
      return;
    }
    Api().share_setopt(s.share, CURLSHOPT_LOCKFUNC, LockShare);
    Api().share_setopt(s.share, CURLSHOPT_UNLOCKFUNC, UnlockShare);
    Api().share_setopt(s.share, CURLSHOPT_USERDATA, &s.locks);
    Api().share_setopt(s.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    Api().share_setopt(s.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    Api().share_setopt(s.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  });
  if (s.error) return *s.error;
  return Ok();
}

namespace {

size_t WriteCallback(char* data, size_t size, size_t n, void* user) {
  auto& t = *static_cast<HttpClient::Transfer*>(user);
  const size_t len = size * n;
  if (!t.checked_status) {
    t.checked_status = true;
    Api().easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &t.status);
    if (t.status == 200 && t.ranged) {
      t.range_ignored = true;
      return 0;
    }
    if (t.status == 200 && t.resuming && t.delivered > 0 && t.sink != nullptr) {
      // The server ignored the Range: the whole body comes again.
      if (auto r = t.sink->restart(); !r) {
        t.sink_error = std::move(r).error();
        return 0;
      }
      t.delivered = 0;
    }
  }
  if (t.status < 200 || t.status > 299) {
    size_t keep = std::min(len, kMaxErrorBody - std::min(kMaxErrorBody, t.error_body.size()));
    t.error_body.append(data, keep);
    return len;
  }
  t.this_attempt += len;
  if (t.delivered + len > t.max_body) {
    t.too_large = true;
    return 0;
  }
  if (t.sink != nullptr) {
    if (auto r = t.sink->write({reinterpret_cast<const std::byte*>(data), len}); !r) {
      t.sink_error = std::move(r).error();
      return 0;
    }
  }
  t.delivered += len;
  return len;
}

// Keeps the headers of the last response only (a redirect starts anew).
size_t HeaderCallback(char* data, size_t size, size_t n, void* user) {
  auto& t = *static_cast<HttpClient::Transfer*>(user);
  const size_t len = size * n;
  if (t.response_headers == nullptr) return len;
  std::string_view line(data, len);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    t.response_headers->clear();
    return len;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  t.response_headers->emplace_back(Lower(line.substr(0, colon)), std::string(value));
  return len;
}

}  // namespace

Result<void> HttpClient::Attempt(Transfer& t, bool* retry, std::chrono::milliseconds* wait) {
  *retry = false;
  std::unique_ptr<CURL, void (*)(CURL*)> easy(Api().easy_init(), Api().easy_cleanup);
  if (!easy) return Error::ResourceLimit(t.What() + ": cannot create a libcurl handle");
  CURL* h = easy.get();
  t.easy = h;
  t.this_attempt = 0;
  t.checked_status = false;
  t.status = 0;
  t.error_body.clear();
  char curl_error[CURL_ERROR_SIZE] = {};
  const bool https = Lower(t.url).starts_with("https://");
  Api().easy_setopt(h, CURLOPT_URL, t.url.c_str());
  Api().easy_setopt(h, CURLOPT_SHARE, shared_->share);
  Api().easy_setopt(h, CURLOPT_MAXCONNECTS, kIdleConnections);
  Api().easy_setopt(h, CURLOPT_ERRORBUFFER, curl_error);
  Api().easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  Api().easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  Api().easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  Api().easy_setopt(h, CURLOPT_MAXREDIRS, kMaxRedirects);
  // Never downgrade: from an https URL only https redirects are followed.
  Api().easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");
  Api().easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  Api().easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  Api().easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  Api().easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
  Api().easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                    static_cast<long>(options_.connect_timeout.count()));
  Api().easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_bytes);
  Api().easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                    std::max(1L, static_cast<long>(options_.low_speed_time.count() / 1000)));
  Api().easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteCallback);
  Api().easy_setopt(h, CURLOPT_WRITEDATA, &t);
  Api().easy_setopt(h, CURLOPT_HEADERFUNCTION, HeaderCallback);
  Api().easy_setopt(h, CURLOPT_HEADERDATA, &t);
  // Bodies arrive in chunks of this size, each one write(2) into the cache
  // entry: libcurl's default of 16 KiB makes a large download syscall-bound.
  Api().easy_setopt(h, CURLOPT_BUFFERSIZE, kReceiveBufferBytes);
  Api().easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // what libcurl can decode
  if (t.sink != nullptr && t.sink->cancelled) {
    Api().easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    Api().easy_setopt(h, CURLOPT_XFERINFOFUNCTION, ProgressCallback);
    Api().easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  }
  if (t.max_body < (uint64_t{1} << 62)) {
    Api().easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(t.max_body));
  }

  struct curl_slist* headers = nullptr;
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list(nullptr, Api().slist_free_all);
  auto add_header = [&](const std::string& line) {
    headers = Api().slist_append(headers, line.c_str());
    header_list.release();
    header_list.reset(headers);
  };
  if (!t.authorization.empty()) {
    add_header("Authorization: " + t.authorization);
  } else if (SendsTokenTo(t.url)) {
    add_header("Authorization: Bearer " + options_.bearer_token);
  }
  if (t.extra_headers != nullptr) {
    for (const std::string& line : *t.extra_headers) add_header(line);
  }
  if (t.method == "HEAD") Api().easy_setopt(h, CURLOPT_NOBODY, 1L);
  if (t.post_body != nullptr) {
    if (!t.content_type.empty()) add_header("Content-Type: " + t.content_type);
    Api().easy_setopt(h, CURLOPT_POST, 1L);
    if (t.method != "POST") Api().easy_setopt(h, CURLOPT_CUSTOMREQUEST, t.method.c_str());
    Api().easy_setopt(h, CURLOPT_POSTFIELDS, t.post_body->data());
    Api().easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.post_body->size()));
  }
  if (t.body_fd >= 0) {
    t.body_sent = 0;
    t.body_errno = 0;
    if (!t.content_type.empty()) add_header("Content-Type: " + t.content_type);
    add_header("Expect:");  // no 100-continue round trip
    Api().easy_setopt(h, CURLOPT_UPLOAD, 1L);
    if (t.method != "PUT") Api().easy_setopt(h, CURLOPT_CUSTOMREQUEST, t.method.c_str());
    Api().easy_setopt(h, CURLOPT_READFUNCTION, ReadCallback);
    Api().easy_setopt(h, CURLOPT_READDATA, &t);
    Api().easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t.body_size));
  }
  t.resuming = t.post_body == nullptr && t.body_fd < 0 && t.delivered > 0;
  if ((t.post_body != nullptr || t.body_fd >= 0) && t.delivered > 0) {
    // A POST is repeated whole, never resumed.
    WEBCFS_RETURN_IF_ERROR(t.sink->restart());
    t.delivered = 0;
  }
  const std::string range = t.ranged ? std::to_string(t.range_start + t.delivered) + "-" +
                                           std::to_string(t.range_start + t.max_body - 1)
                                     : std::to_string(t.delivered) + "-";
  if (t.resuming || t.ranged) Api().easy_setopt(h, CURLOPT_RANGE, range.c_str());
  Api().easy_setopt(h, CURLOPT_HTTPHEADER, headers);

  ++requests_;
  const CURLcode code = Api().easy_perform(h);
  long status = 0;
  Api().easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  t.status = status;
  t.easy = nullptr;
  // A 200 to a range request may also have been cut short by the size limit.
  if (t.ranged && status == 200) t.range_ignored = true;
  if (t.range_ignored) return Ok();
  if (t.sink_error) return std::move(*t.sink_error);
  if (code == CURLE_ABORTED_BY_CALLBACK) return Error::Io(t.What() + ": cancelled");
  if (t.body_errno != 0) {
    return Error::Io(t.What() + ": reading the body to send", t.body_errno);
  }
  if (t.too_large || code == CURLE_FILESIZE_EXCEEDED) {
    return Error::ResourceLimit(t.What() + ": body larger than " + std::to_string(t.max_body) +
                                " bytes");
  }
  if (code == CURLE_TOO_MANY_REDIRECTS) {
    return Error::Io(t.What() + ": more than " + std::to_string(kMaxRedirects) +
                     " redirects (a redirect loop?)");
  }
  if (code == CURLE_UNSUPPORTED_PROTOCOL && status >= 300 && status < 400) {
    return Error::Io(t.What() + ": refused a redirect to another scheme (never https to http)");
  }
  if (code != CURLE_OK) {
    std::string why = curl_error[0] != '\0' ? curl_error : Api().easy_strerror(code);
    *retry = RetryableCurlCode(code);
    return Error::Io(t.What() + ": " + why);
  }
  if (status >= 200 && status <= 299) return Ok();
  if (status == 416 && t.resuming) {
    // Nothing past what we have: the body ended exactly where it was cut.
    return Ok();
  }
  if (RetryableStatus(status)) {
    *retry = true;
    curl_off_t retry_after = 0;
    if (Api().easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0) {
      *wait = std::min<std::chrono::milliseconds>(std::chrono::seconds(retry_after),
                                                  options_.max_backoff);
    }
  }
  return StatusError(t.What(), status, t.error_body);
}

void HttpClient::AddTokenUrl(std::string_view url) {
  if (options_.bearer_token.empty()) return;
  std::lock_guard lock(token_hosts_mu_);
  options_.token_urls.emplace_back(url);
}

bool HttpClient::SendsTokenTo(const std::string& url) {
  if (options_.bearer_token.empty()) return false;
  std::string authority = UrlAuthority(url);
  if (authority.empty()) return false;
  std::lock_guard lock(token_hosts_mu_);
  for (const std::string& added : options_.token_urls) {
    std::string host = UrlAuthority(added);
    if (!host.empty() &&
        std::find(token_hosts_.begin(), token_hosts_.end(), host) == token_hosts_.end()) {
      token_hosts_.push_back(std::move(host));
    }
  }
  options_.token_urls.clear();
  return std::find(token_hosts_.begin(), token_hosts_.end(), authority) != token_hosts_.end();
}

Result<void> HttpClient::Run(Transfer& t) {
  if (auto ready = Ready(); !ready) return std::move(ready).error().With(t.What());
  // The challenge is in the headers, also of a GET that streams its body.
  if (t.response_headers == nullptr) t.response_headers = &t.own_headers;
  const bool answers = options_.registry_auth && !t.token_request;
  if (answers) t.authorization = StoredAuthorization(t);
  std::chrono::milliseconds backoff = options_.first_backoff;
  for (int attempt = 0;; ++attempt) {
    bool retry = false;
    std::chrono::milliseconds wait{-1};
    auto r = Attempt(t, &retry, &wait);
    if (!r && t.status == 401 && answers) {
      if (t.answered_challenge) return Unauthorized(t);
      t.answered_challenge = true;
      auto auth = AnswerChallenge(t);
      if (!auth) return std::move(auth).error();
      t.authorization = std::move(*auth);
      --attempt;  // a challenge answered is not a failed attempt
      continue;
    }
    if (r || !retry || attempt >= options_.max_retries) {
      if (!r && retry) {
        return std::move(r).error().With("after " + std::to_string(attempt + 1) + " attempts");
      }
      return r;
    }
    if (!SleepUnlessCancelled(t, wait.count() >= 0 ? wait : backoff)) {
      return Error::Io(t.What() + ": cancelled");
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

namespace {

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

bool IsUpload(const std::string& method) { return method != "GET" && method != "HEAD"; }

HttpSink StringSink(std::string* body);

}  // namespace

std::string HttpClient::StoredAuthorization(const Transfer& t) {
  const std::string authority = UrlAuthority(t.url);
  const std::string repository = OciRepositoryOfUrl(t.url);
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(auth_mu_);
  for (const StoredAuth& a : auth_) {
    if (a.authority == authority && (a.every_repository || a.repository == repository) &&
        (a.push || !IsUpload(t.method)) && a.expires > now) {
      return a.header;
    }
  }
  return "";
}

Error HttpClient::Unauthorized(const Transfer& t) {
  const std::string authority = UrlAuthority(t.url);
  const std::string m = t.What() + ": HTTP 401: ";
  if (auto creds = FindRegistryCredentials(authority)) {
    return Error::InvalidArgument(m + "the registry refused the credentials for " + authority +
                                  " from " + creds->file);
  }
  return Error::InvalidArgument(m + "the registry needs credentials: run with credentials in " +
                                AuthFilesHint() + " for " + authority);
}

Result<std::string> HttpClient::AnswerChallenge(const Transfer& t) {
  const std::string authority = UrlAuthority(t.url);
  std::string header;
  for (const auto& [name, value] : *t.response_headers) {
    if (name == "www-authenticate" && header.empty()) header = value;
  }
  auto challenge = ParseAuthChallenge(header);
  if (!challenge) return Unauthorized(t);
  const auto creds = FindRegistryCredentials(authority);
  StoredAuth stored{authority, "", true, true, "", std::chrono::steady_clock::time_point::max()};
  if (challenge->scheme == "basic") {
    if (!creds) return Unauthorized(t);
    stored.header = "Basic " + Base64Encode(creds->user + ":" + creds->password);
  } else if (challenge->scheme == "bearer") {
    const std::string realm = challenge->params["realm"];
    if (!IsHttpUrl(realm)) {
      return Error::Corrupt(t.What() + ": HTTP 401 with a Bearer challenge whose realm '" + realm +
                            "' is not an http(s) URL");
    }
    std::string url = realm;
    char sep = realm.find('?') == std::string::npos ? '?' : '&';
    for (const char* name : {"service", "scope"}) {
      if (auto it = challenge->params.find(name); it != challenge->params.end()) {
        url += sep + std::string(name) + "=" + PercentEncode(it->second);
        sep = '&';
      }
    }
    std::string body;
    const HttpSink sink = StringSink(&body);
    Transfer token;
    token.method = "GET";
    token.url = url;
    token.max_body = kMaxTokenAnswer;
    token.sink = &sink;
    token.token_request = true;
    if (creds) token.authorization = "Basic " + Base64Encode(creds->user + ":" + creds->password);
    if (auto got = Run(token); !got) {
      if (token.status == 401 || token.status == 403) {
        return Error::InvalidArgument(
            t.What() + ": HTTP 401: the token server " + realm +
            (creds ? " refused the credentials for " + authority + " from " + creds->file
                   : " needs credentials: run with credentials in " + AuthFilesHint() + " for " +
                         authority));
      }
      return std::move(got).error().With("a token for " + t.What());
    }
    auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    std::string value;
    if (doc.is_object()) {
      for (const char* key : {"token", "access_token"}) {
        if (auto it = doc.find(key); value.empty() && it != doc.end() && it->is_string()) {
          value = it->get<std::string>();
        }
      }
    }
    if (value.empty()) {
      return Error::Corrupt("GET " + realm + ": the token answer has no token (for " + t.What() +
                            ")");
    }
    std::chrono::seconds life = kDefaultTokenLife;
    if (auto it = doc.find("expires_in"); it != doc.end() && it->is_number_integer()) {
      life = std::max(kDefaultTokenLife, std::chrono::seconds(it->get<int64_t>()));
    }
    const std::string scope = challenge->params["scope"];
    stored.repository = OciRepositoryOfUrl(t.url);
    stored.every_repository = false;
    stored.push = scope.find("push") != std::string::npos;
    stored.header = "Bearer " + value;
    stored.expires = std::chrono::steady_clock::now() + life - kTokenMargin;
  } else {
    return Error::Unsupported(t.What() + ": HTTP 401 asks for auth scheme '" + challenge->scheme +
                              "' (only Bearer and Basic are answered)");
  }
  std::lock_guard lock(auth_mu_);
  std::erase_if(auth_, [&](const StoredAuth& a) {
    return a.authority == stored.authority && a.repository == stored.repository;
  });
  auth_.push_back(stored);
  return stored.header;
}

namespace {

// A sink collecting the body in `*body`.
HttpSink StringSink(std::string* body) {
  return HttpSink{[body]() -> Result<void> {
                    body->clear();
                    return Ok();
                  },
                  [body](std::span<const std::byte> b) -> Result<void> {
                    body->append(reinterpret_cast<const char*>(b.data()), b.size());
                    return Ok();
                  },
                  nullptr};
}

}  // namespace

Result<std::string> HttpClient::PostJson(const std::string& url, const std::string& json,
                                         uint64_t max_body) {
  std::string body;
  const HttpSink sink = StringSink(&body);
  const std::vector<std::string> accept = {"Accept: application/json"};
  Transfer t;
  t.method = "POST";
  t.url = url;
  t.post_body = &json;
  t.content_type = "application/json";
  t.extra_headers = &accept;
  t.max_body = max_body;
  t.sink = &sink;
  auto r = Run(t);
  if (!r) return std::move(r).error();
  return body;
}

Result<void> HttpClient::Get(const std::string& url, uint64_t max_body, const HttpSink& sink) {
  Transfer t;
  t.method = "GET";
  t.url = url;
  t.max_body = max_body;
  t.sink = &sink;
  return Run(t);
}

Result<bool> HttpClient::GetRange(const std::string& url, uint64_t offset, uint64_t n,
                                  const HttpSink& sink) {
  if (n == 0) return true;
  Transfer t;
  t.method = "GET";
  t.url = url;
  t.max_body = n;
  t.sink = &sink;
  t.ranged = true;
  t.range_start = offset;
  auto r = Run(t);
  if (!r) return std::move(r).error();
  if (t.range_ignored) return false;
  if (t.delivered != n) {
    return Error::Io(t.What() + ": range of " + std::to_string(n) + " bytes at " +
                     std::to_string(offset) + " ended after " + std::to_string(t.delivered));
  }
  return true;
}

Result<std::string> HttpClient::GetString(const std::string& url, uint64_t max_body) {
  std::string body;
  auto r = Get(url, max_body, StringSink(&body));
  if (!r) return std::move(r).error();
  return body;
}

Result<HttpResponse> HttpClient::Send(const HttpRequest& request, uint64_t max_body) {
  HttpResponse response;
  const HttpSink sink = StringSink(&response.body);
  Transfer t;
  t.method = request.method;
  t.url = request.url;
  t.post_body = request.body;
  t.body_fd = request.body_fd;
  t.body_offset = request.body_offset;
  t.body_size = request.body_size;
  t.content_type = request.content_type;
  t.extra_headers = &request.headers;
  t.response_headers = &response.headers;
  t.max_body = max_body;
  t.sink = &sink;
  auto r = Run(t);
  if (!r) return std::move(r).error();
  response.status = t.status;
  return response;
}

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

bool IsHttpUrl(std::string_view text) {
  std::string l = Lower(text.substr(0, 8));
  return l.starts_with("http://") || l.starts_with("https://");
}

std::string UrlAuthority(std::string_view url) {
  if (!Loaded().error.empty()) return "";
  std::unique_ptr<CURLU, void (*)(CURLU*)> u(Api().url(), Api().url_cleanup);
  if (!u || Api().url_set(u.get(), CURLUPART_URL, std::string(url).c_str(), 0) != CURLUE_OK) {
    return "";
  }
  char* host = nullptr;
  char* port = nullptr;
  std::string out;
  if (Api().url_get(u.get(), CURLUPART_HOST, &host, 0) == CURLUE_OK) out = Lower(host);
  if (Api().url_get(u.get(), CURLUPART_PORT, &port, 0) == CURLUE_OK) out += ":" + std::string(port);
  Api().free(host);
  Api().free(port);
  return out;
}

std::string ResolveUrl(const std::string& base, const std::string& relative) {
  if (!Loaded().error.empty()) return "";
  std::unique_ptr<CURLU, void (*)(CURLU*)> u(Api().url(), Api().url_cleanup);
  if (!u || Api().url_set(u.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK ||
      Api().url_set(u.get(), CURLUPART_URL, relative.c_str(), 0) != CURLUE_OK) {
    return "";
  }
  char* out = nullptr;
  if (Api().url_get(u.get(), CURLUPART_URL, &out, 0) != CURLUE_OK) return "";
  std::string s(out);
  Api().free(out);
  return s;
}

}  // namespace webcfs::resolver
