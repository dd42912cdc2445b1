// Plugins that stay joined to their host (cp_plugin_runtime's supervisor):
// recovery after the host restarts, token renewal without a gap, the
// renewal handshake's rules, and a stop that does not wait for a backoff.
// A real host (cp_host) and real plugins in one process, on loopback.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "wait.h"

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_plugin.h"
#include "echo_service.h"
#include "plugin/v1/handshake.cplugin.h"
}

namespace {

// What a runtime told its application, in order.
struct LinkEvents {
  std::mutex mu;
  std::vector<cp_host_link_state> seen;

  int Count(cp_host_link_state s) {
    std::lock_guard<std::mutex> lock(mu);
    int n = 0;
    for (cp_host_link_state e : seen) {
      n += e == s ? 1 : 0;
    }
    return n;
  }
  std::string Seen() {
    std::lock_guard<std::mutex> lock(mu);
    std::string out;
    for (cp_host_link_state e : seen) {
      out += e == CP_HOST_LINK_LOST       ? "LOST "
             : e == CP_HOST_LINK_RESTORED ? "RESTORED "
                                          : "RENEWED ";
    }
    return out;
  }
};

void OnHostState(cp_host_link_state state, void *user) {
  auto *e = static_cast<LinkEvents *>(user);
  std::lock_guard<std::mutex> lock(e->mu);
  e->seen.push_back(state);
}

// A plugin serving EchoService on its own server, joined to the host, with
// a fast heartbeat and its link events recorded.
struct EchoPlugin : cp_test::EchoPlugin {
  LinkEvents events;

  int Start(const std::string &host, const char *self_id, const char *type,
            const cp_service_dep *deps, size_t dep_count,
            int64_t backoff_ms = 100) {
    return cp_test::EchoPlugin::Start(
        host, self_id, type, "1.0.0", deps, dep_count,
        [&](cp_plugin_runtime_options &o) {
          o.on_host_state = OnHostState;
          o.user = &events;
          o.heartbeat_interval_ms = 200;
          o.backoff_initial_ms = backoff_ms;
          o.backoff_max_ms = backoff_ms < 5000 ? 5000 : backoff_ms;
        });
  }
};

const char *HealthName(cp_plugin_health h) {
  return h == CP_PLUGIN_HEALTH_HEALTHY    ? "HEALTHY"
         : h == CP_PLUGIN_HEALTH_DEGRADED ? "DEGRADED"
                                          : "other";
}

// One echo through a routed client; returns the status.
cp_status Echo(cp_client *c, const char *text) {
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>(text);
  Cplugintest__V1__EchoResponse *resp = nullptr;
  cp_status st;
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = 10000;
  if (cp_cplugintest__v1__echo_service__echo__call(c, &req, &resp, &o, &st) ==
      0) {
    protobuf_c_message_free_unpacked(&resp->base, nullptr);
  }
  return st;
}

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_host_options_init(&opts_);
    opts_.tokens.sweep_interval_ms = 0;
    opts_.metrics_address = nullptr;
    opts_.rate_limits = false;  // not what is tested here
  }
  void TearDown() override {
    b_.Stop();
    a_.Stop();
    cp_host_destroy(host_);
  }

  // Starts the host on `listen` (first: any port; later: the same one).
  void StartHost() {
    std::string listen =
        port_ == 0 ? "127.0.0.1:0" : "127.0.0.1:" + std::to_string(port_);
    opts_.listen = listen.c_str();
    ASSERT_EQ(0, cp_host_create(&host_, &opts_));
    ASSERT_EQ(0, cp_host_start(host_, &port_, nullptr));
    target_ = "127.0.0.1:" + std::to_string(port_);
  }

  // a_ provides "echo"; b_ requires it and routes to it.
  void StartPlugins(int64_t backoff_ms = 100) {
    ASSERT_EQ(0, a_.Start(target_, "echo-a", "echo", nullptr, 0, backoff_ms));
    static const cp_service_dep deps[] = {{"echo", "1.0.0", true, true}};
    ASSERT_EQ(0, b_.Start(target_, "caller-b", "other", deps, 1, backoff_ms));
    ASSERT_EQ(0, cp_plugin_runtime_route(b_.rt, "echo", &echo_));
    ASSERT_TRUE(cp_test::WaitFor(
        "caller-b healthy (echo available)",
        [&] {
          return cp_plugin_runtime_health(b_.rt) == CP_PLUGIN_HEALTH_HEALTHY;
        },
        [&] { return HealthName(cp_plugin_runtime_health(b_.rt)); }));
  }

  cp_host_options opts_;
  cp_host *host_ = nullptr;
  int port_ = 0;
  std::string target_;
  EchoPlugin a_, b_;
  cp_client *echo_ = nullptr;
};

// (a) The host goes away and comes back on the same address: both plugins
// say LOST, go DEGRADED, join the new host (new identities), register and
// watch again, say RESTORED and go HEALTHY; the routed client made before
// works again without being recreated.
TEST_F(RecoveryTest, PluginsRejoinAHostThatRestarted) {
  StartHost();
  StartPlugins();
  cp_status st = Echo(echo_, "before");
  ASSERT_EQ(CP_STATUS_OK, st.code) << st.message;
  std::string old_a = cp_plugin_runtime_id(a_.rt);
  std::string old_b = cp_plugin_runtime_id(b_.rt);

  cp_host_destroy(host_);
  host_ = nullptr;
  for (EchoPlugin *p : {&a_, &b_}) {
    ASSERT_TRUE(cp_test::WaitFor(
        "the plugin to notice the host is gone",
        [&] {
          return p->events.Count(CP_HOST_LINK_LOST) == 1 &&
                 cp_plugin_runtime_health(p->rt) == CP_PLUGIN_HEALTH_DEGRADED;
        },
        [&] {
          return p->events.Seen() + HealthName(cp_plugin_runtime_health(p->rt));
        }));
  }
  EXPECT_NE(CP_STATUS_OK, Echo(echo_, "while gone").code);

  StartHost();
  for (EchoPlugin *p : {&a_, &b_}) {
    ASSERT_TRUE(cp_test::WaitFor(
        "the plugin to rejoin the new host",
        [&] {
          return p->events.Count(CP_HOST_LINK_RESTORED) == 1 &&
                 cp_plugin_runtime_health(p->rt) == CP_PLUGIN_HEALTH_HEALTHY;
        },
        [&] {
          return p->events.Seen() + HealthName(cp_plugin_runtime_health(p->rt));
        }));
    EXPECT_EQ("LOST RESTORED ", p->events.Seen());
  }
  // The new host issued new identities.
  EXPECT_NE(old_a, cp_plugin_runtime_id(a_.rt));
  EXPECT_NE(old_b, cp_plugin_runtime_id(b_.rt));
  // b_ is HEALTHY, so its watch saw a_'s registration on the new host: the
  // routed client from before reaches a_ again.
  st = Echo(echo_, "after");
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_EQ(2, echo_stats_get(a_.stats, ECHO_CALLS));
  // The application's host channel carries the new identity too.
  cp_registry_endpoint ep;
  EXPECT_EQ(0,
            cp_registry_resolve(cp_host_registry(host_), "echo", nullptr, &ep));
  EXPECT_STREQ(cp_plugin_runtime_id(a_.rt), ep.provider_id);
}

// A revoked identity (its registrations dropped with it) is noticed by the
// heartbeat: the plugin cannot renew it, so it handshakes for a new one and
// registers again; the routed client reaches it under the new ID.
TEST_F(RecoveryTest, ARevokedIdentityIsReplaced) {
  StartHost();
  StartPlugins();
  std::string old_a = cp_plugin_runtime_id(a_.rt);
  ASSERT_EQ(0, cp_token_store_revoke(cp_host_tokens(host_), old_a.c_str()));
  ASSERT_TRUE(cp_test::WaitFor(
      "echo-a to lose and regain the host",
      [&] { return a_.events.Count(CP_HOST_LINK_RESTORED) == 1; },
      [&] { return a_.events.Seen(); }));
  EXPECT_EQ("LOST RESTORED ", a_.events.Seen());
  std::string new_a = cp_plugin_runtime_id(a_.rt);
  EXPECT_NE(old_a, new_a);
  ASSERT_TRUE(cp_test::WaitFor("caller-b to see echo again", [&] {
    return cp_plugin_runtime_dependency_available(b_.rt, "echo");
  }));
  cp_status st = Echo(echo_, "after revocation");
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  cp_registry_endpoint ep;
  ASSERT_EQ(0,
            cp_registry_resolve(cp_host_registry(host_), "echo", nullptr, &ep));
  EXPECT_EQ(new_a, ep.provider_id);
  EXPECT_EQ(0, b_.events.Count(CP_HOST_LINK_LOST));
}

// (b) Tokens that live 1.2 s, routed calls in a loop over several
// lifetimes: every call passes, the runtime IDs never change, and the
// plugins never lose the host. (Renewal is due at 600 ms: the other 600 ms
// leave room for a slow machine, valgrind included.)
TEST_F(RecoveryTest, RenewalKeepsCallsPassingAcrossTokenLifetimes) {
  opts_.tokens.ttl_ms = 1200;
  StartHost();
  StartPlugins();
  std::string id_a = cp_plugin_runtime_id(a_.rt);
  std::string id_b = cp_plugin_runtime_id(b_.rt);
  std::atomic<bool> done{false};
  std::atomic<int> calls{0};
  std::atomic<int> failed{0};
  std::string first_failure;
  std::thread caller([&] {
    while (!done.load()) {
      cp_status st = Echo(echo_, "loop");
      if (st.code != CP_STATUS_OK && failed.fetch_add(1) == 0) {
        first_failure =
            std::string(cp_status_code_name(st.code)) + ": " + st.message;
      }
      calls++;
    }
  });
  // Renewal at half the lifetime: 6 renewals each span 3 lifetimes.
  bool renewed = cp_test::WaitFor(
      "both plugins to renew 6 times",
      [&] {
        return a_.events.Count(CP_HOST_LINK_RENEWED) >= 6 &&
               b_.events.Count(CP_HOST_LINK_RENEWED) >= 6;
      },
      [&] { return a_.events.Seen() + "| " + b_.events.Seen(); });
  done = true;
  caller.join();
  ASSERT_TRUE(renewed);
  EXPECT_GT(calls.load(), 0);
  EXPECT_EQ(0, failed.load()) << first_failure;
  EXPECT_EQ(id_a, cp_plugin_runtime_id(a_.rt));
  EXPECT_EQ(id_b, cp_plugin_runtime_id(b_.rt));
  EXPECT_EQ(0, a_.events.Count(CP_HOST_LINK_LOST));
  EXPECT_EQ(0, b_.events.Count(CP_HOST_LINK_LOST));
  // One identity each: renewal replaced tokens, it minted no identities.
  EXPECT_EQ(2u, cp_token_store_count(cp_host_tokens(host_)));
}

// (d) A stop while the runtime waits out a (long) backoff returns at once:
// the wait is a condition variable, not a sleep.
TEST_F(RecoveryTest, StopDuringBackoffReturnsPromptly) {
  StartHost();
  // Ten minutes between tries: a stop that waited for it would time out.
  ASSERT_EQ(0, a_.Start(target_, "echo-a", "echo", nullptr, 0, 600000));
  cp_host_destroy(host_);
  host_ = nullptr;
  ASSERT_TRUE(cp_test::WaitFor(
      "the plugin to lose the host",
      [&] { return a_.events.Count(CP_HOST_LINK_LOST) == 1; },
      [&] { return a_.events.Seen(); }));
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    cp_plugin_runtime_destroy(a_.rt);
    stopped = true;
  });
  bool ok = cp_test::WaitFor("cp_plugin_runtime_destroy to return",
                             [&] { return stopped.load(); });
  stopper.join();
  a_.rt = nullptr;
  EXPECT_TRUE(ok);
  EXPECT_EQ("LOST ", a_.events.Seen());
}

// Recovery settings out of range are refused before anything starts.
TEST(RecoveryOptions, BadIntervalsAreInvalid) {
  struct Case {
    int64_t heartbeat, initial, max;
  } cases[] = {{-1, 100, 5000},
               {2000, 0, 5000},
               {2000, 100, 50},
               {2000, 100, 25LL * 60 * 60 * 1000},
               {25LL * 60 * 60 * 1000, 100, 5000}};
  for (const Case &c : cases) {
    cp_plugin_runtime_options o;
    cp_plugin_runtime_options_init(&o);
    o.host_url = "127.0.0.1:1";
    o.self_id = "p";
    o.heartbeat_interval_ms = c.heartbeat;
    o.backoff_initial_ms = c.initial;
    o.backoff_max_ms = c.max;
    cp_plugin_runtime *rt = nullptr;
    cp_status st;
    EXPECT_EQ(CP_EINVAL, cp_plugin_runtime_start(&rt, &o, &st));
    EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
    EXPECT_EQ(nullptr, rt);
  }
}

// Without a host address the error names the variable to set, and a missing
// self_id or base_url is named too: each refusal says what to fix.
TEST(RecoveryOptions, EachRefusalNamesWhatIsMissing) {
  const char *saved = getenv(CP_HOST_URL_ENV);
  std::string saved_value = saved != nullptr ? saved : "";
  const char *launched = getenv(CP_LAUNCH_HOST_URL_ENV);
  std::string launched_value = launched != nullptr ? launched : "";
  unsetenv(CP_HOST_URL_ENV);
  unsetenv(CP_LAUNCH_HOST_URL_ENV);
  cp_service_decl svc = {"storage", "1.0.0", "/storage.v1.Storage/"};
  struct Case {
    const char *host_url;
    const char *self_id;
    bool provides;
    const char *says;
  } cases[] = {{nullptr, "p", false, "HOST_URL"},
               {"", "p", false, "HOST_URL"},
               {"127.0.0.1:1", nullptr, false, "self_id"},
               {"127.0.0.1:1", "p", true, "base_url"}};
  for (const Case &c : cases) {
    cp_plugin_runtime_options o;
    cp_plugin_runtime_options_init(&o);
    o.host_url = c.host_url;
    o.self_id = c.self_id;
    if (c.provides) {
      o.provides = &svc;
      o.provides_count = 1;
    }
    cp_plugin_runtime *rt = nullptr;
    cp_status st;
    EXPECT_EQ(CP_EINVAL, cp_plugin_runtime_start(&rt, &o, &st));
    EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
    EXPECT_NE(nullptr, strstr(st.message, c.says)) << st.message;
    EXPECT_EQ(nullptr, rt);
  }
  if (saved != nullptr) {
    setenv(CP_HOST_URL_ENV, saved_value.c_str(), 1);
  }
  if (launched != nullptr) {
    setenv(CP_LAUNCH_HOST_URL_ENV, launched_value.c_str(), 1);
  }
}

// --- the renewal handshake, raw --------------------------------------------

struct Answer {
  cp_status status;
  std::string id;
  std::string token;
  std::string ttl;
};

class RenewalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_manual_clock_init(&clock_, 1000000000);
    cp_host_options o;
    cp_host_options_init(&o);
    o.tokens.sweep_interval_ms = 0;
    o.tokens.ttl_ms = 60000;
    o.tokens.clock = &clock_.clock;
    o.metrics_address = nullptr;
    o.rate_limits = false;
    ASSERT_EQ(0, cp_host_create(&host_, &o));
    int port = 0;
    ASSERT_EQ(0, cp_host_start(host_, &port, nullptr));
    ASSERT_EQ(0, cp_client_create(&client_,
                                  ("127.0.0.1:" + std::to_string(port)).c_str(),
                                  nullptr));
  }
  void TearDown() override {
    cp_client_destroy(client_);
    cp_host_destroy(host_);
  }

  // A Handshake as `self_id`; `renew` (may be null) names the runtime ID to
  // renew; `id`/`token` (may be null) are the credentials the call carries.
  Answer Handshake(const char *self_id, const char *renew, const char *id,
                   const std::string &token) {
    Connectplugin__V1__HandshakeRequest req =
        CONNECTPLUGIN__V1__HANDSHAKE_REQUEST__INIT;
    req.core_protocol_version = CP_CORE_PROTOCOL_VERSION;
    req.app_protocol_version = 1;
    req.magic_cookie_key = const_cast<char *>(CP_MAGIC_COOKIE_KEY);
    req.magic_cookie_value = const_cast<char *>(CP_MAGIC_COOKIE_VALUE);
    req.self_id = const_cast<char *>(self_id);
    Connectplugin__V1__HandshakeRequest__ClientMetadataEntry e =
        CONNECTPLUGIN__V1__HANDSHAKE_REQUEST__CLIENT_METADATA_ENTRY__INIT;
    e.key = const_cast<char *>(CP_HANDSHAKE_RENEW_KEY);
    e.value = const_cast<char *>(renew);
    Connectplugin__V1__HandshakeRequest__ClientMetadataEntry *md[] = {&e};
    if (renew != nullptr) {
      req.client_metadata = md;
      req.n_client_metadata = 1;
    }
    std::string bearer = "Bearer " + token;
    cp_metadata creds[] = {{CP_MD_RUNTIME_ID, id},
                           {CP_MD_AUTHORIZATION, bearer.c_str()}};
    cp_call_options o;
    cp_call_options_init(&o);
    if (id != nullptr) {
      o.metadata = creds;
      o.metadata_count = 2;
    }
    Answer a;
    Connectplugin__V1__HandshakeResponse *resp = nullptr;
    cp_connectplugin__v1__handshake_service__handshake__call(
        client_, &req, &resp, &o, &a.status);
    if (resp != nullptr) {
      a.id = resp->runtime_id;
      a.token = resp->runtime_token;
      for (size_t i = 0; i < resp->n_server_metadata; i++) {
        if (std::string(resp->server_metadata[i]->key) ==
            CP_HANDSHAKE_TOKEN_TTL_KEY) {
          a.ttl = resp->server_metadata[i]->value;
        }
      }
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return a;
  }

  bool Valid(const std::string &id, const std::string &token) {
    return cp_token_store_validate(cp_host_tokens(host_), id.data(), id.size(),
                                   token.data(), token.size());
  }

  cp_manual_clock clock_;
  cp_host *host_ = nullptr;
  cp_client *client_ = nullptr;
};

// (c) A plain handshake still issues a new identity, and says how long its
// token lives; a renewal keeps the runtime ID, issues a new token, and the
// old one keeps validating for the overlap window.
TEST_F(RenewalTest, RenewalKeepsTheRuntimeIdAndOverlapsTokens) {
  Answer first = Handshake("kv", nullptr, nullptr, "");
  ASSERT_EQ(CP_STATUS_OK, first.status.code) << first.status.message;
  EXPECT_EQ("60000", first.ttl);
  cp_manual_clock_advance(&clock_, 30000LL * 1000000);  // half its life
  Answer renewed =
      Handshake("kv", first.id.c_str(), first.id.c_str(), first.token);
  ASSERT_EQ(CP_STATUS_OK, renewed.status.code) << renewed.status.message;
  EXPECT_EQ(first.id, renewed.id);
  EXPECT_NE(first.token, renewed.token);
  EXPECT_EQ("60000", renewed.ttl);
  EXPECT_TRUE(Valid(renewed.id, renewed.token));
  EXPECT_TRUE(Valid(first.id, first.token));  // within the overlap
  EXPECT_EQ(1u, cp_token_store_count(cp_host_tokens(host_)));
  // The new token's life starts at the renewal: past the first token's end
  // (the overlap never outlives it), only the new one validates.
  cp_manual_clock_advance(&clock_, 30000LL * 1000000);
  EXPECT_FALSE(Valid(first.id, first.token));
  EXPECT_TRUE(Valid(renewed.id, renewed.token));
}

// (c) A renewal that does not prove the identity it names is refused and
// mints nothing: a wrong token, another runtime's valid credentials, an
// expired identity. A plain handshake with stale credentials still works.
TEST_F(RenewalTest, RenewalWithoutProofIsRefused) {
  Answer a = Handshake("kv", nullptr, nullptr, "");
  Answer b = Handshake("kv", nullptr, nullptr, "");
  ASSERT_EQ(CP_STATUS_OK, a.status.code);
  ASSERT_EQ(CP_STATUS_OK, b.status.code);
  const char *refused =
      "runtime identity renewal refused: handshake without renew_runtime_id "
      "for a new identity";

  // a's ID with b's token.
  Answer wrong = Handshake("kv", a.id.c_str(), a.id.c_str(), b.token);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, wrong.status.code);
  EXPECT_STREQ(refused, wrong.status.message);
  // b's valid credentials, naming a's ID.
  Answer other = Handshake("kv", a.id.c_str(), b.id.c_str(), b.token);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, other.status.code);
  EXPECT_STREQ(refused, other.status.message);
  EXPECT_TRUE(other.token.empty());
  // No credentials at all.
  Answer none = Handshake("kv", a.id.c_str(), nullptr, "");
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, none.status.code);
  // A self_id that names another identity.
  Answer renamed = Handshake("cache", a.id.c_str(), a.id.c_str(), a.token);
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, renamed.status.code);
  // Nothing was minted or rotated: both identities keep their tokens.
  EXPECT_EQ(2u, cp_token_store_count(cp_host_tokens(host_)));
  EXPECT_TRUE(Valid(a.id, a.token));
  EXPECT_TRUE(Valid(b.id, b.token));

  // Expired: refused too; a plain handshake (stale credentials attached)
  // gets a new identity.
  cp_manual_clock_advance(&clock_, 60001LL * 1000000);
  Answer expired = Handshake("kv", a.id.c_str(), a.id.c_str(), a.token);
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, expired.status.code);
  EXPECT_TRUE(expired.token.empty());
  Answer fresh = Handshake("kv", nullptr, a.id.c_str(), a.token);
  ASSERT_EQ(CP_STATUS_OK, fresh.status.code) << fresh.status.message;
  EXPECT_NE(a.id, fresh.id);
}

}  // namespace
