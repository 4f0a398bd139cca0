// One started job run, as the run machine (sync/machines/run.hpp) asks for
// it: the token, the pages, the group read, planning and sending, the
// group's decision; then the snapshot is settled and the run recorded.
// Internal to sync/io: Engine's run_job() decides whether a run starts at
// all (holds) and begins its record; this does the rest.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "sync/io/engine_impl.hpp"

namespace rostersync::sync::io {

// Performs the run `report.run_id` of `job` (its own copy: a hierarchy_id
// template is filled in from the first page) and records its end; fills
// `report`. `walk_end` is called as soon as nothing more is to be read.
// `probing`: the target's breaker is half-open (one batch at a time first).
asio::awaitable<void> perform_run(Engine::Impl& engine, config::Job& job, JobReport& report,
                                  std::shared_ptr<spdlog::logger> log, bool probing,
                                  const std::function<void()>& walk_end, Clock::time_point started);

}  // namespace rostersync::sync::io
