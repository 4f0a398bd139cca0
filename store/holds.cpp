// Reading the holds that wait for a person (holds.hpp): the writer and the
// read-only views name a hold by the same id.
#include "store/holds.hpp"

#include <string>

#include "domain/digest.hpp"

namespace rostersync::store {

WriteHold read_write_hold(Stmt& s) {
  WriteHold h;
  h.job = s.text(0);
  h.kind = s.text(1);
  h.target = s.text(2);
  h.hierarchy_id = s.text(3);
  h.planned = static_cast<int>(s.integer(4));
  h.base = static_cast<int>(s.integer(5));
  h.reason = s.text(6);
  h.run_id = s.integer(7);
  h.since = s.text(8);
  h.accepted = s.integer(9) != 0;
  return h;
}

namespace {

std::string hex12(std::uint64_t h) {
  static const char* digits = "0123456789abcdef";
  std::string out(12, '0');
  for (int i = 11; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = digits[h & 0xF];
  return out;
}

}  // namespace

std::vector<HeldWrite> read_held_writes(Connection& db, const std::string& target, const std::string& hierarchy_id,
                                        const std::string& kind) {
  Stmt s(db,
         "SELECT held, membership_id, person_key, role_type, COALESCE(departure, CASE held WHEN 'restore' THEN "
         "'missing in itslearning' END, ''), COALESCE(held_since, '') FROM membership WHERE target=? AND hierarchy_id=? "
         "AND held=? ORDER BY membership_id");
  s.bind(1, target).bind(2, hierarchy_id).bind(3, kind);
  std::vector<HeldWrite> out;
  while (s.step()) out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5)});
  return out;
}

std::vector<WriteHold> read_write_holds(Connection& db, const std::optional<std::string>& job) {
  Stmt s(db, std::string("SELECT ") + kHoldColumns + " WHERE accepted=0 AND (?1 IS NULL OR job=?1) ORDER BY job, kind");
  if (job) s.bind(1, *job);
  else s.bind_null(1);
  std::vector<WriteHold> out;
  while (s.step()) out.push_back(read_write_hold(s));
  for (WriteHold& h : out) {
    std::uint64_t digest = hash64(h.kind);
    if (h.kind == "empty_roster") {
      digest = hash64(h.job + "\n" + h.target + "\n" + h.hierarchy_id + "\n" + h.since, digest);
    } else {
      digest = hash64(h.target + "\n" + h.hierarchy_id, digest);
      for (const HeldWrite& w : read_held_writes(db, h.target, h.hierarchy_id, h.kind)) {
        digest = hash64(w.membership_id, digest);
      }
    }
    h.id = hex12(digest);
  }
  return out;
}

}  // namespace rostersync::store
