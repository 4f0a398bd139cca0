// BatchQueue, BatchSendMachine and judge_batch with synthetic events: how
// creates are cut into batches, every retry and give-up of one batch, what
// becomes of each item, when a target is held, and the breaker's verdicts.
#include <gtest/gtest.h>

#include "sync/machines/batch_send.hpp"

using namespace rostersync;
using namespace rostersync::sync;
using Kind = BatchSendAction::Kind;
using Fate = ItemResult::Fate;
using std::chrono::milliseconds;

namespace {

config::Target target(int attempts = 3) {
  config::Target t;
  t.name = "its";
  t.retry.max_attempts = attempts;
  t.retry.retry_delay = milliseconds(1000);
  t.retry.max_retry_delay = milliseconds(60'000);
  t.items.max_failures = 3;
  t.items.retry_delay = milliseconds(15 * 60'000);
  return t;
}

std::vector<BatchItem> items(int n, int refusals = 0) {
  std::vector<BatchItem> out;
  for (int i = 0; i < n; ++i) out.push_back({"id-" + std::to_string(i), refusals});
  return out;
}

// A createMemberships response with one statusInfo per code ("success", "failure", "processing").
Result<HttpResponse> answer(const std::vector<std::string>& codes) {
  std::string set;
  for (const auto& c : codes) {
    set += "<statusInfo><codeMajor>" + c + "</codeMajor><severity>" + (c == "failure" ? "error" : "status") +
           "</severity>" + (c == "failure" ? "<description><text xmlns=\"http://www.imsglobal.org/services/common/imsCommonSchema_v1p0\">PersonNotFound</text></description>" : "") +
           "</statusInfo>";
  }
  return HttpResponse{200,
                      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header><h:syncResponseHeaderInfo "
                      "xmlns:h=\"http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0\" "
                      "xmlns=\"http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0\"><statusInfoSet>" + set +
                          "</statusInfoSet></h:syncResponseHeaderInfo></s:Header><s:Body/></s:Envelope>",
                      "text/xml", "", ""};
}

Result<HttpResponse> fault(int status, const std::string& code, const std::string& text) {
  return HttpResponse{status,
                      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault><faultcode "
                      "xmlns:a=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\">" +
                          code + "</faultcode><faultstring>" + text + "</faultstring></s:Fault></s:Body></s:Envelope>",
                      "text/xml", "", ""};
}

Result<HttpResponse> network_error() { return fail(FailureKind::transport, "POST https://its/x: connection reset"); }

BatchSendAction respond(BatchSendMachine& m, const Result<HttpResponse>& r, bool stopping = false,
                        bool target_stopped = false) {
  return m.resume(BatchSendMachine::Responded{r, 0.5, std::chrono::system_clock::now(), stopping, target_stopped});
}

PlannedWrite create(int i) { return {"id-" + std::to_string(i), "p" + std::to_string(i), "Learner", true, 0}; }

}  // namespace

TEST(BatchQueue, CutsFullBatchesThenTheLastPartialOneOnClose) {
  BatchQueue q(3, 100);
  for (int i = 0; i < 7; ++i) q.push(create(i));
  auto first = q.take(false, false);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->size(), 3u);
  EXPECT_EQ(first->front().membership_id, "id-0");
  EXPECT_TRUE(q.take(false, false));
  EXPECT_FALSE(q.take(false, false)) << "one item left: no partial batch before close";
  q.close();
  auto last = q.take(false, false);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->size(), 1u);
  EXPECT_EQ(q.active_batches(), 3);
  q.finished(3);
  EXPECT_EQ(q.active_batches(), 2);
}

TEST(BatchQueue, ABatchHoldsOneOperationAndReopensForTheDeletions) {
  BatchQueue q(2, 100);
  auto write = [](int i, MembershipOp op) {
    PlannedWrite w = create(i);
    w.op = op;
    return w;
  };
  q.push(write(0, MembershipOp::create));
  q.push(write(1, MembershipOp::update));
  q.push(write(2, MembershipOp::create));
  auto creates = q.take(false, false);
  ASSERT_TRUE(creates);
  ASSERT_EQ(creates->size(), 2u);
  EXPECT_EQ((*creates)[1].membership_id, "id-2");  // the update waits for a batch of its own
  EXPECT_FALSE(q.take(false, false));
  q.close();
  auto updates = q.take(false, false);
  ASSERT_TRUE(updates);
  ASSERT_EQ(updates->size(), 1u);
  EXPECT_EQ(updates->front().op, MembershipOp::update);
  q.reopen();  // the walk was complete: deletions follow
  q.push(write(3, MembershipOp::remove));
  EXPECT_FALSE(q.take(false, false)) << "open again: no partial batch";
  q.close();
  auto deletes = q.take(false, false);
  ASSERT_TRUE(deletes);
  EXPECT_EQ(deletes->front().op, MembershipOp::remove);
}

TEST(BatchQueue, AProbeGoesAloneAndAStoppedTargetGetsNothing) {
  BatchQueue q(2, 100);
  for (int i = 0; i < 6; ++i) q.push(create(i));
  EXPECT_FALSE(q.take(false, true));
  ASSERT_TRUE(q.take(true, false));
  EXPECT_FALSE(q.take(true, false)) << "a second batch while the probe is out";
  q.finished(2);
  EXPECT_TRUE(q.take(true, false));
}

TEST(BatchQueue, HighWaterCountsQueuedAndInFlightItems) {
  BatchQueue q(2, 3);
  for (int i = 0; i < 3; ++i) q.push(create(i));
  EXPECT_FALSE(q.over_high_water());
  q.push(create(3));
  EXPECT_TRUE(q.over_high_water());
  auto b = q.take(false, false);
  EXPECT_TRUE(q.over_high_water()) << "taken items are still in flight";
  q.finished(b->size());
  EXPECT_FALSE(q.over_high_water());
}

TEST(BatchSend, PerItemAnswerDecidesEveryItemsFate) {
  BatchSendMachine m(target(), "https://its/x", items(3, 2));
  ASSERT_EQ(m.resume(BatchSendMachine::Start{}).kind, Kind::send);
  ASSERT_EQ(respond(m, answer({"success", "failure", "processing"})).kind, Kind::finish);
  const BatchResult& r = m.result();
  EXPECT_TRUE(r.answered);
  ASSERT_EQ(r.items.size(), 3u);
  EXPECT_EQ(r.items[0].fate, Fate::confirmed);
  EXPECT_EQ(r.items[1].fate, Fate::parked) << "third refusal with max_failures 3";
  EXPECT_EQ(r.items[1].refusals, 3);
  EXPECT_EQ(r.items[1].error, "failure/error: PersonNotFound");
  EXPECT_EQ(r.items[2].fate, Fate::unknown);
  EXPECT_EQ(r.confirmed, 1);
  EXPECT_EQ(r.refused, 1);
  EXPECT_EQ(r.parked, 1);
  ASSERT_TRUE(r.breaker_sample);
  EXPECT_EQ(r.breaker_sample->items, 3);
  EXPECT_EQ(r.breaker_sample->failed, 1);
  EXPECT_FALSE(r.breaker_sample->batch_failed);
  EXPECT_FALSE(r.hold);
}

TEST(BatchSend, AFirstRefusalWaitsTheItemRetryDelay) {
  BatchSendMachine m(target(), "https://its/x", items(1, 0));
  m.resume(BatchSendMachine::Start{});
  respond(m, answer({"failure"}));
  ASSERT_EQ(m.result().items[0].fate, Fate::waiting);
  EXPECT_EQ(m.result().items[0].refusals, 1);
  EXPECT_EQ(m.result().items[0].wait, std::chrono::minutes(15));
}

// A failure at attempt n (network error, SOAP server fault, miscounted
// answer) is retried after a jittered wait; the same ids go again.
struct Failing {
  const char* name;
  Result<HttpResponse> (*make)();
};

class BatchSendTransient : public ::testing::TestWithParam<std::tuple<Failing, int>> {};

TEST_P(BatchSendTransient, FailureAtEveryAttemptThenAnswerOrPending) {
  auto [failing, failures] = GetParam();
  BatchSendMachine m(target(3), "https://its/x", items(2));
  ASSERT_EQ(m.resume(BatchSendMachine::Start{}).kind, Kind::send);
  for (int attempt = 1; attempt <= failures; ++attempt) {
    BatchSendAction a = respond(m, failing.make());
    if (attempt == 3) {
      ASSERT_EQ(a.kind, Kind::finish);
      const BatchResult& r = m.result();
      EXPECT_FALSE(r.answered);
      EXPECT_FALSE(r.gave_up);
      EXPECT_FALSE(r.error.empty());
      ASSERT_EQ(r.items.size(), 2u);
      for (const auto& item : r.items) EXPECT_EQ(item.fate, Fate::unknown) << "stays pending with its id";
      ASSERT_TRUE(r.breaker_sample);
      EXPECT_TRUE(r.breaker_sample->batch_failed);
      EXPECT_EQ(r.breaker_sample->failed, 2);
      return;
    }
    ASSERT_EQ(a.kind, Kind::wait) << failing.name << " at attempt " << attempt;
    EXPECT_EQ(a.delay, milliseconds(500 << (attempt - 1)));
    a = m.resume(BatchSendMachine::Waited{});
    ASSERT_EQ(a.kind, Kind::send);
    EXPECT_EQ(a.attempt, attempt + 1);
  }
  ASSERT_EQ(respond(m, answer({"success", "success"})).kind, Kind::finish);
  EXPECT_EQ(m.result().confirmed, 2);
  EXPECT_TRUE(m.result().error.empty());
}

const Failing kFailings[] = {
    {"network_error", network_error},
    {"server_fault", [] { return fault(500, "s:Server", "Internal error"); }},
    {"http_503", [] { return Result<HttpResponse>(HttpResponse{503, "busy", "text/plain", "", ""}); }},
    {"miscounted", [] { return answer({"success"}); }},
};

INSTANTIATE_TEST_SUITE_P(Faults, BatchSendTransient,
                         ::testing::Combine(::testing::ValuesIn(kFailings), ::testing::Values(1, 2, 3)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + "_" +
                                  std::to_string(std::get<1>(info.param)) + "_times";
                         });

TEST(BatchSend, RejectedCredentialsHoldTheTargetAndAreNotRetried) {
  BatchSendMachine m(target(), "https://its/x", items(2));
  m.resume(BatchSendMachine::Start{});
  ASSERT_EQ(respond(m, fault(500, "a:InvalidSecurity", "An error occurred when verifying security")).kind, Kind::finish);
  const BatchResult& r = m.result();
  ASSERT_TRUE(r.hold);
  EXPECT_EQ(r.hold->kind, HoldKind::blocked);
  EXPECT_EQ(r.hold->duration, target().retry.blocked_retry_interval);
  EXPECT_NE(r.hold->reason.find("POST https://its/x: "), std::string::npos) << r.hold->reason;
  EXPECT_NE(r.hold->reason.find("InvalidSecurity"), std::string::npos) << r.hold->reason;
  EXPECT_TRUE(r.gave_up);
  EXPECT_FALSE(r.breaker_sample) << "a hold, not a breaker sample";
  for (const auto& item : r.items) EXPECT_EQ(item.fate, Fate::unknown);
}

TEST(BatchSend, ARefusedCertificateHoldsTheTargetAndIsNotRetried) {
  BatchSendMachine m(target(), "https://its/x", items(2));
  m.resume(BatchSendMachine::Start{});
  auto bad = fail(FailureKind::certificate, "TLS certificate of its:443 not accepted for https://its/x: hostname mismatch");
  ASSERT_EQ(respond(m, bad).kind, Kind::finish);
  ASSERT_TRUE(m.result().hold);
  EXPECT_EQ(m.result().hold->kind, HoldKind::blocked);
  EXPECT_NE(m.result().hold->reason.find("hostname mismatch"), std::string::npos);
  EXPECT_FALSE(m.result().breaker_sample);
}

TEST(BatchSend, AStopOrAStoppedTargetGivesUpWithoutJudging) {
  BatchSendMachine before(target(), "https://its/x", items(1));
  EXPECT_EQ(before.resume(BatchSendMachine::Start{false, true}).kind, Kind::finish);
  EXPECT_TRUE(before.result().gave_up);
  EXPECT_FALSE(before.result().breaker_sample);

  // A stop while the batch waited for its budget: it is never sent.
  BatchSendMachine stopped(target(), "https://its/x", items(2));
  EXPECT_EQ(stopped.resume(BatchSendMachine::Start{true, false}).kind, Kind::finish);
  EXPECT_TRUE(stopped.result().gave_up);
  EXPECT_EQ(stopped.result().items.size(), 2u);
  for (const auto& item : stopped.result().items) EXPECT_EQ(item.fate, Fate::unknown);

  BatchSendMachine after_error(target(), "https://its/x", items(1));
  after_error.resume(BatchSendMachine::Start{});
  EXPECT_EQ(respond(after_error, network_error(), true).kind, Kind::finish);
  EXPECT_TRUE(after_error.result().gave_up);
  EXPECT_FALSE(after_error.result().breaker_sample);

  BatchSendMachine during_wait(target(), "https://its/x", items(1));
  during_wait.resume(BatchSendMachine::Start{});
  ASSERT_EQ(respond(during_wait, network_error()).kind, Kind::wait);
  EXPECT_EQ(during_wait.resume(BatchSendMachine::Waited{false, true}).kind, Kind::finish);
  EXPECT_TRUE(during_wait.result().gave_up);
}

TEST(BatchSend, ARetryAfterBeyondTheCapLeavesTheBatchForTheNextRun) {
  BatchSendMachine m(target(), "https://its/x", items(1));
  m.resume(BatchSendMachine::Start{});
  Result<HttpResponse> throttled = HttpResponse{429, "", "text/plain", "3600", ""};
  EXPECT_EQ(respond(m, throttled).kind, Kind::finish);
  EXPECT_NE(m.result().error.find("left for the next run"), std::string::npos) << m.result().error;
  EXPECT_FALSE(m.result().gave_up);
}

TEST(JudgeBatch, AGoodProbeClosesABadProbeTripsAgain) {
  config::BreakerSettings settings;
  Breaker breaker(settings);
  EXPECT_EQ(judge_batch(breaker, settings, true, false, {10, 0, false}).kind, BreakerVerdict::Kind::close);
  BreakerVerdict bad = judge_batch(breaker, settings, true, false, {10, 10, true});
  EXPECT_EQ(bad.kind, BreakerVerdict::Kind::trip);
  EXPECT_EQ(bad.hold.kind, HoldKind::breaker);
  EXPECT_EQ(bad.hold.duration, settings.probe_interval);
}

TEST(JudgeBatch, TheWindowTripsOnceAndStartsAfresh) {
  config::BreakerSettings settings;
  settings.min_items = 20;
  settings.failure_percent = 40;
  Breaker breaker(settings);
  EXPECT_EQ(judge_batch(breaker, settings, false, false, {10, 5, false}).kind, BreakerVerdict::Kind::none);
  BreakerVerdict trip = judge_batch(breaker, settings, false, false, {10, 5, false});
  ASSERT_EQ(trip.kind, BreakerVerdict::Kind::trip);
  EXPECT_EQ(trip.hold.reason, "10 of the last 20 items failed");
  EXPECT_FALSE(breaker.tripped()) << "replaced by a fresh breaker";
  EXPECT_EQ(judge_batch(breaker, settings, false, false, {10, 0, false}).kind, BreakerVerdict::Kind::none);
}

TEST(JudgeBatch, ATargetAlreadyStoppedIsNotHeldTwice) {
  config::BreakerSettings settings;
  settings.consecutive_failed_batches = 1;
  Breaker breaker(settings);
  EXPECT_EQ(judge_batch(breaker, settings, false, true, {10, 10, true}).kind, BreakerVerdict::Kind::none);
}

// The state database failing to mark an attempt reaches the machine as a
// value: nothing was sent, so nothing is retried, no breaker sample is
// taken (itslearning did nothing wrong), and every item stays pending.
TEST(BatchSendMachine, AStoreFailureBeforeTheSendGivesTheBatchUpWithoutARetry) {
  for (FailureKind kind : {FailureKind::store, FailureKind::store_busy}) {
    BatchSendMachine m(target(5), "https://its/x", items(3));
    ASSERT_EQ(m.resume(BatchSendMachine::Start{}).kind, Kind::send);
    Result<HttpResponse> failed = Failure{kind, "/var/lib/rostersync/state.db: mark_attempt", 0, "database is locked"};
    EXPECT_EQ(respond(m, failed).kind, Kind::finish) << "not retried: " << to_string(kind);
    const BatchResult& r = m.result();
    ASSERT_TRUE(r.store_failure);
    EXPECT_EQ(r.store_failure->kind, kind);
    EXPECT_EQ(r.store_failure->peer_text, "database is locked") << "SQLite's text kept apart from ours";
    EXPECT_EQ(r.error, "/var/lib/rostersync/state.db: mark_attempt: database is locked");
    EXPECT_TRUE(r.gave_up);
    EXPECT_FALSE(r.breaker_sample);
    EXPECT_FALSE(r.hold);
    EXPECT_EQ(r.unknown, 3);
    for (const ItemResult& item : r.items) EXPECT_EQ(item.fate, Fate::unknown);
  }
  // A network failure at the same step is retried, as before.
  BatchSendMachine net(target(5), "https://its/x", items(1));
  net.resume(BatchSendMachine::Start{});
  EXPECT_EQ(respond(net, network_error()).kind, Kind::wait);
  EXPECT_FALSE(net.result().store_failure);
}
