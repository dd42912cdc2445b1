// Structured logs: JSON lines with go-plugin's keys, plain text, levels,
// escaping, truncation, configuration from the environment, and an
// authenticated session whose logs must never contain the token.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
}

namespace {

struct Captured {
  std::mutex mu;
  std::vector<std::string> lines;
};

void Capture(const char *line, size_t len, void *user) {
  auto *c = static_cast<Captured *>(user);
  std::lock_guard<std::mutex> lock(c->mu);
  c->lines.emplace_back(line, len);
}

// A strict-enough JSON object check for one flat record: string keys and
// string values, valid escapes, nothing after the closing brace.
bool IsFlatJsonObject(const std::string &s) {
  size_t i = 0;
  auto str = [&]() {
    if (i >= s.size() || s[i] != '"')
      return false;
    for (i++; i < s.size(); i++) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c == '"') {
        i++;
        return true;
      }
      if (c < 0x20)
        return false;
      if (c == '\\') {
        i++;
        if (i >= s.size())
          return false;
        char e = s[i];
        if (e == 'u') {
          if (i + 4 >= s.size())
            return false;
          for (int k = 1; k <= 4; k++) {
            if (!isxdigit(static_cast<unsigned char>(s[i + k])))
              return false;
          }
          i += 4;
        } else if (std::string("\"\\/bfnrt").find(e) == std::string::npos) {
          return false;
        }
      }
    }
    return false;
  };
  if (s.empty() || s[i++] != '{')
    return false;
  for (bool first = true;; first = false) {
    if (i < s.size() && s[i] == '}' && first)
      return ++i == s.size();
    if (!str() || i >= s.size() || s[i++] != ':' || !str())
      return false;
    if (i < s.size() && s[i] == '}')
      return ++i == s.size();
    if (i >= s.size() || s[i++] != ',')
      return false;
  }
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_log_set_sink(Capture, &captured_);
    cp_log_set_level(CP_LOG_TRACE);
  }
  void TearDown() override {
    cp_log_set_sink(nullptr, nullptr);
    cp_log_set_level(CP_LOG_INFO);
    cp_log_set_format(CP_LOG_FORMAT_TEXT);
  }
  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(captured_.mu);
    return captured_.lines;
  }
  Captured captured_;
};

TEST_F(LogTest, JsonRecordsCarryGoPluginKeys) {
  cp_log_set_format(CP_LOG_FORMAT_JSON);
  cp_log(CP_LOG_WARN, "disk \"almost\" full", "path", "/var/x\ty", "pct", "97",
         CP_LOG_END);
  auto lines = Lines();
  ASSERT_EQ(1u, lines.size());
  const std::string &l = lines[0];
  EXPECT_TRUE(IsFlatJsonObject(l)) << l;
  EXPECT_EQ(0u,
            l.find("{\"@level\":\"warn\",\"@message\":\"disk \\\"almost\\\" "
                   "full\",\"@timestamp\":\""))
      << l;
  EXPECT_NE(std::string::npos, l.find("\"path\":\"/var/x\\ty\"")) << l;
  EXPECT_NE(std::string::npos, l.find("\"pct\":\"97\"}")) << l;
  // RFC 3339 UTC timestamp with microseconds.
  size_t ts = l.find("\"@timestamp\":\"") + 14;
  EXPECT_EQ('T', l[ts + 10]) << l;
  EXPECT_EQ('Z', l[ts + 26]) << l;
}

TEST_F(LogTest, TextRecordsAreOneLine) {
  cp_log_set_format(CP_LOG_FORMAT_TEXT);
  cp_log(CP_LOG_ERROR, "bad\nthing", "k", "v1\nv2", CP_LOG_END);
  auto lines = Lines();
  ASSERT_EQ(1u, lines.size());
  EXPECT_EQ(std::string::npos, lines[0].find('\n'));
  EXPECT_NE(std::string::npos, lines[0].find("[ERROR] bad?thing: k=v1?v2"))
      << lines[0];
}

TEST_F(LogTest, LevelsFilter) {
  cp_log_set_level(CP_LOG_WARN);
  cp_log(CP_LOG_INFO, "dropped", CP_LOG_END);
  cp_log(CP_LOG_DEBUG, "dropped", CP_LOG_END);
  cp_log(CP_LOG_WARN, "kept", CP_LOG_END);
  cp_log(CP_LOG_ERROR, "kept", CP_LOG_END);
  EXPECT_EQ(2u, Lines().size());
  EXPECT_FALSE(cp_log_enabled(CP_LOG_INFO));
  EXPECT_TRUE(cp_log_enabled(CP_LOG_ERROR));
  cp_log_set_level(CP_LOG_OFF);
  cp_log(CP_LOG_ERROR, "dropped", CP_LOG_END);
  EXPECT_EQ(2u, Lines().size());
}

TEST_F(LogTest, HugeRecordsStayValidJson) {
  cp_log_set_format(CP_LOG_FORMAT_JSON);
  std::string big(10000, 'x');
  std::string quotes(3000, '"');
  cp_log(CP_LOG_INFO, big.c_str(), "a", "1", "big", big.c_str(), "q",
         quotes.c_str(), CP_LOG_END);
  cp_log(CP_LOG_INFO, quotes.c_str(), "q", quotes.c_str(), CP_LOG_END);
  for (const std::string &l : Lines()) {
    EXPECT_LE(l.size(), 4096u);
    EXPECT_TRUE(IsFlatJsonObject(l)) << l.substr(0, 200);
  }
}

TEST_F(LogTest, ConfiguredFromTheEnvironment) {
  setenv("CPLUGIN_LOG_LEVEL", "ERROR", 1);
  setenv("CPLUGIN_LOG_FORMAT", "json", 1);
  cp_log_configure_from_env();
  EXPECT_EQ(CP_LOG_ERROR, cp_log_get_level());
  cp_log(CP_LOG_ERROR, "x", CP_LOG_END);
  ASSERT_EQ(1u, Lines().size());
  EXPECT_EQ('{', Lines()[0][0]);
  setenv("CPLUGIN_LOG_LEVEL", "nonsense", 1);
  cp_log_configure_from_env();
  EXPECT_EQ(CP_LOG_ERROR, cp_log_get_level());  // unknown values ignored
  unsetenv("CPLUGIN_LOG_LEVEL");
  unsetenv("CPLUGIN_LOG_FORMAT");
}

// An authenticated session at the most verbose level: handshake with a
// self_id, calls with the token, a wrong token, revocation. No log line may
// contain the token (or any 12-character piece of it).
TEST_F(LogTest, TokensNeverAppearInLogs) {
  cp_log_set_format(CP_LOG_FORMAT_JSON);
  echo_stats *stats = echo_stats_create();
  cp_token_store *tokens = nullptr;
  ASSERT_EQ(0, cp_token_store_create(&tokens, nullptr));
  cp_plugin_info echo;
  cp_plugin_info_from_desc(&echo, &cp_cplugintest__v1__echo_service__plugin);
  cp_handshake_service_options ho;
  cp_handshake_service_options_init(&ho);
  ho.tokens = tokens;
  ho.plugins = &echo;
  ho.plugin_count = 1;
  cp_handshake_service *hs = nullptr;
  ASSERT_EQ(0, cp_handshake_service_create(&hs, &ho));
  cp_auth *auth = nullptr;
  ASSERT_EQ(0, cp_auth_create(&auth));
  ASSERT_EQ(0, cp_auth_add_runtime_tokens(auth, tokens));
  ASSERT_EQ(0, cp_auth_open_host_methods(auth));
  cp_server *server = nullptr;
  ASSERT_EQ(0, cp_server_create(&server, nullptr));
  ASSERT_EQ(0, cp_auth_register(auth, server));
  ASSERT_EQ(0, cp_handshake_service_register(hs, server));
  ASSERT_EQ(0, echo_service_register(server, stats));
  int port = 0;
  ASSERT_EQ(0, cp_server_listen(server, "127.0.0.1:0", &port));
  ASSERT_EQ(0, cp_server_start(server));
  std::string target = "127.0.0.1:" + std::to_string(port);

  cp_plugin_client_options o;
  cp_plugin_client_options_init(&o);
  o.endpoint = target.c_str();
  o.self_id = "secretive";
  const char *want[] = {"echo"};
  o.requested_plugins = want;
  o.requested_plugin_count = 1;
  cp_plugin_client *pc = nullptr;
  ASSERT_EQ(0, cp_plugin_client_create(&pc, &o));
  cp_status st;
  ASSERT_EQ(0, cp_plugin_client_connect(pc, &st)) << st.message;
  std::string token = cp_plugin_client_runtime_token(pc);
  std::string runtime_id = cp_plugin_client_runtime_id(pc);
  cp_client *c = nullptr;
  ASSERT_EQ(0, cp_plugin_client_dispense(
                   pc, &cp_cplugintest__v1__echo_service__plugin, &c));
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  Cplugintest__V1__EchoResponse *resp = nullptr;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__call(c, &req, &resp,
                                                            nullptr, &st));
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  // A wrong token and a revoked one produce failure logs too.
  std::string wrong = "Bearer " + token;
  wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
  cp_client *raw = nullptr;
  ASSERT_EQ(0, cp_client_create(&raw, target.c_str(), nullptr));
  cp_metadata md[] = {{"x-plugin-runtime-id", runtime_id.c_str()},
                      {"authorization", wrong.c_str()}};
  cp_call_options co;
  cp_call_options_init(&co);
  co.metadata = md;
  co.metadata_count = 2;
  EXPECT_EQ(CP_ERPC, cp_cplugintest__v1__echo_service__echo__call(
                         raw, &req, &resp, &co, &st));
  cp_token_store_revoke(tokens, runtime_id.c_str());
  EXPECT_EQ(CP_ERPC, cp_cplugintest__v1__echo_service__echo__call(
                         c, &req, &resp, nullptr, &st));

  cp_client_destroy(raw);
  cp_plugin_client_destroy(pc);
  cp_server_shutdown(server, 1000);
  cp_server_destroy(server);
  cp_handshake_service_destroy(hs);
  cp_auth_destroy(auth);
  cp_token_store_destroy(tokens);
  echo_stats_destroy(stats);

  auto lines = Lines();
  ASSERT_GE(lines.size(), 3u);  // handshake, auth failures, client, server
  bool saw_handshake = false;
  for (const std::string &l : lines) {
    EXPECT_TRUE(IsFlatJsonObject(l)) << l;
    for (size_t i = 0; i + 12 <= token.size(); i++) {
      ASSERT_EQ(std::string::npos, l.find(token.substr(i, 12)))
          << "token fragment in log line: " << l;
    }
    saw_handshake |= l.find("handshake accepted") != std::string::npos &&
                     l.find(runtime_id) != std::string::npos;
  }
  EXPECT_TRUE(saw_handshake);
}

}  // namespace
