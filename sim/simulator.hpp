// rostersync-sim's behaviour: an LTIAAS-compatible memberships API, an LTI
// platform's own NRPS with its OAuth2 token endpoint (sim/platform.cpp), and
// an itslearning IMS-ES MembershipManagementServiceSync endpoint, as pure
// request handlers with no I/O (sim/main.cpp serves them over HTTP).
//
// Platform side: POST /platform/token verifies the client assertion the way
// a platform does (RS256 signature with the tool's registered public key,
// kid, iss = sub = client id, aud, iat/exp, jti replay, deployment id) and
// grants short-lived bearer tokens; GET /platform/contexts/<context id>/memberships
// serves the same rosters as NRPS, paged by Link headers in the styles real
// platforms use (canvas: five comma-joined links and a cap of 50; moodle:
// `from` offsets with `role` dropped from the next link; relative: relative
// and unquoted; split: two Link lines and a multi-valued rel).
//
// LTIAAS side: service keys map to rosters (generated or loaded from JSON);
// `limit` pages them; `next` is an LMS-style URL that must come back via
// `url=` byte for byte (anything else is a 400); both member key spellings
// and numeric user ids are served. IMS-ES side: checks the WS-Security
// credentials, parses createMemberships, updateMemberships,
// replaceMemberships, deleteMemberships and readMembershipsForGroup by
// namespace, keeps memberships with every write acting as an upsert for the
// same id (a new id for a pair already present is a second membership), and
// answers per item like itslearning. Control endpoints under /_sim/ let tests
// inspect state, change rosters, preload or remove memberships behind
// rostersync's back, and switch faults on.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace rostersync::sim {

struct Options {
  std::string api_key = "sim-api-key";
  std::string imses_username = "sim-user";
  std::string imses_password = "sim-password";
  int contexts = 3;
  int members = 50;
  std::uint64_t seed = 1;
  bool mix = false;  // add inactive, TestUser, keyless, unmapped and escaping-heavy members
  std::string roster_file;  // JSON {service_key: {context:{...}, members:[...]}}; replaces generation
  // Platform side (off until the tool's public key is known):
  std::string platform_public_key_pem;     // the tool's registered public key (PEM)
  std::string platform_client_id = "sim-client";
  std::string platform_deployment_id = "sim-deployment";
  std::string platform_key_id = "sim-kid";
  std::string platform_audience;           // "" = this simulator's token URL
  int token_lifetime_s = 3600;
  std::string link_style = "canvas";       // canvas | moodle | relative | split
};

// One request as the server received it.
struct Request {
  std::string method;
  std::string target;         // origin-form: path and query
  std::string host;           // the Host header, e.g. "127.0.0.1:41234"
  std::string authorization;
  std::string soap_action;
  std::string body;
  std::string user_agent;
};

// How the server delivers a reply; all but `normal` are injected faults.
enum class Delivery {
  normal,
  reset,     // close the connection without answering (state may have changed)
  truncate,  // send the headers (full Content-Length) and half the body, then close
  drip,      // send the body a few bytes at a time, slowly
};

struct Reply {
  Reply() = default;
  Reply(int s, std::string type, std::string b) : status(s), content_type(std::move(type)), body(std::move(b)) {}
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string retry_after;  // Retry-After header, "" = none
  std::vector<std::string> links;  // one Link header line each
  Delivery delivery = Delivery::normal;
  std::chrono::milliseconds delay{0};  // before answering
};

// Injected faults, switched on with POST /_sim/faults:
//   {"seed": 7, "rules": [{"endpoint": "imses" | "roster",
//                          "kinds": ["status_503", "reset_after", ...],
//                          "probability": 0.2  |  "on_request": 3,
//                          "latency_ms": 200, "retry_after": "1"}]}
// A rule fires on the on_request-th request to its endpoint (counted from
// when the rules were set) or with the given probability; one of its kinds is
// drawn. Kinds: latency, status_500, status_502, status_503, throttle (429 +
// Retry-After), reset_before (not applied), reset_after (applied, no answer),
// truncate and drip (applied), malformed, empty, oversized; roster only:
// no_members, next_loop, next_other_origin (also for platform pages, whose
// faults are the roster's); imses only (applied):
// wrong_count, processing, item_failure.
enum class Endpoint { roster, imses, token };
struct FaultRule {
  Endpoint endpoint = Endpoint::imses;
  std::vector<std::string> kinds;
  double probability = 0;
  std::uint64_t on_request = 0;  // 0 = use probability
  int latency_ms = 0;
  std::string retry_after = "1";
};


struct StoredMembership {
  std::string group;
  std::string person;
  std::string role;
};

class Simulator {
 public:
  explicit Simulator(Options options);

  // Serves one request, with whatever fault the rules pick for it. `now`
  // dates tokens and assertions.
  Reply handle(const Request& request, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

  // Number of membership operations in an IMS-ES request body (items of a
  // write, 1 for a read; 0 if none): what the in-flight budget counts.
  static int count_operations(const std::string& body);

  const std::map<std::string, StoredMembership>& memberships() const { return memberships_; }

 private:
  struct Roster {
    boost::json::object context;
    std::vector<boost::json::value> members;
  };
  struct PageCursor {
    std::string service_key;
    std::size_t offset;
    std::size_t limit;
    int page;  // 1-based
  };

  void generate();
  // The fault kind for this request ("" = none), and its rule.
  std::pair<std::string, const FaultRule*> pick_fault(Endpoint endpoint);
  Reply memberships(const std::string& target, const std::string& authorization, const std::string& fault);
  Reply serve_page(const std::string& key, std::size_t offset, std::size_t limit, int page, const std::string& fault);
  Reply imses(const std::string& soap_action, const std::string& body, const std::string& fault);
  Reply control(const std::string& method, const std::string& path, const std::string& body);
  // sim/platform.cpp
  Reply platform_token(const Request& request, std::chrono::system_clock::time_point now);
  Reply platform_page(const Request& request, const std::string& fault, std::chrono::system_clock::time_point now);
  Reply platform_control(const std::string& body);
  void platform_state(boost::json::object& out) const;

  struct IssuedToken {
    std::chrono::system_clock::time_point expires;
  };
  std::map<std::string, IssuedToken> tokens_;
  std::set<std::string> seen_jti_;
  std::vector<std::string> grant_scopes_;  // "" = grant what is asked
  bool grant_scopes_set_ = false;
  std::map<std::string, std::uint64_t> token_refusals_;  // by OAuth2 error code
  std::uint64_t token_requests_ = 0;
  std::uint64_t tokens_issued_ = 0;
  std::uint64_t nrps_requests_ = 0;
  std::uint64_t nrps_unauthorized_ = 0;
  std::uint64_t foreign_origin_requests_ = 0;
  std::set<std::string> user_agents_;  // every User-Agent seen outside /_sim/
  std::uint64_t token_counter_ = 0;

  Options options_;
  std::map<std::string, Roster> rosters_;
  std::map<std::string, PageCursor> issued_next_;
  std::map<std::string, StoredMembership> memberships_;
  std::set<std::string> reject_persons_;
  int fail_page_ = 0;  // serve HTTP 500 for this page number of any walk (0 = off)
  std::uint64_t page_requests_ = 0;
  std::uint64_t create_calls_ = 0;
  std::uint64_t items_received_ = 0;
  std::vector<FaultRule> rules_;
  std::mt19937_64 fault_rng_{1};
  std::map<Endpoint, std::uint64_t> requests_since_rules_;
  std::map<std::string, std::uint64_t> faults_injected_;  // by kind
  std::map<std::string, std::uint64_t> calls_by_operation_;  // IMS-ES calls that got past authentication

 public:
  // Maintained by the server, which knows what is in flight.
  int in_flight_ops = 0;
  int max_in_flight_ops = 0;
  // Roster page requests in flight, in all and per Authorization value (one
  // per job): a job walking twice at once shows as a per-roster maximum above 1.
  void page_started(const std::string& authorization);
  void page_finished(const std::string& authorization);

 private:
  int in_flight_pages_ = 0;
  int max_in_flight_pages_ = 0;
  std::map<std::string, int> in_flight_pages_by_roster_;
  int max_in_flight_pages_per_roster_ = 0;
};

}  // namespace rostersync::sim
