// The client side of client-streaming and bidirectional calls
// (cp_client_stream_open / _send / _close_send / _next) against a server the
// project did not write: Python grpcio (tests/interop/py_duplex_server.py),
// one process for the whole suite.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.pb-c.h"
#include "process.h"
#include "wait.h"
}

#ifndef PY_DUPLEX_SERVER
#define PY_DUPLEX_SERVER "tests/interop/py_duplex_server.py"
#endif

namespace {

// The Python server: started with pipes on its stdin (one "READ" line lets
// a gated Chat read one message; closing it stops the server) and stdout
// (its "LISTENING <address>" line).
class PyServer {
 public:
  bool Start() {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
      return false;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
      close(in[0]);
      close(in[1]);
      return false;
    }
    const char *script =
        test_program_path("CPLUGIN_PY_DUPLEX_SERVER", PY_DUPLEX_SERVER);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      execl("/usr/bin/python3", "python3", script, (char *)nullptr);
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_fd_ = in[1];
    stdout_fd_ = out[0];
    return pid_ > 0 && ReadAddress();
  }

  void Stop() {
    if (stdin_fd_ >= 0) {
      close(stdin_fd_);
      stdin_fd_ = -1;
    }
    if (pid_ > 0) {
      struct Exit {
        pid_t pid;
      } e{pid_};
      auto exited = [](void *arg) -> int {
        int status;
        return waitpid(static_cast<Exit *>(arg)->pid, &status, WNOHANG) > 0;
      };
      if (!test_wait_until(exited, &e, -1)) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
      pid_ = -1;
    }
    if (stdout_fd_ >= 0) {
      close(stdout_fd_);
      stdout_fd_ = -1;
    }
  }

  // Lets a gated Chat read one more message.
  void GrantRead() { ASSERT_EQ(5, write(stdin_fd_, "READ\n", 5)); }

  const std::string &address() const { return address_; }

 private:
  bool ReadAddress() {
    std::string line;
    char ch;
    for (;;) {
      struct pollfd pfd = {stdout_fd_, POLLIN, 0};
      if (poll(&pfd, 1, test_wait_ms()) <= 0 || read(stdout_fd_, &ch, 1) != 1) {
        return false;
      }
      if (ch != '\n') {
        line += ch;
      } else if (line.rfind("LISTENING ", 0) == 0) {
        address_ = line.substr(10);
        return true;
      } else {
        line.clear();
      }
    }
  }

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string address_;
};

cp_method_desc Method(const char *path, const char *name, cp_method_kind kind,
                      const ProtobufCMessageDescriptor *req,
                      const ProtobufCMessageDescriptor *resp) {
  cp_method_desc m;
  memset(&m, 0, sizeof m);
  m.path = path;
  m.name = name;
  m.kind = kind;
  m.request_type = req;
  m.response_type = resp;
  return m;
}

const cp_method_desc kCollect = Method(
    "/cplugintest.v1.EchoService/Collect", "Collect",
    CP_METHOD_CLIENT_STREAMING, &cplugintest__v1__echo_request__descriptor,
    &cplugintest__v1__echo_response__descriptor);
const cp_method_desc kChat =
    Method("/cplugintest.v1.EchoService/Chat", "Chat", CP_METHOD_BIDI_STREAMING,
           &cplugintest__v1__echo_request__descriptor,
           &cplugintest__v1__echo_response__descriptor);

// An EchoRequest whose strings and payload live in the object.
struct Request {
  explicit Request(const std::string &t, size_t payload_bytes = 0,
                   int fail_code = 0, const std::string &md_key = "")
      : text(t), payload(payload_bytes, 'p'), key(md_key) {
    cplugintest__v1__echo_request__init(&msg);
    msg.text = const_cast<char *>(text.c_str());
    msg.fail_code = fail_code;
    msg.payload.data = reinterpret_cast<uint8_t *>(payload.data());
    msg.payload.len = payload.size();
    msg.metadata_key = const_cast<char *>(key.c_str());
  }
  const ProtobufCMessage *base() const { return &msg.base; }

  std::string text;
  std::string payload;
  std::string key;
  Cplugintest__V1__EchoRequest msg;
};

// Reads the next response: its text, or "" with *rc set at the end.
std::string NextText(cp_client_stream *s, int *rc, cp_status *st,
                     std::string *md_value = nullptr) {
  ProtobufCMessage *msg = nullptr;
  *rc = cp_client_stream_next(s, &msg, st);
  if (*rc != 0) {
    return "";
  }
  auto *resp = reinterpret_cast<Cplugintest__V1__EchoResponse *>(msg);
  std::string text = resp->text;
  if (md_value != nullptr) {
    *md_value = resp->metadata_value;
  }
  protobuf_c_message_free_unpacked(msg, nullptr);
  return text;
}

// Sends `payload`-byte messages until a send fails; its code.
int SendUntilFailure(cp_client_stream *s, size_t payload,
                     std::atomic<int> *sent) {
  Request big("big", payload);
  for (;;) {
    int rc = cp_client_stream_send(s, big.base());
    if (rc != 0) {
      return rc;
    }
    sent->fetch_add(1);
  }
}

class ClientDuplexTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    signal(SIGPIPE, SIG_IGN);  // a server that died must fail, not kill, us
    server_ = new PyServer;
    ASSERT_TRUE(server_->Start()) << "cannot start the Python server";
  }

  static void TearDownTestSuite() {
    server_->Stop();
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(nullptr, server_);
    ASSERT_EQ(0,
              cp_client_create(&client_, server_->address().c_str(), nullptr));
    cp_call_options_init(&opts_);
  }

  void TearDown() override { cp_client_destroy(client_); }

  cp_client_stream *Open(const cp_method_desc &m, const char *mode = nullptr,
                         int64_t timeout_ms = 0) {
    cp_metadata md = {"x-mode", mode};
    cp_call_options o = opts_;
    if (mode != nullptr) {
      o.metadata = &md;
      o.metadata_count = 1;
    }
    o.timeout_ms = timeout_ms;
    cp_client_stream *s = nullptr;
    cp_status st;
    EXPECT_EQ(0, cp_client_stream_open(client_, &m, &o, &s, &st)) << st.message;
    return s;
  }

  static PyServer *server_;
  cp_client *client_ = nullptr;
  cp_call_options opts_;
};

PyServer *ClientDuplexTest::server_ = nullptr;

TEST_F(ClientDuplexTest, ClientStreamingSendsAllThenReadsTheOneResponse) {
  cp_trailers *trailers = nullptr;
  ASSERT_EQ(0, cp_trailers_create(&trailers));
  opts_.trailers = trailers;
  cp_client_stream *s = Open(kCollect);
  ASSERT_NE(nullptr, s);
  std::string want;
  for (int i = 0; i < 20; i++) {
    Request r("m" + std::to_string(i));
    ASSERT_EQ(0, cp_client_stream_send(s, r.base()));
    want += (i > 0 ? "," : "") + r.text;
  }
  ASSERT_EQ(0, cp_client_stream_close_send(s));
  Request late("late");
  EXPECT_EQ(CP_ESTATE, cp_client_stream_send(s, late.base()));
  EXPECT_EQ(CP_ESTATE, cp_client_stream_close_send(s));

  int rc;
  cp_status st;
  EXPECT_EQ(want, NextText(s, &rc, &st));
  EXPECT_EQ(0, rc);
  NextText(s, &rc, &st);
  EXPECT_EQ(CP_EEND, rc);
  EXPECT_EQ(CP_STATUS_OK, st.code);
  NextText(s, &rc, &st);
  EXPECT_EQ(CP_EEND, rc) << "the end repeats";
  const char *count = cp_trailers_get(trailers, "x-collected", nullptr);
  ASSERT_NE(nullptr, count);
  EXPECT_STREQ("20", count);
  EXPECT_EQ(CP_ESTATE, cp_client_stream_send(s, late.base()))
      << "half-closed stays the answer after the end";
  cp_client_stream_destroy(s);
  cp_trailers_destroy(trailers);
}

TEST_F(ClientDuplexTest, BidiEchoesInterleavedSendAndNext) {
  cp_client_stream *s = Open(kChat);
  ASSERT_NE(nullptr, s);
  int rc;
  cp_status st;
  for (int i = 0; i < 10; i++) {
    Request r("ping" + std::to_string(i));
    ASSERT_EQ(0, cp_client_stream_send(s, r.base()));
    EXPECT_EQ(r.text, NextText(s, &rc, &st));
    ASSERT_EQ(0, rc) << st.message;
  }
  ASSERT_EQ(0, cp_client_stream_close_send(s));
  NextText(s, &rc, &st);
  EXPECT_EQ(CP_EEND, rc);
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  cp_client_stream_destroy(s);
}

TEST_F(ClientDuplexTest, BidiSendsOnOneThreadWhileAnotherReads) {
  cp_client_stream *s = Open(kChat);
  ASSERT_NE(nullptr, s);
  const int kMessages = 300;
  std::atomic<int> send_errors{0};
  std::thread sender([&] {
    for (int i = 0; i < kMessages; i++) {
      Request r(std::to_string(i), 1000);
      if (cp_client_stream_send(s, r.base()) != 0) {
        send_errors++;
      }
    }
    if (cp_client_stream_close_send(s) != 0) {
      send_errors++;
    }
  });
  std::vector<std::string> got;
  int rc;
  cp_status st;
  for (;;) {
    std::string text = NextText(s, &rc, &st);
    if (rc != 0) {
      break;
    }
    got.push_back(text);
  }
  sender.join();
  EXPECT_EQ(0, send_errors.load());
  EXPECT_EQ(CP_EEND, rc) << st.message;
  ASSERT_EQ(static_cast<size_t>(kMessages), got.size());
  for (int i = 0; i < kMessages; i++) {
    EXPECT_EQ(std::to_string(i), got[i]);
  }
  cp_client_stream_destroy(s);
}

TEST_F(ClientDuplexTest, ServerFailingEarlyEndsSendsWithClosed) {
  // The deadline only guards against a hang: the server's answer ends it.
  cp_client_stream *s = Open(kCollect, nullptr, 60000);
  ASSERT_NE(nullptr, s);
  Request fail("boom", 0, CP_STATUS_FAILED_PRECONDITION);
  ASSERT_EQ(0, cp_client_stream_send(s, fail.base()));
  // The server no longer reads: without the end reaching the sender, these
  // sends would block on flow control until the deadline.
  std::atomic<int> sent{0};
  EXPECT_EQ(CP_ECLOSED, SendUntilFailure(s, 64 * 1024, &sent));
  int rc;
  cp_status st;
  NextText(s, &rc, &st);
  EXPECT_EQ(CP_ERPC, rc);
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, st.code);
  EXPECT_STREQ("failed on message 0", st.message);
  EXPECT_EQ(CP_ECLOSED, cp_client_stream_send(s, fail.base()));
  EXPECT_EQ(CP_ECLOSED, cp_client_stream_close_send(s));
  cp_client_stream_destroy(s);
}

TEST_F(ClientDuplexTest, SendAfterTheReaderSawTheEndIsClosed) {
  cp_client_stream *s = Open(kChat);
  ASSERT_NE(nullptr, s);
  Request fail("boom", 0, CP_STATUS_ABORTED);
  ASSERT_EQ(0, cp_client_stream_send(s, fail.base()));
  int rc;
  cp_status st;
  NextText(s, &rc, &st);
  ASSERT_EQ(CP_ERPC, rc);
  EXPECT_EQ(CP_STATUS_ABORTED, st.code);
  Request more("more");
  EXPECT_EQ(CP_ECLOSED, cp_client_stream_send(s, more.base()));
  EXPECT_EQ(CP_ECLOSED, cp_client_stream_close_send(s));
  cp_client_stream_destroy(s);
}

// The server reads one message per grant; the sender may run ahead of its
// reads by what flow control lets through, never by all it has to send.
TEST_F(ClientDuplexTest, SendWaitsForASlowServerToRead) {
  cp_client_stream *s = Open(kChat, "gated");
  ASSERT_NE(nullptr, s);
  const int kMessages = 8;
  const size_t kBytes = 1024 * 1024;  // far over the 64 KiB window
  // Returned sends = reads + the message in flight + the one that waits
  // for it; one more for the window.
  const int kAhead = 3;
  std::atomic<int> sent{0};
  std::atomic<int> echoes{0};
  std::atomic<int> send_rc{0};
  std::thread sender([&] {
    Request big("big", kBytes);
    for (int i = 0; i < kMessages && send_rc == 0; i++) {
      send_rc = cp_client_stream_send(s, big.base());
      if (send_rc == 0) {
        sent++;
      }
    }
    if (send_rc == 0) {
      send_rc = cp_client_stream_close_send(s);
    }
  });
  int end_rc = 1;
  cp_status end;
  std::thread reader([&] {
    int rc;
    while (NextText(s, &rc, &end), rc == 0) {
      echoes++;
    }
    end_rc = rc;
  });
  ASSERT_TRUE(cp_test::WaitFor("the first send", [&] { return sent >= 1; }));
  for (int read = 1; read <= kMessages; read++) {
    server_->GrantRead();
    ASSERT_TRUE(cp_test::WaitFor(
        "the server's read " + std::to_string(read),
        [&] { return echoes >= read; },
        [&] { return std::to_string(echoes); }));
    // Each read lets one more send return...
    int want = std::min(read + 1, kMessages);
    ASSERT_TRUE(cp_test::WaitFor(
        std::to_string(want) + " sends returned", [&] { return sent >= want; },
        [&] { return std::to_string(sent); }));
    // ... but the sender never got further ahead than flow control allows.
    EXPECT_LE(sent.load(), read + kAhead) << "after read " << read;
  }
  sender.join();
  server_->GrantRead();  // the read that finds the half-close
  reader.join();
  EXPECT_EQ(0, send_rc.load());
  EXPECT_EQ(CP_EEND, end_rc) << end.message;
  EXPECT_EQ(kMessages, echoes.load());
  cp_client_stream_destroy(s);
}

TEST_F(ClientDuplexTest, BlockedSendEndsAtTheDeadline) {
  cp_client_stream *s = Open(kChat, "stall", 300);
  ASSERT_NE(nullptr, s);
  std::atomic<int> sent{0};
  // Only the deadline can end this loop: the server never reads.
  EXPECT_EQ(CP_ECLOSED, SendUntilFailure(s, 256 * 1024, &sent));
  int rc;
  cp_status st;
  NextText(s, &rc, &st);
  EXPECT_EQ(CP_ERPC, rc);
  EXPECT_EQ(CP_STATUS_DEADLINE_EXCEEDED, st.code);
  cp_client_stream_destroy(s);
}

TEST_F(ClientDuplexTest, CancelFromAnotherThreadUnblocksASend) {
  cp_client_stream *s = Open(kChat, "stall");
  ASSERT_NE(nullptr, s);
  std::atomic<int> sent{0};
  std::atomic<int> rc{0};
  std::thread sender([&] { rc = SendUntilFailure(s, 256 * 1024, &sent); });
  ASSERT_TRUE(cp_test::WaitFor("a send", [&] { return sent >= 1; }));
  cp_client_stream_cancel(s);
  sender.join();
  EXPECT_EQ(CP_ECLOSED, rc.load());
  int next_rc;
  cp_status st;
  NextText(s, &next_rc, &st);
  EXPECT_EQ(CP_ERPC, next_rc);
  EXPECT_EQ(CP_STATUS_CANCELLED, st.code);
  cp_client_stream_destroy(s);
}

TEST_F(ClientDuplexTest, ClientCloseCancelsOpenDuplexStreams) {
  cp_client_stream *s = Open(kChat, "stall");
  ASSERT_NE(nullptr, s);
  std::atomic<int> sent{0};
  std::atomic<int> rc{0};
  std::thread sender([&] { rc = SendUntilFailure(s, 256 * 1024, &sent); });
  ASSERT_TRUE(cp_test::WaitFor("a send", [&] { return sent >= 1; }));
  cp_client_close(client_);
  sender.join();
  EXPECT_EQ(CP_ECLOSED, rc.load());
  int next_rc;
  cp_status st;
  NextText(s, &next_rc, &st);
  EXPECT_EQ(CP_STATUS_CANCELLED, st.code);
  cp_client_stream_destroy(s);

  cp_client_stream *again = nullptr;
  EXPECT_EQ(CP_ECLOSED,
            cp_client_stream_open(client_, &kChat, nullptr, &again, &st));
  EXPECT_EQ(nullptr, again);
}

int AddToken(cp_invocation *inv, void *user) {
  static_cast<std::atomic<int> *>(user)->fetch_add(1);
  int rc = cp_invocation_add_metadata(inv, "x-token", "secret");
  return rc != 0 ? rc : cp_invocation_proceed(inv);
}

TEST_F(ClientDuplexTest, InterceptorsWrapTheOpen) {
  std::atomic<int> intercepted{0};
  ASSERT_EQ(0, cp_client_add_interceptor(client_, AddToken, &intercepted));
  cp_client_stream *s = Open(kCollect);
  ASSERT_NE(nullptr, s);
  EXPECT_EQ(1, intercepted.load());
  Request r("a", 0, 0, "x-token");
  ASSERT_EQ(0, cp_client_stream_send(s, r.base()));
  ASSERT_EQ(0, cp_client_stream_close_send(s));
  int rc;
  cp_status st;
  std::string md;
  EXPECT_EQ("a", NextText(s, &rc, &st, &md));
  EXPECT_EQ("secret", md);
  cp_client_stream_destroy(s);

  s = Open(kChat);
  ASSERT_NE(nullptr, s);
  EXPECT_EQ(2, intercepted.load());
  ASSERT_EQ(0, cp_client_stream_send(s, r.base()));
  EXPECT_EQ("a", NextText(s, &rc, &st, &md));
  EXPECT_EQ("secret", md);
  EXPECT_EQ(2, intercepted.load()) << "sends are not intercepted";
  cp_client_stream_destroy(s);
}

// A retry interceptor ends with the open: a stream's failure after messages
// were sent reaches the caller, never a silent second attempt. Waiting for
// the first message (the stricter stream mode) must not wait for an answer
// that needs messages the caller cannot send yet.
TEST_F(ClientDuplexTest, RetryNeverReplaysASentStream) {
  cp_retry_options ro;
  cp_retry_options_init(&ro);
  ro.policy.streams = CP_RETRY_STREAM_FIRST_MESSAGE;
  ro.policy.initial_backoff_ms = 1;
  cp_retry *retry = nullptr;
  ASSERT_EQ(0, cp_retry_create(&retry, &ro));
  ASSERT_EQ(0, cp_retry_attach(retry, client_));
  cp_client_stream *s = Open(kCollect);
  ASSERT_NE(nullptr, s);
  Request ok("a");
  Request unavailable("b", 0, CP_STATUS_UNAVAILABLE);
  ASSERT_EQ(0, cp_client_stream_send(s, ok.base()));
  ASSERT_EQ(0, cp_client_stream_send(s, unavailable.base()));
  int rc;
  cp_status st;
  NextText(s, &rc, &st);
  EXPECT_EQ(CP_ERPC, rc);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  EXPECT_EQ(0u, cp_retry_count(retry));
  cp_client_stream_destroy(s);
  cp_client_destroy(client_);
  client_ = nullptr;
  cp_retry_destroy(retry);
}

// Nothing was sent when the open fails, so retrying the open is safe.
TEST_F(ClientDuplexTest, OpenOfAnUnreachableTargetFailsAndIsRetried) {
  // A port nobody listens on: bound, then released.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(0, bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr));
  ASSERT_EQ(0, getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len));
  close(fd);
  std::string target = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  cp_retry_options ro;
  cp_retry_options_init(&ro);
  ro.policy.initial_backoff_ms = 1;
  cp_retry *retry = nullptr;
  ASSERT_EQ(0, cp_retry_create(&retry, &ro));
  cp_client *down = nullptr;
  ASSERT_EQ(0, cp_client_create(&down, target.c_str(), nullptr));
  ASSERT_EQ(0, cp_retry_attach(retry, down));
  cp_client_stream *s = nullptr;
  cp_status st;
  EXPECT_EQ(CP_ERPC, cp_client_stream_open(down, &kChat, nullptr, &s, &st));
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code) << st.message;
  EXPECT_EQ(nullptr, s);
  EXPECT_EQ(static_cast<uint64_t>(ro.policy.max_attempts - 1),
            cp_retry_count(retry));
  cp_client_destroy(down);
  cp_retry_destroy(retry);
}

TEST_F(ClientDuplexTest, BadArguments) {
  cp_client_stream *s = nullptr;
  cp_status st;
  EXPECT_EQ(CP_EINVAL,
            cp_client_stream_open(nullptr, &kChat, nullptr, &s, &st));
  EXPECT_EQ(CP_EINVAL,
            cp_client_stream_open(client_, nullptr, nullptr, &s, &st));
  EXPECT_EQ(CP_EINVAL,
            cp_client_stream_open(client_, &kChat, nullptr, nullptr, &st));
  EXPECT_EQ(CP_EINVAL,
            cp_client_stream_open(client_, &kChat, nullptr, &s, nullptr));
  cp_method_desc unary = kChat;
  unary.kind = CP_METHOD_UNARY;
  EXPECT_EQ(CP_EINVAL,
            cp_client_stream_open(client_, &unary, nullptr, &s, &st));
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  cp_method_desc server_streaming = kChat;
  server_streaming.kind = CP_METHOD_SERVER_STREAMING;
  EXPECT_EQ(CP_EINVAL, cp_client_stream_open(client_, &server_streaming,
                                             nullptr, &s, &st));
  EXPECT_EQ(nullptr, s);
  cp_method_desc untyped = kChat;
  untyped.response_type = nullptr;
  EXPECT_EQ(CP_EINVAL,
            cp_client_stream_open(client_, &untyped, nullptr, &s, &st));
  Request r("r");
  EXPECT_EQ(CP_EINVAL, cp_client_stream_send(nullptr, r.base()));
  EXPECT_EQ(CP_EINVAL, cp_client_stream_close_send(nullptr));

  s = Open(kChat);
  ASSERT_NE(nullptr, s);
  EXPECT_EQ(CP_EINVAL, cp_client_stream_send(s, nullptr));
  Cplugintest__V1__CountRequest wrong = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  EXPECT_EQ(CP_EINVAL, cp_client_stream_send(s, &wrong.base));
  // The stream is still usable after refused sends.
  ASSERT_EQ(0, cp_client_stream_send(s, r.base()));
  int rc;
  EXPECT_EQ("r", NextText(s, &rc, &st));
  cp_client_stream_destroy(s);

  // Sending on a server-streaming stream.
  cp_method_desc count = Method("/cplugintest.v1.EchoService/Count", "Count",
                                CP_METHOD_SERVER_STREAMING,
                                &cplugintest__v1__count_request__descriptor,
                                &cplugintest__v1__count_response__descriptor);
  ASSERT_EQ(
      0, cp_client_stream_start(client_, &count, &wrong.base, nullptr, &s, &st))
      << st.message;
  EXPECT_EQ(CP_EINVAL, cp_client_stream_send(s, &wrong.base));
  EXPECT_EQ(CP_EINVAL, cp_client_stream_close_send(s));
  cp_client_stream_destroy(s);
}

TEST_F(ClientDuplexTest, OversizeMessageIsRefusedAndTheStreamGoesOn) {
  cp_client_destroy(client_);
  cp_client_options co;
  cp_client_options_init(&co);
  co.max_message_bytes = 1024;
  ASSERT_EQ(0, cp_client_create(&client_, server_->address().c_str(), &co));
  cp_client_stream *s = Open(kCollect);
  ASSERT_NE(nullptr, s);
  Request big("big", 2048);
  EXPECT_EQ(CP_ETOOBIG, cp_client_stream_send(s, big.base()));
  Request small("small");
  ASSERT_EQ(0, cp_client_stream_send(s, small.base()));
  ASSERT_EQ(0, cp_client_stream_close_send(s));
  int rc;
  cp_status st;
  EXPECT_EQ("small", NextText(s, &rc, &st));
  EXPECT_EQ(0, rc) << st.message;
  cp_client_stream_destroy(s);
}

}  // namespace
