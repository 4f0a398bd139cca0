// Store: memberships: looking them up by person (in chunks, one prepared
// statement), the barrier before a send, what itslearning answered, and
// parked items put back.
#include "store/store.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "store/membership_rows.hpp"

namespace rostersync::store {

namespace {

// Person keys per membership lookup query. Shorter chunks are padded with
// NULL (which matches nothing), so one prepared statement serves every page.
constexpr int kLookupChunk = 128;

}  // namespace

std::optional<StoredMembership> Store::find_membership(const std::string& target, const std::string& hierarchy_id,
                                                       const std::string& person_key, const std::string& job) {
  return find_memberships(target, hierarchy_id, {person_key}, job).front();
}

std::vector<std::optional<StoredMembership>> Store::find_memberships(const std::string& target,
                                                                     const std::string& hierarchy_id,
                                                                     const std::vector<std::string>& person_keys,
                                                                     const std::string& job) {
  // ?1 target, ?2 hierarchy, ?3 the asking job, then the keys.
  static const std::string sql = [] {
    std::string q =
        std::string("SELECT m.person_key, m.membership_id, m.state, COALESCE(m.queued_run, 0), "
                    "COALESCE(m.next_attempt_at > ") +
        kSqlNow +
        ", 0), m.refusals, m.role_type, m.op, m.origin='adopted', m.held IS NOT NULL, m.withdrawn, "
        "(SELECT COALESCE(group_concat(l.role_type, ' '), '') FROM listing l WHERE l.target=m.target AND "
        "l.hierarchy_id=m.hierarchy_id AND l.person_key=m.person_key AND l.job<>?3 AND l.absent_walks=0 AND "
        "l.role_type<>'') FROM membership m WHERE m.target=?1 AND m.hierarchy_id=?2 AND m.person_key IN (";
    for (int i = 0; i < kLookupChunk; ++i) q += (i ? ", ?" : "?") + std::to_string(i + 4);
    return q + ")";
  }();
  auto read = [](Stmt& s) {
    StoredMembership m{s.text(1),         parse_state(s.text(2)), s.integer(3), s.integer(4) != 0,
                       static_cast<int>(s.integer(5)), s.text(6), parse_op(s.text(7))};
    m.adopted = s.integer(8) != 0;
    m.held = s.integer(9) != 0;
    m.withdrawn = s.integer(10) != 0;
    m.other_roles = s.text(11);
    return m;
  };
  std::vector<std::optional<StoredMembership>> found(person_keys.size());
  std::unordered_map<std::string_view, std::size_t> index;
  for (std::size_t start = 0; start < person_keys.size(); start += kLookupChunk) {
    std::size_t end = std::min(person_keys.size(), start + kLookupChunk);
    Stmt& s = prepared(find_memberships_, sql);
    s.bind(1, target).bind(2, hierarchy_id).bind(3, job);
    for (std::size_t i = start; i < start + kLookupChunk; ++i) {
      if (i < end) {
        s.bind(static_cast<int>(i - start) + 4, person_keys[i]);
        index.emplace(person_keys[i], i);
      } else {
        s.bind_null(static_cast<int>(i - start) + 4);
      }
    }
    while (s.step()) {
      auto it = index.find(s.text(0));
      if (it == index.end()) continue;
      found[it->second] = read(s);
    }
    s.reset();
  }
  // A key asked twice gets the same answer twice.
  for (std::size_t i = 0; i < person_keys.size(); ++i) {
    if (!found[i]) {
      auto it = index.find(person_keys[i]);
      if (it != index.end() && it->second != i) found[i] = found[it->second];
    }
  }
  return found;
}

void Store::mark_attempt(const std::string& target, const std::vector<std::string>& ids) {
  // The barrier before a send: ids committed since the last one reach the disk.
  const bool barrier = ids_durable_ < ids_committed_;
  durable(barrier);
  Transaction tx(db_);
  Stmt& s = cached(std::string("UPDATE membership SET attempts=attempts+1, updated_at=") + kSqlNow +
                   " WHERE target=? AND membership_id=?");
  for (const auto& id : ids) s.bind(1, target).bind(2, id).run();
  tx.commit();
  if (barrier) ids_durable_ = ids_committed_;
}

void Store::record_results(const std::string& target, const std::vector<ItemResult>& results) {
  durable(false);
  Transaction tx(db_);
  Stmt& unknown = cached(std::string("UPDATE membership SET state='pending', last_error=?, updated_at=") + kSqlNow +
                         " WHERE target=? AND membership_id=?");
  Stmt& refused =
      cached(std::string("UPDATE membership SET state=?, last_error=?, refusals=?, next_attempt_at=CASE WHEN ? "
                         "THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ? || ' seconds') END, updated_at=") +
             kSqlNow + " WHERE target=? AND membership_id=?");
  Stmt& created =
      cached(std::string("UPDATE membership SET state=CASE WHEN op='delete' THEN 'deleted' ELSE 'created' END, "
                         "last_error=NULL, next_attempt_at=NULL, refusals=0, updated_at=") +
             kSqlNow + " WHERE target=? AND membership_id=?");
  for (const auto& r : results) {
    switch (r.fate) {
      case ItemResult::Fate::confirmed:
        created.bind(1, target).bind(2, r.membership_id).run();
        break;
      case ItemResult::Fate::waiting:
      case ItemResult::Fate::parked: {
        bool parked = r.fate == ItemResult::Fate::parked;
        refused.bind(1, std::string(parked ? "failed" : "pending")).bind(2, r.error).bind(3, r.refusals);
        refused.bind(4, parked ? 1 : 0).bind(5, std::to_string(r.wait.count()));
        refused.bind(6, target).bind(7, r.membership_id).run();
        break;
      }
      case ItemResult::Fate::unknown:
        unknown.bind_or_null(1, r.error).bind(2, target).bind(3, r.membership_id).run();
        break;
    }
  }
  tx.commit();
}

int Store::requeue_parked(const std::optional<std::string>& job, const std::optional<std::string>& membership_id) {
  Stmt s(db_, std::string("UPDATE membership SET state='pending', refusals=0, next_attempt_at=NULL, updated_at=") +
                  kSqlNow +
                  " WHERE (state='failed' OR next_attempt_at IS NOT NULL) AND (? IS NULL OR job=?) AND (? IS NULL OR "
                  "membership_id=?)");
  if (job) s.bind(1, *job).bind(2, *job);
  else s.bind_null(1).bind_null(2);
  if (membership_id) s.bind(3, *membership_id).bind(4, *membership_id);
  else s.bind_null(3).bind_null(4);
  s.run();
  return db_.changes();
}

std::vector<Store::MembershipCount> Store::membership_counts() {
  std::vector<MembershipCount> counts;
  Stmt& s = cached(std::string("SELECT job, CASE state WHEN 'failed' THEN 'parked' WHEN 'pending' THEN "
                               "CASE WHEN COALESCE(next_attempt_at <= ") + kSqlNow + ", 1) THEN 'pending' ELSE 'waiting' END "
                   "ELSE state END AS shown, count(*) FROM membership WHERE state <> 'deleted' GROUP BY job, shown");
  while (s.step()) counts.push_back({s.text(0), s.text(1), s.integer(2)});
  s.reset();
  return counts;
}

}  // namespace rostersync::store
