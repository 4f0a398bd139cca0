// The store's boundary for the sync side: a store call's failure becomes a
// Failure value (kind store, or store_busy when worth trying again soon),
// our text (the file, what was asked) apart from SQLite's own, as
// Boost.MySQL keeps the server's diagnostics beside its error code. The sync
// side never catches StoreError itself: it calls the store through attempt()
// and hands a failure to the machine that decides (a run ends as failed, a
// target stops taking writes).
#pragma once

#include <type_traits>
#include <utility>

#include "domain/result.hpp"
#include "store/sqlite.hpp"

namespace rostersync::store {

inline Failure to_failure(const StoreError& e) {
  return Failure{e.busy() ? FailureKind::store_busy : FailureKind::store, e.ours(), 0, e.sqlite_text()};
}

// Runs `f` (one or more store calls, no I/O of its own) and returns what it
// returns, Done for void, or the store's failure.
template <typename F>
auto attempt(F&& f) -> Result<std::conditional_t<std::is_void_v<std::invoke_result_t<F>>, Done, std::invoke_result_t<F>>> {
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<F>>) {
      std::forward<F>(f)();
      return Done{};
    } else {
      return std::forward<F>(f)();
    }
  } catch (const StoreError& e) {
    return to_failure(e);
  }
}

}  // namespace rostersync::store
