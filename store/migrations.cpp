#include "store/migrations.hpp"

#include <iterator>
#include <string>

namespace rostersync::store {
namespace {

// Schema migrations; migration i takes the schema from version i to i+1.
// Never edit a released entry: append a new one.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE roster_member (
  job            TEXT NOT NULL,
  user_id        TEXT NOT NULL,
  person_key     TEXT,              -- NULL when the member has none (or an unusable one)
  roles          TEXT NOT NULL,     -- space-separated LTI roles as received
  status         TEXT NOT NULL,     -- Active / Inactive
  outcome        TEXT NOT NULL,     -- eligible, or the reason it was skipped
  first_seen_run INTEGER NOT NULL,
  last_seen_run  INTEGER NOT NULL,
  last_seen_at   TEXT NOT NULL,
  PRIMARY KEY (job, user_id)
) WITHOUT ROWID;

CREATE TABLE membership (
  target         TEXT NOT NULL,     -- configured target name (one itslearning site)
  membership_id  TEXT NOT NULL,     -- the id sent to itslearning; never shown there again
  hierarchy_id   TEXT NOT NULL,
  person_key     TEXT NOT NULL,
  role_type      TEXT NOT NULL,
  job            TEXT NOT NULL,     -- the job that first planned it
  state          TEXT NOT NULL CHECK (state IN ('pending', 'created', 'failed')),
  attempts       INTEGER NOT NULL DEFAULT 0,
  last_error     TEXT,
  queued_run     INTEGER,           -- last run that queued it for sending
  created_at     TEXT NOT NULL,     -- when the id was chosen
  updated_at     TEXT NOT NULL,
  PRIMARY KEY (target, membership_id),
  UNIQUE (target, hierarchy_id, person_key)
);
CREATE INDEX membership_by_job_state ON membership (job, state);

CREATE TABLE run (
  run_id                      INTEGER PRIMARY KEY AUTOINCREMENT,
  job                         TEXT NOT NULL,
  started_at                  TEXT NOT NULL,
  ended_at                    TEXT,
  outcome                     TEXT NOT NULL
                              CHECK (outcome IN ('running', 'ok', 'partial', 'failed', 'interrupted')),
  pages                       INTEGER NOT NULL DEFAULT 0,
  members_seen                INTEGER NOT NULL DEFAULT 0,
  new_members                 INTEGER NOT NULL DEFAULT 0,
  already_present             INTEGER NOT NULL DEFAULT 0,
  creates_planned             INTEGER NOT NULL DEFAULT 0,
  created                     INTEGER NOT NULL DEFAULT 0,
  failed                      INTEGER NOT NULL DEFAULT 0,
  pending                     INTEGER NOT NULL DEFAULT 0,
  skipped_inactive            INTEGER NOT NULL DEFAULT 0,
  skipped_test_user           INTEGER NOT NULL DEFAULT 0,
  skipped_no_person_key       INTEGER NOT NULL DEFAULT 0,
  skipped_invalid_person_key  INTEGER NOT NULL DEFAULT 0,
  skipped_unmapped_role       INTEGER NOT NULL DEFAULT 0,
  skipped_malformed           INTEGER NOT NULL DEFAULT 0,
  error                       TEXT
);
CREATE INDEX run_by_job ON run (job, run_id);
)sql",
    R"sql(
-- When `rostersync run` will next start each job (for `rostersync status`).
CREATE TABLE job_schedule (
  job          TEXT PRIMARY KEY,
  next_run_at  TEXT NOT NULL       -- UTC ISO 8601
) WITHOUT ROWID;
)sql",
    R"sql(
-- Per-item retries: an item itslearning refused waits before its next send
-- and is parked (state 'failed') after too many refusals. Earlier 'failed'
-- rows were resent every run; they start over as pending.
ALTER TABLE membership ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0;
ALTER TABLE membership ADD COLUMN next_attempt_at TEXT;  -- UTC ISO 8601; NULL = at the next run
UPDATE membership SET state='pending' WHERE state='failed';
ALTER TABLE run ADD COLUMN deferred INTEGER NOT NULL DEFAULT 0;  -- items waiting for their next attempt or parked
-- A job or target rostersync stopped sending to: 'blocked' after a
-- configuration error, 'breaker' after failing nearly everything.
CREATE TABLE hold (
  scope   TEXT NOT NULL CHECK (scope IN ('job', 'target')),
  name    TEXT NOT NULL,
  kind    TEXT NOT NULL CHECK (kind IN ('blocked', 'breaker')),
  reason  TEXT NOT NULL,
  since   TEXT NOT NULL,             -- UTC ISO 8601
  until   TEXT NOT NULL,             -- no new try before this (a reload clears holds)
  PRIMARY KEY (scope, name)
) WITHOUT ROWID;
)sql",
    R"sql(
-- Members outside the job's role_filter, skipped client-side.
ALTER TABLE run ADD COLUMN skipped_role_filter INTEGER NOT NULL DEFAULT 0;
-- When the daemon wrote next_run_at (status tells a stale plan from a live one).
ALTER TABLE job_schedule ADD COLUMN written_at TEXT;
)sql",
    R"sql(
-- Roster pages found settled (every eligible member's membership created,
-- nothing to send), by position in the walk: a later walk that gets the same
-- page (same digest) counts it from here without per-member work.
CREATE TABLE page_digest (
  job     TEXT NOT NULL,
  page    INTEGER NOT NULL,        -- 1-based position in the walk
  digest  INTEGER NOT NULL,        -- sync::page_digest() of the page and the job's planning options
  counts  TEXT NOT NULL,           -- the page's plan counts once settled (members, already present, skipped by reason)
  run_id  INTEGER NOT NULL,        -- the run that planned it
  settled INTEGER NOT NULL,        -- 0: settled once run_id's creates are confirmed (see Store::settle_pages)
  PRIMARY KEY (job, page)
) WITHOUT ROWID;
-- The hierarchy a run wrote to (a job's hierarchy_id may be a template over the roster's context).
ALTER TABLE run ADD COLUMN hierarchy_id TEXT;
CREATE INDEX run_by_end ON run (ended_at);
-- The daemon's current (or last) pass over its jobs, for `rostersync status`.
CREATE TABLE pass (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  active         INTEGER NOT NULL,
  started_at     TEXT NOT NULL,     -- UTC ISO 8601
  ended_at       TEXT,
  updated_at     TEXT NOT NULL,
  courses_done   INTEGER NOT NULL,
  courses_total  INTEGER NOT NULL,
  running        INTEGER NOT NULL,
  members        INTEGER NOT NULL,
  created        INTEGER NOT NULL,
  failed         INTEGER NOT NULL,
  runs_not_ok    INTEGER NOT NULL
);
)sql",
    R"sql(
-- Keeping memberships right over time: role updates, guarded deletions,
-- adoption of memberships that already exist, restore. The membership table
-- is rebuilt for its wider state CHECK ('deleted').
CREATE TABLE membership_v6 (
  target           TEXT NOT NULL,
  membership_id    TEXT NOT NULL,   -- the id itslearning knows it by (rostersync's, or an adopted one)
  hierarchy_id     TEXT NOT NULL,
  person_key       TEXT NOT NULL,
  role_type        TEXT NOT NULL,   -- the role it has in itslearning (or is being given)
  job              TEXT NOT NULL,   -- the job that first planned (or adopted) it
  state            TEXT NOT NULL CHECK (state IN ('pending', 'created', 'failed', 'deleted')),
  op               TEXT NOT NULL DEFAULT 'create' CHECK (op IN ('create', 'update', 'delete')),  -- the write `state` is about
  origin           TEXT NOT NULL DEFAULT 'created' CHECK (origin IN ('created', 'adopted')),
  owned            INTEGER NOT NULL DEFAULT 1,  -- 0: never deleted by rostersync (adopted, not owned)
  attempts         INTEGER NOT NULL DEFAULT 0,
  last_error       TEXT,
  queued_run       INTEGER,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  refusals         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  TEXT,
  previous_role    TEXT,            -- the role before the last role change
  role_changed_at  TEXT,            -- UTC ISO 8601, when that change was planned
  absent_walks     INTEGER NOT NULL DEFAULT 0,  -- complete walks in a row without the member
  absent_since     TEXT,            -- UTC ISO 8601: the first of those walks
  departure        TEXT,            -- why it is to be deleted (departed, inactive); NULL = it is not
  removal_approved INTEGER NOT NULL DEFAULT 0,  -- `rostersync approve`: deleted at the next complete walk
  removal_rejected INTEGER NOT NULL DEFAULT 0,  -- `rostersync reject`: not deleted until seen again
  PRIMARY KEY (target, membership_id),
  UNIQUE (target, hierarchy_id, person_key)
);
INSERT INTO membership_v6 (target, membership_id, hierarchy_id, person_key, role_type, job, state, attempts,
                           last_error, queued_run, created_at, updated_at, refusals, next_attempt_at)
  SELECT target, membership_id, hierarchy_id, person_key, role_type, job, state, attempts, last_error, queued_run,
         created_at, updated_at, refusals, next_attempt_at FROM membership;
DROP TABLE membership;
ALTER TABLE membership_v6 RENAME TO membership;
CREATE INDEX membership_by_job_state ON membership (job, state);

ALTER TABLE run ADD COLUMN updates_planned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run ADD COLUMN updated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run ADD COLUMN deletes_planned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run ADD COLUMN deletes_held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run ADD COLUMN adopted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run ADD COLUMN restored INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run ADD COLUMN foreign_memberships INTEGER NOT NULL DEFAULT 0;

-- Deletions a removal guard held: nothing is deleted for the job until
-- `rostersync approve` or `rostersync reject`.
CREATE TABLE removal_hold (
  job       TEXT PRIMARY KEY,
  planned   INTEGER NOT NULL,   -- deletions the last complete walk planned
  base      INTEGER NOT NULL,   -- the job's memberships in the group then
  reason    TEXT NOT NULL,      -- which guard held them
  run_id    INTEGER NOT NULL,
  since     TEXT NOT NULL,      -- UTC ISO 8601
  updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- The last readMembershipsForGroup of each group: adoption before the first
-- create, and reconcile (`reconcile_interval`) after.
CREATE TABLE group_read (
  target       TEXT NOT NULL,
  hierarchy_id TEXT NOT NULL,
  read_at      TEXT NOT NULL,     -- UTC ISO 8601
  run_id       INTEGER NOT NULL,
  memberships  INTEGER NOT NULL,  -- how many the group held
  adopted      INTEGER NOT NULL,
  restored     INTEGER NOT NULL,
  foreign_memberships INTEGER NOT NULL,
  PRIMARY KEY (target, hierarchy_id)
) WITHOUT ROWID;
)sql",
    R"sql(
-- A platform source (lti_platform) that refuses the tool's client is held
-- as a whole: every job of it waits for the fix instead of asking again.
CREATE TABLE hold_v7 (
  scope   TEXT NOT NULL CHECK (scope IN ('job', 'source', 'target')),
  name    TEXT NOT NULL,
  kind    TEXT NOT NULL CHECK (kind IN ('blocked', 'breaker')),
  reason  TEXT NOT NULL,
  since   TEXT NOT NULL,             -- UTC ISO 8601
  until   TEXT NOT NULL,             -- no new try before this (a reload clears holds)
  PRIMARY KEY (scope, name)
) WITHOUT ROWID;
INSERT INTO hold_v7 SELECT scope, name, kind, reason, since, until FROM hold;
DROP TABLE hold;
ALTER TABLE hold_v7 RENAME TO hold;
)sql",
    R"sql(
-- Facts about the file itself: which rostersync last opened it for
-- writing ('rostersync_version'), and from which schema it was last
-- upgraded, when ('upgraded_from', 'upgraded_at').
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql",
    R"sql(
-- One desired state per group. What a group should hold is the union of
-- what every job feeding it lists: one listing per (group, person, job).
-- A person leaves only when no listing keeps them (sync/planning/removals.hpp).
CREATE TABLE listing (
  target        TEXT NOT NULL,
  hierarchy_id  TEXT NOT NULL,
  person_key    TEXT NOT NULL,
  job           TEXT NOT NULL,
  role_type     TEXT NOT NULL DEFAULT '',   -- the roleType this job maps the person to; '' = skipped or never listed
  inactive      INTEGER NOT NULL DEFAULT 0, -- listed with status Inactive
  absent_walks  INTEGER NOT NULL DEFAULT 0, -- this job's complete, trusted walks in a row without the person
  absent_since  TEXT,                       -- UTC ISO 8601: the first of those walks
  PRIMARY KEY (target, hierarchy_id, person_key, job)
) WITHOUT ROWID;
CREATE INDEX listing_by_job ON listing (job, target, hierarchy_id);
-- Each membership was listed by the job that planned it; its absence counts carry over.
INSERT OR IGNORE INTO listing (target, hierarchy_id, person_key, job, role_type, absent_walks, absent_since)
  SELECT target, hierarchy_id, person_key, job, role_type, absent_walks, absent_since FROM membership
  WHERE state <> 'deleted';
-- Every page is planned once more, so that every listing is written with its role.
DELETE FROM page_digest;

-- A write a guard held for a person: 'delete' or 'restore' (NULL: none).
ALTER TABLE membership ADD COLUMN held TEXT CHECK (held IN ('delete', 'restore'));
ALTER TABLE membership ADD COLUMN held_since TEXT;  -- UTC ISO 8601
-- A restore an operator rejected (itslearning lost it on purpose): not
-- created again until the person has left every roster of the group.
ALTER TABLE membership ADD COLUMN withdrawn INTEGER NOT NULL DEFAULT 0;
UPDATE membership SET held='delete', held_since=COALESCE(absent_since, updated_at)
  WHERE departure IS NOT NULL AND state <> 'deleted' AND NOT (op='delete' AND state='pending') AND removal_approved=0
  AND removal_rejected=0;

-- Holds awaiting a person, per job that feeds the held group: deletions or
-- restores of a group ('delete', 'restore'), or a job's roster that came
-- back empty ('empty_roster'; `accepted` once approved: its empty walks count).
CREATE TABLE write_hold (
  job          TEXT NOT NULL,
  kind         TEXT NOT NULL CHECK (kind IN ('delete', 'restore', 'empty_roster')),
  target       TEXT NOT NULL,
  hierarchy_id TEXT NOT NULL,
  planned      INTEGER NOT NULL,   -- writes held (empty_roster: the group's owned memberships)
  base         INTEGER NOT NULL,   -- the group's owned, confirmed memberships then
  reason       TEXT NOT NULL,      -- which guard held them
  run_id       INTEGER NOT NULL,
  since        TEXT NOT NULL,      -- UTC ISO 8601
  updated_at   TEXT NOT NULL,
  accepted     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job, kind, target, hierarchy_id)
) WITHOUT ROWID;
INSERT INTO write_hold (job, kind, target, hierarchy_id, planned, base, reason, run_id, since, updated_at)
  SELECT h.job, 'delete', m.target, m.hierarchy_id, h.planned, h.base, h.reason, h.run_id, h.since, h.updated_at
  FROM removal_hold h JOIN (SELECT DISTINCT job, target, hierarchy_id FROM membership WHERE held='delete') m
  ON m.job = h.job;
DROP TABLE removal_hold;

ALTER TABLE run ADD COLUMN restores_held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run ADD COLUMN not_owned_role_differs INTEGER NOT NULL DEFAULT 0;  -- reported, not sent
ALTER TABLE run ADD COLUMN walk_not_counted INTEGER NOT NULL DEFAULT 0;        -- 1: the walk counted for no departure

-- Who approved or rejected which held writes, when and why.
CREATE TABLE decision (
  decision_id  INTEGER PRIMARY KEY AUTOINCREMENT,
  at           TEXT NOT NULL,     -- UTC ISO 8601
  who          TEXT NOT NULL,     -- the invoking user (and the sudo user behind it)
  action       TEXT NOT NULL CHECK (action IN ('approve', 'reject')),
  job          TEXT NOT NULL,
  kind         TEXT NOT NULL,
  target       TEXT NOT NULL,
  hierarchy_id TEXT NOT NULL,
  hold_id      TEXT NOT NULL,
  writes       INTEGER NOT NULL,  -- memberships the decision applied to
  reason       TEXT               -- --reason, if given
);
)sql",
    // 9 -> 10: the jobs the daemon runs now, for a status --check that
    // needs neither the registry's files nor the secrets.
    R"sql(
CREATE TABLE daemon_job (
  name         TEXT PRIMARY KEY,
  source       TEXT NOT NULL,
  target       TEXT NOT NULL,
  hierarchy_id TEXT NOT NULL,     -- as configured (may be a template)
  interval_ms  INTEGER NOT NULL,
  origin       TEXT NOT NULL      -- "" for the configuration file, else the registry entry's file:line
) WITHOUT ROWID;
)sql",
};

}  // namespace

int schema_version(Connection& db) {
  Stmt s(db, "PRAGMA user_version");
  s.step();
  return static_cast<int>(s.integer(0));
}

int migrate(Connection& db) {
  const int found = schema_version(db);
  int version = found;
  constexpr int latest = static_cast<int>(std::size(kMigrations));
  static_assert(latest == kSchemaVersion);
  if (version > latest) {
    throw StoreError(db.path() + ": schema version " + std::to_string(version) + " is newer than this rostersync (" +
                     std::to_string(latest) + "); upgrade rostersync");
  }
  for (; version < latest; ++version) {
    Transaction tx(db);
    db.exec(kMigrations[version]);
    db.exec("PRAGMA user_version=" + std::to_string(version + 1));
    tx.commit();
  }
  return found;
}

}  // namespace rostersync::store
