// Result<T>: the value-or-diagnostic type every network-path function returns.
//
// Errors on the network path are values, never exceptions across coroutines.
// A Failure says what kind of thing went wrong (so callers can decide whether
// to retry), our own message (which names the URL, HTTP status or operation
// involved) and, apart from it, what the peer said about it (an error body, a
// SOAP faultstring), already made log-safe and bounded. Decisions read the
// kind and our text; people read describe(). Neither ever holds a secret.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace rostersync {

enum class FailureKind {
  transport,     // connect/read/write error, timeout, TLS failure
  http_status,   // the peer answered with a non-success HTTP status
  bad_response,  // the body could not be understood (malformed JSON/XML, missing fields)
  soap_fault,    // a SOAP Fault came back
  limit,         // a configured cap was hit (pages, members, response size)
  protocol,      // the peer broke a protocol rule (e.g. a `next` loop)
  config,        // local configuration makes the request impossible
  certificate,   // the peer's TLS certificate was refused (host, expiry, trust): fix the configuration
  store,         // the local state database failed (our text: the file and what was asked; SQLite's apart)
  store_busy,    // the same, worth trying again soon: another process held it, or its disk is full
};

const char* to_string(FailureKind kind);

struct Failure {
  FailureKind kind = FailureKind::transport;
  std::string message;    // ours
  int http_status = 0;    // 0 when no HTTP response was received
  std::string peer_text;  // the peer's, log-safe (see clip_for_message); "" when it said nothing

  // "message: peer text", or the message alone.
  std::string describe() const { return peer_text.empty() ? message : message + ": " + peer_text; }
};

// What a Result carries when the only news is that it worked.
struct Done {};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT(implicit)
  Result(Failure failure) : v_(std::move(failure)) {}  // NOLINT(implicit)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Failure& failure() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Failure> v_;
};

inline Failure fail(FailureKind kind, std::string message, int http_status = 0, std::string peer_text = "") {
  return Failure{kind, std::move(message), http_status, std::move(peer_text)};
}

}  // namespace rostersync
