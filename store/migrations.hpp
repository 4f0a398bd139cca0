// The state database schema: migrations keyed by PRAGMA user_version.
//
// Migration i takes the schema from version i to i+1, each in its own
// transaction, so a crash mid-upgrade leaves the last complete version.
#pragma once

#include "store/sqlite.hpp"

namespace rostersync::store {

inline constexpr int kSchemaVersion = 10;

// PRAGMA user_version of the open database. Throws StoreError.
int schema_version(Connection& db);

// Brings the schema up to kSchemaVersion and returns the version the file
// had (0: a new file). Throws StoreError, also when the file is newer than
// this rostersync (never downgrades).
int migrate(Connection& db);

}  // namespace rostersync::store
