// The handshake service on a real server: every error path with its status
// code, identity issuance, plugin descriptions, metadata, limits.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "plugin/v1/handshake.cplugin.h"
}

namespace {

class HandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_token_store_options to;
    cp_token_store_options_init(&to);
    to.sweep_interval_ms = 0;
    to.max_tokens = 3;
    ASSERT_EQ(0, cp_token_store_create(&tokens_, &to));
    cp_handshake_service_options_init(&opts_);
    opts_.tokens = tokens_;
  }

  void TearDown() override {
    cp_client_destroy(client_);
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
    }
    cp_handshake_service_destroy(svc_);
    cp_token_store_destroy(tokens_);
  }

  void Start() {
    ASSERT_EQ(0, cp_handshake_service_create(&svc_, &opts_));
    ASSERT_EQ(0, cp_server_create(&server_, nullptr));
    ASSERT_EQ(0, cp_handshake_service_register(svc_, server_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    std::string target = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));
  }

  static Connectplugin__V1__HandshakeRequest Request() {
    Connectplugin__V1__HandshakeRequest r =
        CONNECTPLUGIN__V1__HANDSHAKE_REQUEST__INIT;
    r.core_protocol_version = 1;
    r.app_protocol_version = 1;
    r.magic_cookie_key = const_cast<char *>(CP_MAGIC_COOKIE_KEY);
    r.magic_cookie_value = const_cast<char *>(CP_MAGIC_COOKIE_VALUE);
    return r;
  }

  // Calls Handshake; returns the status code, keeps the response.
  cp_status_code Call(const Connectplugin__V1__HandshakeRequest &req) {
    if (resp_ != nullptr) {
      protobuf_c_message_free_unpacked(&resp_->base, nullptr);
      resp_ = nullptr;
    }
    cp_connectplugin__v1__handshake_service__handshake__call(
        client_, &req, &resp_, nullptr, &status_);
    return status_.code;
  }

  void FreeResponse() {
    if (resp_ != nullptr) {
      protobuf_c_message_free_unpacked(&resp_->base, nullptr);
      resp_ = nullptr;
    }
  }

  cp_token_store *tokens_ = nullptr;
  cp_handshake_service_options opts_;
  cp_handshake_service *svc_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  Connectplugin__V1__HandshakeResponse *resp_ = nullptr;
  cp_status status_;
};

TEST_F(HandshakeTest, MinimalHandshakeWithoutIdentity) {
  Start();
  ASSERT_EQ(CP_STATUS_OK, Call(Request())) << status_.message;
  EXPECT_EQ(1, resp_->core_protocol_version);
  EXPECT_EQ(1, resp_->app_protocol_version);
  EXPECT_STREQ("", resp_->runtime_id);
  EXPECT_STREQ("", resp_->runtime_token);
  ASSERT_EQ(1u, resp_->n_server_metadata);
  EXPECT_STREQ("server_version", resp_->server_metadata[0]->key);
  EXPECT_STREQ("0.1.0", resp_->server_metadata[0]->value);
  FreeResponse();
}

TEST_F(HandshakeTest, WrongCookieIsInvalidArgument) {
  Start();
  auto r = Request();
  r.magic_cookie_value = const_cast<char *>("d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4f");
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));
  EXPECT_STREQ("invalid magic cookie - this may not be a connect-plugin server",
               status_.message);
  r = Request();
  r.magic_cookie_key = const_cast<char *>("CONNECT_PLUGIX");
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));
  r = Request();
  r.magic_cookie_value = const_cast<char *>("");
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));
  r = Request();
  r.magic_cookie_value =
      const_cast<char *>("d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e0");  // longer
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));
}

TEST_F(HandshakeTest, CustomCookieAndEmptyKeyMeansDefaults) {
  opts_.magic_cookie_key = "MY_APP";
  opts_.magic_cookie_value = "s3cret";
  Start();
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(Request()));
  auto r = Request();
  r.magic_cookie_key = const_cast<char *>("MY_APP");
  r.magic_cookie_value = const_cast<char *>("s3cret");
  EXPECT_EQ(CP_STATUS_OK, Call(r)) << status_.message;
  FreeResponse();
}

TEST_F(HandshakeTest, CoreVersionMustBeOne) {
  Start();
  auto r = Request();
  r.core_protocol_version = 2;
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));
  EXPECT_STREQ("unsupported core protocol version: 2 (server supports: 1)",
               status_.message);
  r.core_protocol_version = 0;
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));
}

TEST_F(HandshakeTest, AppVersionMismatchNamesBothVersions) {
  Start();
  auto r = Request();
  r.app_protocol_version = 3;
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, Call(r));
  EXPECT_STREQ("version mismatch: client=3, server=1", status_.message);
  r.app_protocol_version = 0;  // 0 means 1
  EXPECT_EQ(CP_STATUS_OK, Call(r));
  EXPECT_EQ(1, resp_->app_protocol_version);
  FreeResponse();
}

TEST_F(HandshakeTest, SeveralAcceptedAppVersions) {
  int32_t versions[] = {3, 2};
  opts_.app_versions = versions;
  opts_.app_version_count = 2;
  Start();
  auto r = Request();
  r.app_protocol_version = 2;
  ASSERT_EQ(CP_STATUS_OK, Call(r));
  EXPECT_EQ(2, resp_->app_protocol_version);
  r.app_protocol_version = 1;
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, Call(r));
  EXPECT_STREQ("version mismatch: client=1, server=3,2", status_.message);
}

TEST_F(HandshakeTest, SelfIdGetsAWorkingIdentity) {
  Start();
  auto r = Request();
  r.self_id = const_cast<char *>("Logger");
  r.self_version = const_cast<char *>("1.2.3");
  ASSERT_EQ(CP_STATUS_OK, Call(r)) << status_.message;
  std::string id = resp_->runtime_id;
  std::string token = resp_->runtime_token;
  EXPECT_EQ(0u, id.find("logger-"));
  EXPECT_EQ(std::string("logger-").size() + 16, id.size());
  EXPECT_EQ(44u, token.size());
  EXPECT_TRUE(cp_token_store_validate(tokens_, id.data(), id.size(),
                                      token.data(), token.size()));
  // Every handshake issues a new identity; none overwrites another.
  ASSERT_EQ(CP_STATUS_OK, Call(r));
  EXPECT_NE(id, std::string(resp_->runtime_id));
  EXPECT_TRUE(cp_token_store_validate(tokens_, id.data(), id.size(),
                                      token.data(), token.size()));
  FreeResponse();
}

TEST_F(HandshakeTest, InvalidSelfIdIsInvalidArgument) {
  Start();
  auto r = Request();
  for (const char *bad : {"1abc", "a b", "a/b", "x;y"}) {
    r.self_id = const_cast<char *>(bad);
    EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r)) << bad;
  }
  std::string long_id(129, 'a');
  r.self_id = const_cast<char *>(long_id.c_str());
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));
}

TEST_F(HandshakeTest, TokenCapIsResourceExhausted) {
  Start();
  auto r = Request();
  r.self_id = const_cast<char *>("p");
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(CP_STATUS_OK, Call(r));
  }
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Call(r));
  cp_handshake_stats stats;
  cp_handshake_service_get_stats(svc_, &stats);
  EXPECT_EQ(3u, stats.ok);
  EXPECT_EQ(1u, stats.rejected);
}

// One address may hold max_identities_per_address live identities; a
// revoked one gives its place back, and another address (here a Unix socket
// client, which the cap keys by its user, "uid:0") is not affected.
TEST_F(HandshakeTest, LiveIdentitiesAreCappedPerAddress) {
  cp_token_store_destroy(tokens_);
  cp_token_store_options to;
  cp_token_store_options_init(&to);
  to.sweep_interval_ms = 0;
  ASSERT_EQ(0, cp_token_store_create(&tokens_, &to));
  opts_.tokens = tokens_;
  opts_.max_identities_per_address = 3;
  ASSERT_EQ(0, cp_handshake_service_create(&svc_, &opts_));
  ASSERT_EQ(0, cp_server_create(&server_, nullptr));
  ASSERT_EQ(0, cp_handshake_service_register(svc_, server_));
  int port = 0;
  ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
  char sock[] = "/tmp/cplugin-hs-XXXXXX";
  ASSERT_NE(nullptr, mkdtemp(sock));
  std::string unix_path = std::string(sock) + "/s";
  std::string unix_target = "unix:" + unix_path;
  ASSERT_EQ(0, cp_server_listen(server_, unix_target.c_str(), nullptr));
  ASSERT_EQ(0, cp_server_start(server_));
  std::string target = "127.0.0.1:" + std::to_string(port);
  ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));

  auto r = Request();
  r.self_id = const_cast<char *>("p");
  std::string first;
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(CP_STATUS_OK, Call(r)) << status_.message;
    if (i == 0) {
      first = resp_->runtime_id;
    }
  }
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Call(r));
  EXPECT_STREQ("too many live runtime identities from this address",
               status_.message);
  // Another address still gets identities.
  cp_client *other = nullptr;
  ASSERT_EQ(0, cp_client_create(&other, unix_target.c_str(), nullptr));
  Connectplugin__V1__HandshakeResponse *resp = nullptr;
  cp_status st;
  cp_connectplugin__v1__handshake_service__handshake__call(other, &r, &resp,
                                                           nullptr, &st);
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  if (resp != nullptr) {
    protobuf_c_message_free_unpacked(&resp->base, nullptr);
  }
  cp_client_destroy(other);
  // A revoked identity gives its place back.
  ASSERT_EQ(0, cp_token_store_revoke(tokens_, first.c_str()));
  EXPECT_EQ(CP_STATUS_OK, Call(r)) << status_.message;
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Call(r));
  FreeResponse();
  unlink(unix_path.c_str());
  rmdir(sock);
}

int FailingRandom(void *, size_t, void *) {
  return -1;
}

TEST_F(HandshakeTest, RandomSourceFailureIsInternal) {
  cp_token_store_destroy(tokens_);
  cp_token_store_options to;
  cp_token_store_options_init(&to);
  to.sweep_interval_ms = 0;
  to.random = FailingRandom;
  ASSERT_EQ(0, cp_token_store_create(&tokens_, &to));
  opts_.tokens = tokens_;
  Start();
  auto r = Request();
  r.self_id = const_cast<char *>("p");
  EXPECT_EQ(CP_STATUS_INTERNAL, Call(r));
  EXPECT_STREQ("failed to generate runtime identity", status_.message);
}

TEST_F(HandshakeTest, NoTokenStoreMeansNoIdentities) {
  opts_.tokens = nullptr;
  Start();
  auto r = Request();
  r.self_id = const_cast<char *>("p");
  EXPECT_EQ(CP_STATUS_FAILED_PRECONDITION, Call(r));
}

TEST_F(HandshakeTest, RequestedPluginsAreDescribed) {
  cp_service_decl provides[] = {{"logger", "1.0.0", "/logger.v1.Logger/"}};
  cp_service_dep requires_[] = {{"storage", "2.0.0", true, true}};
  cp_plugin_info plugins[2];
  plugins[0] = {"kv", "1.0.0", "/kv.v1.KVService/", nullptr, 0, nullptr, 0};
  plugins[1] = {"logger", "2.1.0", "/capability.logger.v1.Logger/",
                provides, 1,       requires_,
                1};
  opts_.plugins = plugins;
  opts_.plugin_count = 2;
  cp_metadata md[] = {{"region", "eu"}, {"server_version", "9.9.9"}};
  opts_.server_metadata = md;
  opts_.server_metadata_count = 2;
  cp_capability_info caps[] = {{"logger", "1.0.0", "/capabilities/logger"}};
  opts_.capabilities = caps;
  opts_.capability_count = 1;
  Start();
  auto r = Request();
  char *want[] = {const_cast<char *>("logger"), const_cast<char *>("nope"),
                  const_cast<char *>("kv")};
  r.requested_plugins = want;
  r.n_requested_plugins = 3;
  ASSERT_EQ(CP_STATUS_OK, Call(r)) << status_.message;
  ASSERT_EQ(2u, resp_->n_plugins);  // unknown names are skipped
  EXPECT_STREQ("logger", resp_->plugins[0]->name);
  EXPECT_STREQ("2.1.0", resp_->plugins[0]->version);
  EXPECT_STREQ("/capability.logger.v1.Logger/",
               resp_->plugins[0]->service_path);
  ASSERT_EQ(1u, resp_->plugins[0]->n_provides);
  EXPECT_STREQ("logger", resp_->plugins[0]->provides[0]->type);
  ASSERT_EQ(1u, resp_->plugins[0]->n_requires);
  EXPECT_STREQ("storage", resp_->plugins[0]->requires[0] -> type);
  EXPECT_TRUE(resp_->plugins[0]->requires[0] -> required_for_startup);
  EXPECT_STREQ("kv", resp_->plugins[1]->name);
  ASSERT_EQ(2u, resp_->n_server_metadata);
  EXPECT_STREQ("9.9.9", resp_->server_metadata[0]->value);  // user's wins
  EXPECT_STREQ("region", resp_->server_metadata[1]->key);
  ASSERT_EQ(1u, resp_->n_host_capabilities);
  EXPECT_STREQ("/capabilities/logger", resp_->host_capabilities[0]->endpoint);
  FreeResponse();
}

TEST_F(HandshakeTest, EveryRequestFieldIsBounded) {
  Start();
  std::string big(300, 'k');
  auto r = Request();
  r.magic_cookie_key = const_cast<char *>(big.c_str());
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));
  EXPECT_NE(nullptr, strstr(status_.message, "magic_cookie"));

  r = Request();
  std::vector<char *> many(65, const_cast<char *>("kv"));
  r.requested_plugins = many.data();
  r.n_requested_plugins = many.size();
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));
  EXPECT_NE(nullptr, strstr(status_.message, "requested_plugins"));

  r = Request();
  char *long_name[] = {const_cast<char *>(big.c_str())};
  r.requested_plugins = long_name;
  r.n_requested_plugins = 1;
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));

  r = Request();
  std::vector<Connectplugin__V1__HandshakeRequest__ClientMetadataEntry> entries(
      101);
  std::vector<Connectplugin__V1__HandshakeRequest__ClientMetadataEntry *> ptrs;
  std::vector<std::string> keys;
  for (size_t i = 0; i < entries.size(); i++) {
    keys.push_back("k" + std::to_string(i));
  }
  for (size_t i = 0; i < entries.size(); i++) {
    connectplugin__v1__handshake_request__client_metadata_entry__init(
        &entries[i]);
    entries[i].key = const_cast<char *>(keys[i].c_str());
    entries[i].value = const_cast<char *>("v");
    ptrs.push_back(&entries[i]);
  }
  r.client_metadata = ptrs.data();
  r.n_client_metadata = 101;
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));
  EXPECT_NE(nullptr, strstr(status_.message, "client_metadata"));
  r.n_client_metadata = 100;
  EXPECT_EQ(CP_STATUS_OK, Call(r)) << status_.message;
  FreeResponse();

  std::string big_value(4097, 'v');
  entries[0].value = const_cast<char *>(big_value.c_str());
  r.n_client_metadata = 1;
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));
  entries[0].value = const_cast<char *>("v");
  entries[0].key = const_cast<char *>("bad key");
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));

  r = Request();
  r.self_version = const_cast<char *>(big.c_str());
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, Call(r));
  EXPECT_NE(nullptr, strstr(status_.message, "self_version"));
}

TEST(HandshakeOptions, BadOptionsAreRejected) {
  cp_handshake_service *svc = nullptr;
  cp_handshake_service_options o;
  cp_handshake_service_options_init(&o);
  int32_t bad_versions[] = {0};
  o.app_versions = bad_versions;
  o.app_version_count = 1;
  EXPECT_EQ(CP_EINVAL, cp_handshake_service_create(&svc, &o));
  cp_handshake_service_options_init(&o);
  cp_plugin_info nameless = {};
  o.plugins = &nameless;
  o.plugin_count = 1;
  EXPECT_EQ(CP_EINVAL, cp_handshake_service_create(&svc, &o));
  cp_handshake_service_options_init(&o);
  o.plugin_count = 1;  // count without array
  EXPECT_EQ(CP_EINVAL, cp_handshake_service_create(&svc, &o));
  cp_handshake_service_options_init(&o);
  o.app_version_count = 2;  // versions counted, none given (was a crash)
  EXPECT_EQ(CP_EINVAL, cp_handshake_service_create(&svc, &o));
  EXPECT_EQ(CP_EINVAL, cp_handshake_service_create(&svc, nullptr));
  cp_handshake_service_destroy(nullptr);
}

}  // namespace
