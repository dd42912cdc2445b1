// The standard cplugin metrics: the post-call hook counted after real calls
// on a server, bounded method labels, rate-limit denials, the attached token
// store, handshake service and bucket gauge, sampled token timing, and the
// process gauges.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "wait.h"

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "plugin/v1/handshake.cplugin.h"
}

namespace {

std::string Render(cp_metrics *m) {
  char *text = nullptr;
  size_t len = 0;
  EXPECT_EQ(0, cp_metrics_render(m, &text, &len));
  std::string out(text != nullptr ? text : "", len);
  cp_metric_text_free(text);
  return out;
}

// The value of the sample line that starts with `series` + " ", or -1.
double Sample(const std::string &text, const std::string &series) {
  std::string needle = series + " ";
  size_t at = 0;
  while ((at = text.find(needle, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      return std::strtod(text.c_str() + at + needle.size(), nullptr);
    }
    at++;
  }
  return -1;
}

const char kEcho[] = "/cplugintest.v1.EchoService/Echo";
const char kCount[] = "/cplugintest.v1.EchoService/Count";

std::string Requests(const char *method, const char *code) {
  return std::string("cplugin_requests_total{method=\"") + method +
         "\",code=\"" + code + "\"}";
}

// Post hooks run after the status is sent: the client may see the answer a
// moment before the hook counted it, and one hook bumps the request counter
// before it observes the duration. Waits until every series has its value in
// one rendering, which *text then holds.
::testing::AssertionResult WaitForSamples(
    cp_metrics *m, const std::vector<std::pair<std::string, double>> &want,
    std::string *text) {
  return cp_test::WaitFor(
      "the post hooks to count every call",
      [&] {
        *text = Render(m);
        for (const auto &w : want) {
          if (Sample(*text, w.first) != w.second) {
            return false;
          }
        }
        return true;
      },
      [&] {
        std::string seen;
        for (const auto &w : want) {
          seen += "\n  " + w.first + " = " +
                  std::to_string(Sample(*text, w.first)) + " (want " +
                  std::to_string(w.second) + ")";
        }
        return seen + "\nin:\n" + *text;
      });
}

class MetricsStandardTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(0, cp_metrics_create(&m_, nullptr)); }
  void TearDown() override {
    if (server_ != nullptr) {
      cp_client_destroy(client_);
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
      echo_stats_destroy(stats_);
    }
    cp_metrics_destroy(m_);
  }

  void StartServer() {
    stats_ = echo_stats_create();
    int port = 0;
    ASSERT_EQ(0, cp_server_create(&server_, nullptr));
    ASSERT_EQ(0, echo_service_register(server_, stats_));
    ASSERT_EQ(0, cp_metrics_register(m_, server_));
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    std::string target = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));
  }

  cp_status_code Echo(int fail_code, const cp_method_desc *method = nullptr) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("hi");
    req.fail_code = fail_code;
    ProtobufCMessage *resp = nullptr;
    cp_status st{};
    cp_client_unary(client_,
                    method != nullptr
                        ? method
                        : &cp_cplugintest__v1__echo_service__echo__method,
                    &req.base, &resp, nullptr, &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(resp, nullptr);
    }
    return st.code;
  }

  cp_metrics *m_ = nullptr;
  echo_stats *stats_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
};

TEST_F(MetricsStandardTest, PostHookCountsRealCalls) {
  StartServer();
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(CP_STATUS_OK, Echo(0));
  }
  for (int i = 0; i < 2; i++) {
    ASSERT_EQ(CP_STATUS_NOT_FOUND, Echo(CP_STATUS_NOT_FOUND));
  }
  cp_method_desc unknown = cp_cplugintest__v1__echo_service__echo__method;
  unknown.path = "/cplugintest.v1.EchoService/Missing";
  ASSERT_EQ(CP_STATUS_UNIMPLEMENTED, Echo(0, &unknown));
  unknown.path = "/evil.Attacker/Grow";
  ASSERT_EQ(CP_STATUS_UNIMPLEMENTED, Echo(0, &unknown));

  Cplugintest__V1__CountRequest creq = CPLUGINTEST__V1__COUNT_REQUEST__INIT;
  creq.count = 3;
  cp_client_stream *stream = nullptr;
  cp_status st{};
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__count__start(
                   client_, &creq, nullptr, &stream, &st));
  Cplugintest__V1__CountResponse *msg = nullptr;
  int got = 0;
  while (cp_cplugintest__v1__echo_service__count__next(stream, &msg, &st) ==
         0) {
    protobuf_c_message_free_unpacked(&msg->base, nullptr);
    got++;
  }
  cp_client_stream_destroy(stream);
  ASSERT_EQ(3, got);

  const std::string durations =
      "cplugin_request_duration_seconds_count{method=\"";
  const std::string echo_sum =
      std::string("cplugin_request_duration_seconds_sum{method=\"") + kEcho +
      "\"}";
  std::string text;
  ASSERT_TRUE(WaitForSamples(
      m_,
      {{Requests(kCount, "OK"), 1},
       {Requests("other", "UNIMPLEMENTED"), 2},
       {Requests(kEcho, "OK"), 3},
       {Requests(kEcho, "NOT_FOUND"), 2},
       {durations + kEcho + "\"}", 5},
       {durations + "other\"}", 2},
       {std::string("cplugin_request_duration_seconds_bucket{method=\"") +
            kEcho + "\",le=\"+Inf\"}",
        5}},
      &text));
  EXPECT_EQ(std::string::npos, text.find("Missing")) << text;
  EXPECT_EQ(std::string::npos, text.find("evil")) << text;
  // The sum is added after the bucket: wait for it too.
  EXPECT_TRUE(cp_test::WaitFor(
      "a positive duration sum for Echo",
      [&] {
        text = Render(m_);
        return Sample(text, echo_sum) > 0;
      },
      [&] { return text; }));
  EXPECT_GT(Sample(text, echo_sum), 0);
}

TEST_F(MetricsStandardTest, MethodsPastTheLimitCountAsOther) {
  cp_metrics_destroy(m_);
  cp_metrics_options o;
  cp_metrics_options_init(&o);
  o.max_methods = 2;
  ASSERT_EQ(0, cp_metrics_create(&m_, &o));
  cp_method_desc d[5];
  std::string paths[5];
  for (int i = 0; i < 5; i++) {
    d[i] = cp_cplugintest__v1__echo_service__echo__method;
    paths[i] = "/p.S/M" + std::to_string(i);
    d[i].path = paths[i].c_str();
  }
  for (int round = 0; round < 3; round++) {
    for (auto &desc : d) {
      cp_metrics_record_call(m_, &desc, CP_STATUS_OK, 1000);
    }
  }
  cp_metrics_record_call(m_, nullptr, CP_STATUS_OK, 1000);
  cp_metrics_record_call(m_, &d[0], static_cast<cp_status_code>(99), 1);
  cp_metrics_record_call(m_, &d[0], static_cast<cp_status_code>(-1), 1);
  std::string text = Render(m_);
  EXPECT_EQ(3, Sample(text, Requests("/p.S/M0", "OK")));
  EXPECT_EQ(3, Sample(text, Requests("/p.S/M1", "OK")));
  EXPECT_EQ(-1, Sample(text, Requests("/p.S/M2", "OK")));
  EXPECT_EQ(10, Sample(text, Requests("other", "OK")));
  EXPECT_EQ(2, Sample(text, Requests("/p.S/M0", "UNKNOWN")));
  cp_metrics_record_call(nullptr, &d[0], CP_STATUS_OK, 1);  // ignored
}

TEST_F(MetricsStandardTest, RateLimitDenialsByMethod) {
  cp_metrics_count_rate_limit_denial(
      m_, &cp_cplugintest__v1__echo_service__echo__method);
  cp_metrics_count_rate_limit_denial(
      m_, &cp_cplugintest__v1__echo_service__echo__method);
  cp_metrics_count_rate_limit_denial(m_, nullptr);
  cp_metrics_count_rate_limit_denial(nullptr, nullptr);
  std::string text = Render(m_);
  EXPECT_EQ(2, Sample(text, std::string("cplugin_rate_limit_denials_total"
                                        "{method=\"") +
                                kEcho + "\"}"));
  EXPECT_EQ(1, Sample(text,
                      "cplugin_rate_limit_denials_total"
                      "{method=\"other\"}"));
}

int64_t Buckets(void *user) {
  return *static_cast<int64_t *>(user);
}

TEST_F(MetricsStandardTest, AttachedGauges) {
  std::string before = Render(m_);
  EXPECT_EQ(std::string::npos, before.find("cplugin_tokens_active"));
  EXPECT_EQ(std::string::npos, before.find("cplugin_handshakes_total"));
  EXPECT_EQ(std::string::npos, before.find("cplugin_rate_limit_buckets"));

  cp_token_store_options to;
  cp_token_store_options_init(&to);
  to.sweep_interval_ms = 0;
  cp_token_store *store = nullptr;
  ASSERT_EQ(0, cp_token_store_create(&store, &to));
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(0, cp_token_store_issue(store, "plug", id, sizeof id, token));
  }
  cp_handshake_service_options ho;
  cp_handshake_service_options_init(&ho);
  cp_handshake_service *hs = nullptr;
  ASSERT_EQ(0, cp_handshake_service_create(&hs, &ho));
  int64_t buckets = 17;

  EXPECT_EQ(0, cp_metrics_attach_token_store(m_, store));
  EXPECT_EQ(CP_EEXIST, cp_metrics_attach_token_store(m_, store));
  EXPECT_EQ(0, cp_metrics_attach_handshake(m_, hs));
  EXPECT_EQ(CP_EEXIST, cp_metrics_attach_handshake(m_, hs));
  EXPECT_EQ(0, cp_metrics_attach_rate_limit_buckets(m_, Buckets, &buckets));
  EXPECT_EQ(CP_EINVAL, cp_metrics_attach_rate_limit_buckets(m_, nullptr, 0));
  EXPECT_EQ(CP_EINVAL, cp_metrics_attach_token_store(m_, nullptr));
  EXPECT_EQ(CP_EINVAL, cp_metrics_attach_handshake(nullptr, hs));

  std::string text = Render(m_);
  EXPECT_EQ(3, Sample(text, "cplugin_tokens_active"));
  EXPECT_EQ(0, Sample(text, "cplugin_handshakes_total{result=\"ok\"}"));
  EXPECT_EQ(0, Sample(text, "cplugin_handshakes_total{result=\"rejected\"}"));

  // Real handshakes: two accepted, one with a wrong cookie.
  cp_server *server = nullptr;
  int port = 0;
  ASSERT_EQ(0, cp_server_create(&server, nullptr));
  ASSERT_EQ(0, cp_handshake_service_register(hs, server));
  ASSERT_EQ(0, cp_server_listen(server, "127.0.0.1:0", &port));
  ASSERT_EQ(0, cp_server_start(server));
  cp_client *client = nullptr;
  std::string target = "127.0.0.1:" + std::to_string(port);
  ASSERT_EQ(0, cp_client_create(&client, target.c_str(), nullptr));
  for (const char *cookie :
       {CP_MAGIC_COOKIE_VALUE, "wrong", CP_MAGIC_COOKIE_VALUE}) {
    Connectplugin__V1__HandshakeRequest r =
        CONNECTPLUGIN__V1__HANDSHAKE_REQUEST__INIT;
    r.core_protocol_version = 1;
    r.app_protocol_version = 1;
    r.magic_cookie_key = const_cast<char *>(CP_MAGIC_COOKIE_KEY);
    r.magic_cookie_value = const_cast<char *>(cookie);
    Connectplugin__V1__HandshakeResponse *resp = nullptr;
    cp_status st{};
    cp_connectplugin__v1__handshake_service__handshake__call(client, &r, &resp,
                                                             nullptr, &st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
  }
  cp_client_destroy(client);
  cp_server_shutdown(server, 1000);
  cp_server_destroy(server);
  text = Render(m_);
  EXPECT_EQ(2, Sample(text, "cplugin_handshakes_total{result=\"ok\"}"));
  EXPECT_EQ(1, Sample(text, "cplugin_handshakes_total{result=\"rejected\"}"));
  EXPECT_EQ(17, Sample(text, "cplugin_rate_limit_buckets_active"));
  ASSERT_EQ(0, cp_token_store_revoke(store, id));
  buckets = 4;
  text = Render(m_);
  EXPECT_EQ(2, Sample(text, "cplugin_tokens_active"));
  EXPECT_EQ(4, Sample(text, "cplugin_rate_limit_buckets_active"));

  // Detach by destroying the metrics before what they read.
  cp_metrics_destroy(m_);
  m_ = nullptr;
  cp_handshake_service_destroy(hs);
  cp_token_store_destroy(store);
}

TEST_F(MetricsStandardTest, TokenValidationIsSampledPerThread) {
  cp_metrics_destroy(m_);
  cp_metrics_options o;
  cp_metrics_options_init(&o);
  o.token_sample_every = 3;  // rounded up to 4
  ASSERT_EQ(0, cp_metrics_create(&m_, &o));
  cp_token_store *store = nullptr;
  ASSERT_EQ(0, cp_token_store_create(&store, nullptr));
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_issue(store, "plug", id, sizeof id, token));
  std::thread worker([&] {
    for (int i = 0; i < 100; i++) {
      EXPECT_TRUE(cp_metrics_validate_token(m_, store, id, strlen(id), token,
                                            CP_TOKEN_LEN));
    }
    EXPECT_FALSE(cp_metrics_validate_token(m_, store, id, strlen(id), "x", 1));
    EXPECT_TRUE(cp_metrics_validate_token(nullptr, store, id, strlen(id), token,
                                          CP_TOKEN_LEN));
  });
  worker.join();
  std::string text = Render(m_);
  // A fresh thread samples validations 0, 4, ..., 100: 26 of 101.
  EXPECT_EQ(26, Sample(text, "cplugin_token_validation_duration_seconds_count"))
      << text;
  // How long the real validations took depends on the machine's load, so
  // the buckets are compared before and after a known observation.
  const char le5ms[] =
      "cplugin_token_validation_duration_seconds_bucket{le=\"0.005\"}";
  const char le10ms[] =
      "cplugin_token_validation_duration_seconds_bucket{le=\"0.01\"}";
  double below5 = Sample(text, le5ms);
  double below10 = Sample(text, le10ms);
  EXPECT_GE(below5, 0) << text;
  cp_metrics_observe_token_validation(m_, 7000000);  // 7 ms
  cp_metrics_observe_token_validation(nullptr, 1);
  text = Render(m_);
  EXPECT_EQ(27,
            Sample(text, "cplugin_token_validation_duration_seconds_count"));
  EXPECT_EQ(below5, Sample(text, le5ms)) << text;
  EXPECT_EQ(below10 + 1, Sample(text, le10ms)) << text;
  EXPECT_EQ(0, cp_metrics_token_validation_begin(nullptr));
  cp_metrics_token_validation_end(nullptr, 5);
  cp_metrics_token_validation_end(m_, 0);  // not sampled: nothing
  EXPECT_EQ(27, Sample(Render(m_),
                       "cplugin_token_validation_duration_seconds_count"));
  cp_metrics_destroy(m_);
  m_ = nullptr;
  cp_token_store_destroy(store);
}

TEST_F(MetricsStandardTest, ProcessGaugesAndZeroHistogramFromTheStart) {
  std::string text = Render(m_);
  EXPECT_GT(Sample(text, "process_resident_memory_bytes"), 1024 * 1024);
  EXPECT_GE(Sample(text, "process_threads"), 1);
  EXPECT_EQ(0, Sample(text, "cplugin_token_validation_duration_seconds_count"));
  EXPECT_NE(std::string::npos,
            text.find("# TYPE cplugin_token_validation_duration_seconds "
                      "histogram\n"));
  EXPECT_EQ(std::string::npos, text.find("cplugin_requests_total"));
}

TEST_F(MetricsStandardTest, ReadinessAndArguments) {
  EXPECT_FALSE(cp_metrics_is_ready(m_));
  cp_metrics_set_ready(m_, true);
  EXPECT_TRUE(cp_metrics_is_ready(m_));
  cp_metrics_set_ready(m_, false);
  EXPECT_FALSE(cp_metrics_is_ready(m_));
  cp_metrics_set_ready(nullptr, true);
  EXPECT_FALSE(cp_metrics_is_ready(nullptr));
  EXPECT_NE(nullptr, cp_metrics_registry(m_));
  EXPECT_EQ(nullptr, cp_metrics_registry(nullptr));
  EXPECT_EQ(CP_EINVAL, cp_metrics_register(m_, nullptr));
  EXPECT_EQ(CP_EINVAL, cp_metrics_create(nullptr, nullptr));
  cp_metrics_options o;
  cp_metrics_options_init(&o);
  o.max_methods = 100000;
  cp_metrics *m = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_metrics_create(&m, &o));
  cp_metrics_destroy(nullptr);
  char *text = nullptr;
  EXPECT_EQ(CP_EINVAL, cp_metrics_render(nullptr, &text, nullptr));
}

}  // namespace
