// The daemon's event loop when a coroutine fails: the frames of the others
// (jobs still running) are destroyed while what they touch still lives.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <stdexcept>

#include "daemon/process.hpp"

using namespace rostersync::daemon;
namespace asio = boost::asio;

namespace {

// Stands for the scheduler: declared after the loop, as in run_daemon.
struct Scheduler {
  std::shared_ptr<bool> alive;
  ~Scheduler() { *alive = false; }
};

// Stands for a job run's walk-end notice, run by its frame's destructor.
struct WalkEnd {
  std::shared_ptr<bool> scheduler_alive;
  std::shared_ptr<bool> seen_alive;
  ~WalkEnd() { *seen_alive = *scheduler_alive; }
};

// One run of the daemon's shape: a job waiting forever, another coroutine
// failing; returns whether the job's frame was destroyed while the
// scheduler lived.
bool frame_destroyed_while_scheduler_lived(bool guarded) {
  auto scheduler_alive = std::make_shared<bool>(true);
  auto seen_alive = std::make_shared<bool>(false);
  bool crashed = false;
  {
    EventLoop loop;
    Scheduler scheduler{scheduler_alive};
    asio::steady_timer forever(loop, asio::steady_timer::time_point::max());
    asio::co_spawn(
        loop,
        [&, scheduler_alive, seen_alive]() -> asio::awaitable<void> {
          WalkEnd end{scheduler_alive, seen_alive};
          co_await forever.async_wait(asio::use_awaitable);
        },
        stop_on_exception(loop, "a job run", crashed));
    asio::co_spawn(
        loop, []() -> asio::awaitable<void> { throw std::runtime_error("a bug"); co_return; },
        stop_on_exception(loop, "the scheduler", crashed));
    std::optional<PendingDestroyedFirst> pending;
    if (guarded) pending.emplace(loop);
    loop.run();
  }
  EXPECT_TRUE(crashed);
  return *seen_alive;
}

}  // namespace

TEST(EventLoop, AFailedCoroutineLeavesNoFrameToOutliveWhatItTouches) {
  EXPECT_TRUE(frame_destroyed_while_scheduler_lived(true));
  // Without the guard the frame goes with the loop, after the scheduler: what run_daemon did.
  EXPECT_FALSE(frame_destroyed_while_scheduler_lived(false));
}
