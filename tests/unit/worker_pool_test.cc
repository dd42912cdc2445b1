// Worker pools for blocking handlers: the pool itself (core/worker_pool.h)
// and cp_server_run_blocking on a real server — handlers that block do not
// stall the completion-queue threads, the pool's size and queue bound what
// runs and waits, and shutdown and deadlines answer queued calls without
// their handlers.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "core/clock.h"
#include "core/worker_pool.h"
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "transport/server_testing.h"
}
#include "wait.h"

namespace {

const char kEcho[] = "/cplugintest.v1.EchoService/Echo";
const char kCount[] = "/cplugintest.v1.EchoService/Count";
const char kService[] = "/cplugintest.v1.EchoService/";

// --- the pool on its own ------------------------------------------------------

// Jobs are ints; a job waits until the test opens the gate.
struct PoolJobs {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int running = 0;
  std::vector<int> ran, dropped;  // under mu
};

void RunPoolJob(void *job, bool run, void *user) {
  auto *jobs = static_cast<PoolJobs *>(user);
  int id = *static_cast<int *>(job);
  std::unique_lock<std::mutex> lock(jobs->mu);
  if (!run) {
    jobs->dropped.push_back(id);
    return;
  }
  jobs->running++;
  jobs->cv.wait(lock, [&] { return jobs->open; });
  jobs->running--;
  jobs->ran.push_back(id);
}

TEST(WorkerPool, HoldsThreadsPlusQueueThenRefusesAndDropsOnClose) {
  PoolJobs jobs;
  cp_worker_pool *pool = nullptr;
  ASSERT_EQ(0, cpi_worker_pool_new(&pool, 2, 1, RunPoolJob, &jobs));
  int ids[4] = {0, 1, 2, 3};
  ASSERT_EQ(0, cpi_worker_pool_submit(pool, &ids[0]));
  ASSERT_EQ(0, cpi_worker_pool_submit(pool, &ids[1]));
  // The pool counts a job as running just before it calls RunPoolJob, so
  // wait for the jobs themselves: the check under `jobs.mu` below needs them.
  ASSERT_TRUE(cp_test::WaitFor("both threads run a job", [&] {
    std::lock_guard<std::mutex> lock(jobs.mu);
    return jobs.running == 2;
  }));
  EXPECT_EQ(2u, cpi_worker_pool_count(pool).running);
  ASSERT_EQ(0, cpi_worker_pool_submit(pool, &ids[2]));
  EXPECT_EQ(CP_EAGAIN, cpi_worker_pool_submit(pool, &ids[3]));
  EXPECT_EQ(1u, cpi_worker_pool_count(pool).queued);

  // Closing drops the queued job at once; the running ones go on.
  cpi_worker_pool_close(pool);
  EXPECT_EQ(CP_ECLOSED, cpi_worker_pool_submit(pool, &ids[3]));
  {
    std::lock_guard<std::mutex> lock(jobs.mu);
    EXPECT_EQ(std::vector<int>{2}, jobs.dropped);
    EXPECT_EQ(2, jobs.running);
    jobs.open = true;
  }
  jobs.cv.notify_all();
  cpi_worker_pool_free(pool);  // waits for the running jobs
  EXPECT_EQ(2u, jobs.ran.size());
  EXPECT_EQ(0, jobs.running);
}

TEST(WorkerPool, RejectsBadArguments) {
  PoolJobs jobs;
  cp_worker_pool *pool = nullptr;
  EXPECT_EQ(CP_EINVAL, cpi_worker_pool_new(&pool, 0, 1, RunPoolJob, &jobs));
  EXPECT_EQ(CP_EINVAL, cpi_worker_pool_new(&pool, 1, 1, nullptr, &jobs));
  EXPECT_EQ(CP_EINVAL, cpi_worker_pool_new(nullptr, 1, 1, RunPoolJob, &jobs));
  EXPECT_EQ(CP_EINVAL,
            cpi_worker_pool_new(&pool, 1, SIZE_MAX, RunPoolJob, &jobs));
  cpi_worker_pool_free(nullptr);
}

// --- cp_server_run_blocking ---------------------------------------------------

// What the handlers do and saw. Echo with text "block" (and Count when
// block_count is set) waits until the test opens the gate; with
// `until_cancelled` it also returns once its call is cancelled.
struct Handlers {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  bool until_cancelled = false;
  bool block_count = false;
  // Count waits until its stream is closed: the close arrives through a
  // completion-queue thread.
  bool count_until_closed = false;
  int saw_closed = 0;
  int entered = 0;
  int running = 0;
  int max_running = 0;
  int saw_cancelled = 0;
  std::vector<int> post_codes;     // post hooks, in order
  std::vector<int64_t> deadlines;  // seen by the interceptor
};

void Block(Handlers *h, cp_call *call) {
  std::unique_lock<std::mutex> lock(h->mu);
  h->entered++;
  h->running++;
  h->max_running = std::max(h->max_running, h->running);
  h->cv.notify_all();
  for (;;) {
    if (h->open) {
      break;
    }
    if (h->until_cancelled && cp_call_is_cancelled(call)) {
      h->saw_cancelled++;
      break;
    }
    // Woken by the gate; the timeout only polls cp_call_is_cancelled.
    h->cv.wait_for(lock, std::chrono::milliseconds(5));
  }
  h->running--;
}

cp_status_code OnEcho(cp_call *call, const Cplugintest__V1__EchoRequest *req,
                      Cplugintest__V1__EchoResponse *resp, void *user) {
  auto *h = static_cast<Handlers *>(user);
  if (std::strcmp(req->text, "block") == 0) {
    Block(h, call);
  }
  resp->text = req->text;
  return CP_STATUS_OK;
}

cp_status_code OnCount(cp_call *call, const Cplugintest__V1__CountRequest *req,
                       cp_stream *stream, void *user) {
  auto *h = static_cast<Handlers *>(user);
  if (h->block_count) {
    Block(h, call);
  }
  if (h->count_until_closed) {
    std::unique_lock<std::mutex> lock(h->mu);
    h->entered++;
    // Polls: the stream has no wake-up of its own for a waiting handler.
    while (!cp_stream_is_closed(stream)) {
      h->cv.wait_for(lock, std::chrono::milliseconds(5));
    }
    h->saw_closed++;
    return CP_STATUS_CANCELLED;
  }
  for (int32_t i = 0; i < req->count; i++) {
    Cplugintest__V1__CountResponse msg = CPLUGINTEST__V1__COUNT_RESPONSE__INIT;
    msg.index = i;
    if (cp_stream_send(stream, &msg.base) != 0) {
      return cp_call_error(call, CP_STATUS_INTERNAL, "send failed");
    }
  }
  return CP_STATUS_OK;
}

cp_status_code RecordDeadline(cp_call *call, void *user) {
  auto *h = static_cast<Handlers *>(user);
  std::lock_guard<std::mutex> lock(h->mu);
  h->deadlines.push_back(cp_call_deadline_ns(call));
  return CP_STATUS_OK;
}

void RecordPost(const cp_call *, cp_status_code code, int64_t, void *user) {
  auto *h = static_cast<Handlers *>(user);
  std::lock_guard<std::mutex> lock(h->mu);
  h->post_codes.push_back(code);
}

struct CallResult {
  int rc = 0;
  cp_status status{};
};

class BlockingServerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    Open();  // a failed test must not leave handlers blocked
    for (std::thread &t : calls_) {
      t.join();
    }
    cp_client_destroy(client_);
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
    }
  }

  // A server with `cq_threads` completion-queue threads and the handlers
  // above; mark methods with cp_server_run_blocking, then Start().
  void Create(unsigned cq_threads = 1) {
    cp_server_options opts;
    cp_server_options_init(&opts);
    opts.threads = cq_threads;
    ASSERT_EQ(0, cp_server_create(&server_, &opts));
    cp_cplugintest__v1__echo_service__handlers handlers;
    std::memset(&handlers, 0, sizeof handlers);
    handlers.on_echo = OnEcho;
    handlers.on_count = OnCount;
    ASSERT_EQ(
        0, cp_cplugintest__v1__echo_service__register(server_, &handlers, &h_));
    ASSERT_EQ(0, cp_server_add_interceptor(server_, CP_PHASE_APPLICATION,
                                           RecordDeadline, &h_));
    ASSERT_EQ(0, cp_server_add_post_hook(server_, RecordPost, &h_));
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port_));
  }

  void RunBlocking(const char *prefix, unsigned threads, size_t queue) {
    cp_worker_pool_options o;
    cp_worker_pool_options_init(&o);
    o.threads = threads;
    o.queue_length = queue;
    ASSERT_EQ(0, cp_server_run_blocking(server_, prefix, &o));
  }

  void Start() {
    ASSERT_EQ(0, cp_server_start(server_));
    std::string target = "127.0.0.1:" + std::to_string(port_);
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));
  }

  // Echo `text`; timeout_ms 0: the hang guard (a failing test ends).
  CallResult Echo(const char *text, int64_t timeout_ms = 0) {
    cp_call_options opts;
    cp_call_options_init(&opts);
    opts.timeout_ms = timeout_ms > 0 ? timeout_ms : test_wait_ms();
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>(text);
    Cplugintest__V1__EchoResponse *resp = nullptr;
    CallResult r;
    r.rc = cp_cplugintest__v1__echo_service__echo__call(client_, &req, &resp,
                                                        &opts, &r.status);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return r;
  }

  // Starts Echo(text) on a thread of its own. The result, owned by the
  // fixture (a failed assertion may leave the call running until TearDown),
  // is there once JoinCalls returned.
  CallResult &EchoAsync(const char *text, int64_t timeout_ms = 0) {
    results_.emplace_back();
    CallResult *out = &results_.back();
    calls_.emplace_back(
        [this, text, out, timeout_ms] { *out = Echo(text, timeout_ms); });
    return *out;
  }

  void JoinCalls() {
    for (std::thread &t : calls_) {
      t.join();
    }
    calls_.clear();
  }

  // Counts `count` messages; returns how many arrived before a clean end,
  // or -1.
  int CountStream(int count) {
    cp_call_options opts;
    cp_call_options_init(&opts);
    opts.timeout_ms = test_wait_ms();
    Cplugintest__V1__CountRequest req = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
    req.count = count;
    cp_client_stream *s = nullptr;
    cp_status status;
    if (cp_cplugintest__v1__echo_service__count__start(client_, &req, &opts, &s,
                                                       &status) != 0) {
      return -1;
    }
    int got = 0;
    int rc;
    Cplugintest__V1__CountResponse *msg = nullptr;
    while ((rc = cp_cplugintest__v1__echo_service__count__next(s, &msg,
                                                               &status)) == 0) {
      EXPECT_EQ(got, msg->index);
      protobuf_c_message_free_unpacked(&msg->base, nullptr);
      got++;
    }
    cp_client_stream_destroy(s);
    return rc == CP_EEND && status.code == CP_STATUS_OK ? got : -1;
  }

  void Open() {
    {
      std::lock_guard<std::mutex> lock(h_.mu);
      h_.open = true;
    }
    h_.cv.notify_all();
  }

  int Entered() {
    std::lock_guard<std::mutex> lock(h_.mu);
    return h_.entered;
  }

  ::testing::AssertionResult EnteredReaches(int n) {
    return cp_test::WaitFor(
        std::to_string(n) + " handlers blocked", [&] { return Entered() == n; },
        [&] { return std::to_string(Entered()); });
  }

  // Waits until the pool of `path` runs `running` handlers and queues
  // `queued` calls.
  ::testing::AssertionResult PoolHolds(const char *path, size_t running,
                                       size_t queued) {
    size_t r = 0, q = 0;
    return cp_test::WaitFor(
        "the pool runs " + std::to_string(running) + " and queues " +
            std::to_string(queued),
        [&] {
          return cpi_server_testing_pool_counts(server_, path, &r, &q) &&
                 r == running && q == queued;
        },
        [&] { return std::to_string(r) + " running, " + std::to_string(q); });
  }

  Handlers h_;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  int port_ = 0;
  std::vector<std::thread> calls_;
  std::deque<CallResult> results_;  // of EchoAsync
};

TEST_F(BlockingServerTest, OptionsInitGivesTheDocumentedDefaults) {
  cp_worker_pool_options o;
  std::memset(&o, 0xff, sizeof o);
  cp_worker_pool_options_init(&o);
  EXPECT_EQ(8u, o.threads);
  EXPECT_EQ(64u, o.queue_length);
}

TEST_F(BlockingServerTest, BadArgumentsUnknownPrefixAndLateCallsAreRefused) {
  Create();
  cp_worker_pool_options o;
  cp_worker_pool_options_init(&o);
  EXPECT_EQ(CP_EINVAL, cp_server_run_blocking(nullptr, kEcho, &o));
  EXPECT_EQ(CP_EINVAL, cp_server_run_blocking(server_, nullptr, &o));
  EXPECT_EQ(CP_EINVAL, cp_server_run_blocking(server_, "", &o));
  EXPECT_EQ(CP_EINVAL,
            cp_server_run_blocking(server_, "cplugintest.v1.EchoService/", &o));
  o.threads = 0;
  EXPECT_EQ(CP_EINVAL, cp_server_run_blocking(server_, kEcho, &o));
  o.threads = 1025;
  EXPECT_EQ(CP_EINVAL, cp_server_run_blocking(server_, kEcho, &o));
  cp_worker_pool_options_init(&o);
  o.queue_length = (1u << 20) + 1;
  EXPECT_EQ(CP_EINVAL, cp_server_run_blocking(server_, kEcho, &o));

  EXPECT_EQ(CP_ENOTFOUND,
            cp_server_run_blocking(server_, "/cplugintest.v1.Other/", nullptr));
  EXPECT_EQ(CP_ENOTFOUND,
            cp_server_run_blocking(
                server_, "/cplugintest.v1.EchoService/Echoes", nullptr));
  // NULL options: the defaults.
  EXPECT_EQ(0, cp_server_run_blocking(server_, kService, nullptr));
  Start();
  EXPECT_EQ(CP_ESTATE, cp_server_run_blocking(server_, kEcho, nullptr));
}

TEST_F(BlockingServerTest, BlockedHandlerDoesNotStallAOneThreadServer) {
  Create(1);
  RunBlocking(kEcho, 2, 4);
  Start();
  CallResult &blocked = EchoAsync("block");
  ASSERT_TRUE(EnteredReaches(1));

  // Count runs on the only completion-queue thread; Echo on the pool's
  // second thread.
  EXPECT_EQ(3, CountStream(3));
  CallResult fast = Echo("fast");
  EXPECT_EQ(0, fast.rc) << fast.status.message;

  Open();
  JoinCalls();
  EXPECT_EQ(0, blocked.rc) << blocked.status.message;
}

TEST_F(BlockingServerTest, RunsAsManyHandlersAsThreadsAndQueuesTheRest) {
  Create(1);
  RunBlocking(kService, 3, 8);
  Start();
  std::vector<CallResult *> r;
  for (int i = 0; i < 5; i++) {
    r.push_back(&EchoAsync("block"));
  }
  ASSERT_TRUE(EnteredReaches(3));
  ASSERT_TRUE(PoolHolds(kEcho, 3, 2));
  Open();
  JoinCalls();
  for (CallResult *c : r) {
    EXPECT_EQ(0, c->rc) << c->status.message;
  }
  EXPECT_EQ(5, Entered());
  std::lock_guard<std::mutex> lock(h_.mu);
  EXPECT_EQ(3, h_.max_running);
}

TEST_F(BlockingServerTest, FullQueueAnswersResourceExhaustedWithoutHandler) {
  Create(1);
  RunBlocking(kEcho, 1, 1);
  Start();
  CallResult &running = EchoAsync("block");
  ASSERT_TRUE(EnteredReaches(1));
  CallResult &queued = EchoAsync("block");
  ASSERT_TRUE(PoolHolds(kEcho, 1, 1));

  CallResult refused = Echo("block");
  EXPECT_EQ(CP_ERPC, refused.rc);
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, refused.status.code);
  EXPECT_STREQ("worker pool queue full", refused.status.message);
  EXPECT_EQ(1, Entered());

  Open();
  JoinCalls();
  EXPECT_EQ(0, running.rc) << running.status.message;
  EXPECT_EQ(0, queued.rc) << queued.status.message;
  EXPECT_EQ(2, Entered());
}

TEST_F(BlockingServerTest, ZeroQueueRefusesWhenEveryThreadIsBusy) {
  Create(1);
  RunBlocking(kEcho, 1, 0);
  Start();
  CallResult &running = EchoAsync("block");
  ASSERT_TRUE(EnteredReaches(1));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Echo("fast").status.code);
  Open();
  JoinCalls();
  EXPECT_EQ(0, running.rc);
  // The thread is free once it has handed the answer over, which can be
  // just after the client read it.
  ASSERT_TRUE(PoolHolds(kEcho, 0, 0));
  EXPECT_EQ(0, Echo("fast").rc);  // a free thread takes it again
}

TEST_F(BlockingServerTest, ServerStreamingHandlerRunsOnThePool) {
  Create(1);
  RunBlocking(kCount, 1, 1);
  h_.block_count = true;
  Start();
  auto got = std::make_shared<int>(-2);  // outlives a failed assertion
  calls_.emplace_back([this, got] { *got = CountStream(4); });
  ASSERT_TRUE(EnteredReaches(1));
  // Echo is served by the only completion-queue thread meanwhile.
  CallResult fast = Echo("fast");
  EXPECT_EQ(0, fast.rc) << fast.status.message;
  Open();
  JoinCalls();
  EXPECT_EQ(4, *got);
}

TEST_F(BlockingServerTest, ForcedShutdownCancelsRunningAndDropsQueued) {
  Create(1);
  RunBlocking(kEcho, 1, 2);
  h_.until_cancelled = true;
  Start();
  CallResult &running = EchoAsync("block");
  ASSERT_TRUE(EnteredReaches(1));
  CallResult &queued1 = EchoAsync("block");
  CallResult &queued2 = EchoAsync("block");
  ASSERT_TRUE(PoolHolds(kEcho, 1, 2));

  ASSERT_EQ(0, cp_server_shutdown(server_, 0));
  // Returned: the running handler saw its call cancelled and returned, the
  // queued calls were answered without their handlers, every reply
  // completed (post hooks) and the pool is empty.
  {
    std::lock_guard<std::mutex> lock(h_.mu);
    EXPECT_EQ(1, h_.entered);
    EXPECT_EQ(1, h_.saw_cancelled);
    EXPECT_EQ(0, h_.running);
    EXPECT_EQ(3u, h_.post_codes.size());
  }
  size_t r = 9, q = 9;
  ASSERT_TRUE(cpi_server_testing_pool_counts(server_, kEcho, &r, &q));
  EXPECT_EQ(0u, r);
  EXPECT_EQ(0u, q);
  JoinCalls();
  for (CallResult *c : {&running, &queued1, &queued2}) {
    EXPECT_EQ(CP_ERPC, c->rc);
    EXPECT_NE(CP_STATUS_OK, c->status.code);
  }
}

// Shutdown waits for pool handlers while the completion-queue threads still
// run: this handler returns only once a completion-queue thread delivered
// its stream's cancellation.
TEST_F(BlockingServerTest, ShutdownWaitsForAHandlerThatNeedsTheQueueThreads) {
  Create(1);
  RunBlocking(kCount, 1, 1);
  h_.count_until_closed = true;
  Start();
  auto got = std::make_shared<int>(-2);
  calls_.emplace_back([this, got] { *got = CountStream(1); });
  ASSERT_TRUE(EnteredReaches(1));
  ASSERT_EQ(0, cp_server_shutdown(server_, 0));
  {
    std::lock_guard<std::mutex> lock(h_.mu);
    EXPECT_EQ(1, h_.saw_closed);
    EXPECT_EQ(1u, h_.post_codes.size());
  }
  JoinCalls();
  EXPECT_EQ(-1, *got);
}

TEST_F(BlockingServerTest, GracefulShutdownLetsQueuedCallsRun) {
  Create(1);
  RunBlocking(kEcho, 1, 2);
  Start();
  CallResult &running = EchoAsync("block");
  ASSERT_TRUE(EnteredReaches(1));
  CallResult &queued = EchoAsync("block");
  ASSERT_TRUE(PoolHolds(kEcho, 1, 1));

  std::thread stopper(
      [&] { EXPECT_EQ(0, cp_server_shutdown(server_, test_wait_ms())); });
  // New calls are refused once the shutdown began (Count runs on the
  // completion-queue thread, not the pool).
  EXPECT_TRUE(cp_test::WaitFor("the server refuses new calls",
                               [&] { return CountStream(1) < 0; }));
  Open();
  stopper.join();
  JoinCalls();
  EXPECT_EQ(0, running.rc) << running.status.message;
  EXPECT_EQ(0, queued.rc) << queued.status.message;
  EXPECT_EQ(2, Entered());
}

TEST_F(BlockingServerTest, DeadlinePassedWhileRunningOrQueued) {
  Create(1);
  RunBlocking(kEcho, 1, 1);
  Start();
  CallResult &running = EchoAsync("block", 300);
  ASSERT_TRUE(EnteredReaches(1));
  CallResult &queued = EchoAsync("block", 300);
  ASSERT_TRUE(PoolHolds(kEcho, 1, 1));
  JoinCalls();
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, running.status.code);
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, queued.status.code);

  // The server's own deadlines (from the interceptor) pass too before the
  // blocked handler returns, so the queued call is never run.
  int64_t last = 0;
  {
    std::lock_guard<std::mutex> lock(h_.mu);
    ASSERT_EQ(2u, h_.deadlines.size());
    last = std::max(h_.deadlines[0], h_.deadlines[1]);
  }
  ASSERT_TRUE(cp_test::WaitFor("the server-side deadlines passed", [&] {
    return cpi_clock_monotonic_ns() >= last;
  }));
  Open();  // the late reply is dropped
  ASSERT_TRUE(cp_test::WaitFor("both calls completed", [&] {
    std::lock_guard<std::mutex> lock(h_.mu);
    return h_.post_codes.size() == 2;
  }));
  EXPECT_EQ(1, Entered());
  std::lock_guard<std::mutex> lock(h_.mu);
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, h_.post_codes[0]);
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, h_.post_codes[1]);
}

}  // namespace
