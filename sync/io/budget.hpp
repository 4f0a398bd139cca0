// Budget: what several runs share towards one target. The in-flight budget
// (in operations, i.e. memberships) of one target, shared by all jobs that
// write to it and granted first come first served, and the signal that wakes
// every coroutine waiting on a condition. Internal to sync/io.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <deque>

namespace rostersync::sync::io {
namespace asio = boost::asio;

inline constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Wakes every coroutine waiting on it. Waiters re-check their condition in a
// loop; the timer never expires by itself, only cancel() wakes it.
class AsyncSignal {
 public:
  explicit AsyncSignal(asio::any_io_executor ex) : timer_(ex, asio::steady_timer::time_point::max()) {}
  asio::awaitable<void> wait() { co_await timer_.async_wait(nothrow); }
  void notify_all() { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

// In-flight operations towards one target, shared by all jobs writing to it,
// granted first come first served: a job with many batches queued cannot
// starve one with a few, and a release wakes only the waiters it serves
// (a district's thousands of jobs must not all wake for every answer).
class OperationBudget {
 public:
  OperationBudget(asio::any_io_executor ex, int capacity) : ex_(std::move(ex)), capacity_(capacity) {}
  asio::awaitable<void> acquire(int n) {
    if (waiters_.empty() && in_use_ + n <= capacity_) {
      in_use_ += n;
      co_return;
    }
    asio::steady_timer wakeup(ex_, asio::steady_timer::time_point::max());
    Waiter me{n, &wakeup};
    waiters_.push_back(&me);
    while (!me.granted) co_await wakeup.async_wait(nothrow);
  }
  int in_use() const { return in_use_; }
  void release(int n) {
    in_use_ -= n;
    while (!waiters_.empty() && in_use_ + waiters_.front()->n <= capacity_) {
      Waiter* next = waiters_.front();
      waiters_.pop_front();
      in_use_ += next->n;
      next->granted = true;
      next->wakeup->cancel();
    }
  }

 private:
  struct Waiter {
    int n;
    asio::steady_timer* wakeup;
    bool granted = false;
  };
  asio::any_io_executor ex_;
  int capacity_;
  int in_use_ = 0;
  std::deque<Waiter*> waiters_;
};

}  // namespace rostersync::sync::io
