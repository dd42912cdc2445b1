// TLS and mutual TLS through the transport: an EchoService server on
// 127.0.0.1:0 and clients with various certificates, plus the one-time
// plaintext warning. Certificates are made at run time by the openssl CLI in
// a temporary directory (no key is checked in):
//   ca1, ca2          two independent CAs
//   server            CN=localhost, SAN DNS:localhost + IP:127.0.0.1 (by ca1)
//   plugin-a          CN=plugin-a, SAN DNS:plugin-a.local +
//                     URI:spiffe://cplugin/plugin-a (by ca1)
//   plugin-b          CN=plugin-b (by ca2, which the server does not trust)
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "plugin/v1/registry.cplugin.h"
#include "transport/plaintext_warning.h"
}

namespace {

// --- certificates ----------------------------------------------------------

class CertDir {
 public:
  // Creates the directory and every certificate; ok() tells whether it
  // worked and log() what openssl said.
  CertDir() {
    const char *tmp = std::getenv("TEST_TMPDIR");
    std::string templ =
        std::string(tmp != nullptr ? tmp : "/tmp") + "/cplugin-tls-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
      log_ = "mkdtemp failed";
      return;
    }
    dir_ = buf.data();
    ok_ = MakeCa("ca1") && MakeCa("ca2") &&
          MakeLeaf("server", "localhost", "ca1",
                   "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                   "extendedKeyUsage=serverAuth\n") &&
          MakeLeaf("plugin-a", "plugin-a", "ca1",
                   "subjectAltName=DNS:plugin-a.local,"
                   "URI:spiffe://cplugin/plugin-a\n"
                   "extendedKeyUsage=clientAuth\n") &&
          MakeLeaf("plugin-b", "plugin-b", "ca2",
                   "subjectAltName=DNS:plugin-b.local\n"
                   "extendedKeyUsage=clientAuth\n");
  }

  ~CertDir() {
    if (!dir_.empty()) {
      std::system(("rm -rf '" + dir_ + "'").c_str());
    }
  }

  bool ok() const { return ok_; }
  std::string log() const { return Read("openssl.log") + log_; }
  std::string Path(const std::string &name) const { return dir_ + "/" + name; }

  std::string Read(const std::string &name) const {
    std::ifstream in(Path(name));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  bool Openssl(const std::string &args) {
    std::string cmd =
        "cd '" + dir_ + "' && openssl " + args + " >>openssl.log 2>&1";
    return std::system(cmd.c_str()) == 0;
  }

  // P-256 keys: instant to generate, supported by gRPC's TLS.
  static constexpr const char *kNewKey =
      "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

  bool MakeCa(const std::string &name) {
    return Openssl(std::string("req -x509 ") + kNewKey + " -keyout " + name +
                   ".key -out " + name +
                   ".pem -days 2 -subj /CN=cplugin-test-" + name);
  }

  bool MakeLeaf(const std::string &name, const std::string &cn,
                const std::string &ca, const std::string &extensions) {
    std::ofstream(Path(name + ".ext")) << "basicConstraints=CA:FALSE\n"
                                       << extensions;
    static int serial = 1;
    return Openssl(std::string("req -new ") + kNewKey + " -keyout " + name +
                   ".key -out " + name + ".csr -subj /CN=" + cn) &&
           Openssl("x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " +
                   ca + ".key -set_serial " + std::to_string(serial++) +
                   " -days 2 -out " + name + ".pem -extfile " + name + ".ext");
  }

  std::string dir_;
  std::string log_;
  bool ok_ = false;
};

// --- what the server saw ---------------------------------------------------

struct PeerRecord {
  std::mutex mu;
  int calls = 0;
  bool has_cert = false;
  std::string common_name;
  std::vector<std::string> sans;
};

cp_status_code RecordPeer(cp_call *call, void *user) {
  auto *rec = static_cast<PeerRecord *>(user);
  cp_peer_cert cert;
  bool has = cp_call_peer_cert(call, &cert);
  std::lock_guard<std::mutex> lock(rec->mu);
  rec->calls++;
  rec->has_cert = has;
  rec->common_name = cert.common_name != nullptr ? cert.common_name : "";
  rec->sans.clear();
  for (size_t i = 0; i < cert.san_count; i++) {
    rec->sans.emplace_back(cert.sans[i]);
  }
  return CP_STATUS_OK;
}

// --- log capture for the plaintext warning ----------------------------------

struct LogCapture {
  LogCapture() {
    saved_level_ = cp_log_get_level();
    cp_log_set_level(CP_LOG_INFO);
    cp_log_set_sink(&LogCapture::Sink, this);
  }
  ~LogCapture() {
    cp_log_set_sink(nullptr, nullptr);
    cp_log_set_level(saved_level_);
  }
  static void Sink(const char *line, size_t len, void *user) {
    auto *self = static_cast<LogCapture *>(user);
    std::lock_guard<std::mutex> lock(self->mu);
    self->lines.emplace_back(line, len);
  }
  std::vector<std::string> Warnings() {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::string> out;
    for (const auto &l : lines) {
      if (l.find("plaintext gRPC") != std::string::npos) {
        out.push_back(l);
      }
    }
    return out;
  }
  std::mutex mu;
  std::vector<std::string> lines;
  cp_log_level saved_level_;
};

// Sets or clears CONNECTPLUGIN_DISABLE_TLS_WARNING for one test (the suite
// runner may export it) and restores it afterwards.
class ScopedEnv {
 public:
  explicit ScopedEnv(const char *value) {
    const char *old = std::getenv(CP_TLS_WARNING_ENV);
    had_ = old != nullptr;
    if (had_) {
      old_ = old;
    }
    Set(value);
  }
  ~ScopedEnv() { Set(had_ ? old_.c_str() : nullptr); }
  static void Set(const char *value) {
    if (value != nullptr) {
      setenv(CP_TLS_WARNING_ENV, value, 1);
    } else {
      unsetenv(CP_TLS_WARNING_ENV);
    }
  }

 private:
  bool had_ = false;
  std::string old_;
};

// --- the fixture -------------------------------------------------------------

struct EchoResult {
  int rc = 0;
  cp_status status{};
  std::string text;
  std::string identity;
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new CertDir(); }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(certs_->ok()) << certs_->log();
    stats_ = echo_stats_create();
  }

  void TearDown() override {
    cp_client_destroy(client_);
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
    }
    echo_stats_destroy(stats_);
  }

  static std::string P(const std::string &name) { return certs_->Path(name); }

  // Server options with the server certificate from files; mutual TLS with
  // ca1 as client CA when `mtls`.
  static cp_tls_server_options ServerTls(bool mtls) {
    cp_tls_server_options o;
    cp_tls_server_options_init(&o);
    paths_.assign({P("server.pem"), P("server.key"), P("ca1.pem")});
    o.cert_chain.path = paths_[0].c_str();
    o.private_key.path = paths_[1].c_str();
    if (mtls) {
      o.client_ca.path = paths_[2].c_str();
      o.require_client_cert = true;
    }
    return o;
  }

  // Client options trusting `ca`, with the client certificate `cert` (files
  // <cert>.pem/.key) unless empty.
  static cp_tls_client_options ClientTls(const std::string &ca,
                                         const std::string &cert = "") {
    cp_tls_client_options o;
    cp_tls_client_options_init(&o);
    client_paths_.assign({P(ca + ".pem"), P(cert + ".pem"), P(cert + ".key")});
    o.root_ca.path = client_paths_[0].c_str();
    if (!cert.empty()) {
      o.cert_chain.path = client_paths_[1].c_str();
      o.private_key.path = client_paths_[2].c_str();
    }
    return o;
  }

  // Starts the echo server with `tls` (nullptr: plaintext) and the
  // interceptor that records cp_call_peer_cert; `auth`, when given, is
  // installed first.
  void StartServer(const cp_tls_server_options *tls, cp_auth *auth = nullptr) {
    ASSERT_EQ(0, cp_server_create(&server_, nullptr));
    if (auth != nullptr) {
      ASSERT_EQ(0, cp_auth_register(auth, server_));
    }
    ASSERT_EQ(0, echo_service_register(server_, stats_));
    ASSERT_EQ(0, cp_server_add_interceptor(server_, CP_PHASE_APPLICATION,
                                           RecordPeer, &record_));
    if (tls != nullptr) {
      ASSERT_EQ(0, cp_server_listen_tls(server_, "127.0.0.1:0", tls, &port_));
    } else {
      ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port_));
    }
    ASSERT_GT(port_, 0);
    ASSERT_EQ(0, cp_server_start(server_));
  }

  std::string Target(const char *host = "127.0.0.1") const {
    return std::string(host) + ":" + std::to_string(port_);
  }

  // Creates client_ for `target` with `tls` (nullptr: plaintext).
  int Connect(const cp_tls_client_options *tls, const std::string &target) {
    cp_client_destroy(client_);
    client_ = nullptr;
    cp_client_options o;
    cp_client_options_init(&o);
    o.tls = tls;
    o.default_timeout_ms = 10000;
    return cp_client_create(&client_, target.c_str(), &o);
  }

  EchoResult Echo(const char *text = "hello") {
    EchoResult r;
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>(text);
    Cplugintest__V1__EchoResponse *resp = nullptr;
    r.rc = cp_cplugintest__v1__echo_service__echo__call(client_, &req, &resp,
                                                        nullptr, &r.status);
    if (resp != nullptr) {
      r.text = resp->text;
      r.identity = resp->identity;
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return r;
  }

  int RecordedCalls() {
    std::lock_guard<std::mutex> lock(record_.mu);
    return record_.calls;
  }

  static CertDir *certs_;
  static std::vector<std::string> paths_;
  static std::vector<std::string> client_paths_;
  echo_stats *stats_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  int port_ = 0;
  PeerRecord record_;
};

CertDir *TlsTest::certs_ = nullptr;
std::vector<std::string> TlsTest::paths_;
std::vector<std::string> TlsTest::client_paths_;

// --- TLS
// -----------------------------------------------------------------------

TEST_F(TlsTest, RoundTripWithPemFiles) {
  cp_tls_server_options s = ServerTls(false);
  StartServer(&s);
  cp_tls_client_options c = ClientTls("ca1");
  ASSERT_EQ(0, Connect(&c, Target()));
  EchoResult r = Echo("over tls");
  ASSERT_EQ(0, r.rc) << r.status.message;
  EXPECT_EQ("over tls", r.text);
  // TLS without a client certificate: no peer certificate, no identity.
  std::lock_guard<std::mutex> lock(record_.mu);
  EXPECT_EQ(1, record_.calls);
  EXPECT_FALSE(record_.has_cert);
  EXPECT_EQ("", record_.common_name);
}

TEST_F(TlsTest, RoundTripWithPemInMemoryAndServerNameOverride) {
  std::string cert = certs_->Read("server.pem");
  std::string key = certs_->Read("server.key");
  std::string ca = certs_->Read("ca1.pem");
  cp_tls_server_options s;
  cp_tls_server_options_init(&s);
  s.cert_chain.pem = cert.c_str();
  s.private_key.pem = key.c_str();
  StartServer(&s);
  cp_tls_client_options c;
  cp_tls_client_options_init(&c);
  c.root_ca.pem = ca.c_str();
  {
    // The options struct and its strings are not kept by the client.
    std::string name = "localhost";
    c.server_name = name.c_str();
    ASSERT_EQ(0, Connect(&c, Target("127.0.0.1")));
  }
  c.server_name = nullptr;
  EchoResult r = Echo("from memory");
  ASSERT_EQ(0, r.rc) << r.status.message;
  EXPECT_EQ("from memory", r.text);
}

TEST_F(TlsTest, ServerNameOverrideIsChecked) {
  cp_tls_server_options s = ServerTls(false);
  StartServer(&s);
  cp_tls_client_options c = ClientTls("ca1");
  c.server_name = "not-the-server.example";
  ASSERT_EQ(0, Connect(&c, Target()));
  EchoResult r = Echo();
  EXPECT_EQ(CP_ERPC, r.rc);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, r.status.code) << r.status.message;
  EXPECT_EQ(0, RecordedCalls());
}

TEST_F(TlsTest, ClientTrustingAnotherCaFails) {
  cp_tls_server_options s = ServerTls(false);
  StartServer(&s);
  cp_tls_client_options c = ClientTls("ca2");
  ASSERT_EQ(0, Connect(&c, Target()));
  EchoResult r = Echo();
  EXPECT_EQ(CP_ERPC, r.rc);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, r.status.code) << r.status.message;
  EXPECT_EQ(0, RecordedCalls());
}

TEST_F(TlsTest, PlaintextClientCannotTalkToTlsServer) {
  cp_tls_server_options s = ServerTls(false);
  StartServer(&s);
  ASSERT_EQ(0, Connect(nullptr, Target()));
  EchoResult r = Echo();
  EXPECT_EQ(CP_ERPC, r.rc);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, r.status.code) << r.status.message;
  EXPECT_EQ(0, RecordedCalls());
}

// --- mutual TLS ------------------------------------------------------------

TEST_F(TlsTest, MutualTlsExposesTheVerifiedClientCertificate) {
  cp_tls_server_options s = ServerTls(true);
  StartServer(&s);
  cp_tls_client_options c = ClientTls("ca1", "plugin-a");
  ASSERT_EQ(0, Connect(&c, Target()));
  EchoResult r = Echo("mtls");
  ASSERT_EQ(0, r.rc) << r.status.message;
  EXPECT_EQ("mtls", r.text);
  std::lock_guard<std::mutex> lock(record_.mu);
  EXPECT_EQ(1, record_.calls);
  EXPECT_TRUE(record_.has_cert);
  EXPECT_EQ("plugin-a", record_.common_name);
  EXPECT_EQ(
      (std::vector<std::string>{"plugin-a.local", "spiffe://cplugin/plugin-a"}),
      record_.sans);
}

TEST_F(TlsTest, MutualTlsRejectsACertificateFromAnotherCa) {
  cp_tls_server_options s = ServerTls(true);
  StartServer(&s);
  cp_tls_client_options c = ClientTls("ca1", "plugin-b");
  ASSERT_EQ(0, Connect(&c, Target()));
  EchoResult r = Echo();
  EXPECT_EQ(CP_ERPC, r.rc);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, r.status.code) << r.status.message;
  EXPECT_EQ(0, RecordedCalls());
}

TEST_F(TlsTest, MutualTlsRejectsAClientWithoutCertificate) {
  cp_tls_server_options s = ServerTls(true);
  StartServer(&s);
  cp_tls_client_options c = ClientTls("ca1");
  ASSERT_EQ(0, Connect(&c, Target()));
  EchoResult r = Echo();
  EXPECT_EQ(CP_ERPC, r.rc);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, r.status.code) << r.status.message;
  EXPECT_EQ(0, RecordedCalls());
}

TEST_F(TlsTest, PlaintextCallHasNoPeerCertificate) {
  StartServer(nullptr);
  ASSERT_EQ(0, Connect(nullptr, Target()));
  EchoResult r = Echo();
  ASSERT_EQ(0, r.rc) << r.status.message;
  std::lock_guard<std::mutex> lock(record_.mu);
  EXPECT_EQ(1, record_.calls);
  EXPECT_FALSE(record_.has_cert);
  EXPECT_EQ("", record_.common_name);
  EXPECT_TRUE(record_.sans.empty());
}

// --- the mTLS authentication provider ----------------------------------------

// The server asks for (but does not require) client certificates, so that
// authentication, not the TLS handshake, answers a client without one.
TEST_F(TlsTest, MtlsAuthIdentityComesFromTheVerifiedCertificate) {
  cp_auth *auth = nullptr;
  ASSERT_EQ(0, cp_auth_create(&auth));
  ASSERT_EQ(0, cp_auth_add_mtls(auth));
  cp_tls_server_options s = ServerTls(true);
  s.require_client_cert = false;
  s.request_client_cert = true;
  StartServer(&s, auth);

  cp_tls_client_options good = ClientTls("ca1", "plugin-a");
  ASSERT_EQ(0, Connect(&good, Target()));
  EchoResult r = Echo("mtls auth");
  ASSERT_EQ(0, r.rc) << r.status.message;
  EXPECT_EQ("plugin-a", r.identity);

  cp_tls_client_options none = ClientTls("ca1");
  ASSERT_EQ(0, Connect(&none, Target()));
  r = Echo();
  EXPECT_EQ(CP_STATUS_UNAUTHENTICATED, r.status.code) << r.status.message;
  EXPECT_STREQ("authentication required", r.status.message);

  cp_tls_client_options other_ca = ClientTls("ca1", "plugin-b");
  ASSERT_EQ(0, Connect(&other_ca, Target()));
  r = Echo();
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, r.status.code) << r.status.message;

  cp_client_destroy(client_);
  client_ = nullptr;
  cp_server_shutdown(server_, 1000);
  cp_server_destroy(server_);
  server_ = nullptr;
  cp_auth_destroy(auth);
}

// A host whose allow-list names a client certificate: the handshake made
// with plugin-a's certificate records "mtls:plugin-a" with the identity it
// issues, and only that identity may register plugin-a's types, whatever
// self_id another client claims.
TEST_F(TlsTest, MtlsHandshakePrincipalKeysTheAllowList) {
  cp_tls_server_options s = ServerTls(true);
  s.require_client_cert = false;
  s.request_client_cert = true;
  cp_host_options ho;
  cp_host_options_init(&ho);
  ho.tls = &s;
  ho.metrics_address = nullptr;
  ho.rate_limits = false;
  ho.tokens.sweep_interval_ms = 0;
  ho.registry.require_allow_list = true;
  cp_host *host = nullptr;
  ASSERT_EQ(0, cp_host_create(&host, &ho));
  ASSERT_EQ(0, cp_auth_add_mtls(cp_host_auth(host)));
  const char *types[] = {"storage"};
  ASSERT_EQ(
      0, cp_registry_allow(cp_host_registry(host), "mtls:plugin-a", types, 1));
  ASSERT_EQ(0, cp_host_start(host, &port_, nullptr));

  auto register_as = [&](const cp_tls_client_options &tls, cp_status *st,
                         std::string *principal) {
    cp_plugin_client_options o;
    cp_plugin_client_options_init(&o);
    std::string target = Target();
    o.endpoint = target.c_str();
    o.self_id = "plugin-a";
    o.tls = &tls;
    cp_plugin_client *pc = nullptr;
    EXPECT_EQ(0, cp_plugin_client_create(&pc, &o));
    if (cp_plugin_client_connect(pc, st) != 0) {
      cp_plugin_client_destroy(pc);
      return;
    }
    char out[CP_PRINCIPAL_MAX + 1] = "";
    EXPECT_EQ(0,
              cp_token_store_principal(cp_host_tokens(host),
                                       cp_plugin_client_runtime_id(pc), out));
    *principal = out;
    Connectplugin__V1__RegisterServiceRequest req =
        CONNECTPLUGIN__V1__REGISTER_SERVICE_REQUEST__INIT;
    req.service_type = const_cast<char *>("storage");
    req.version = const_cast<char *>("1.0.0");
    req.endpoint_path = const_cast<char *>("/storage.v1.Storage/");
    Connectplugin__V1__RegisterServiceResponse *resp = nullptr;
    cp_connectplugin__v1__service_registry__register_service__call(
        cp_plugin_client_channel(pc), &req, &resp, nullptr, st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    cp_plugin_client_destroy(pc);
  };

  cp_status st;
  std::string principal;
  register_as(ClientTls("ca1", "plugin-a"), &st, &principal);
  EXPECT_EQ(CP_STATUS_OK, st.code) << st.message;
  EXPECT_EQ("mtls:plugin-a", principal);

  // Same self_id, no certificate: an anonymous identity, refused.
  principal = "unset";
  register_as(ClientTls("ca1"), &st, &principal);
  EXPECT_EQ(CP_STATUS_PERMISSION_DENIED, st.code) << st.message;
  EXPECT_EQ("", principal);

  cp_host_destroy(host);
}

// --- bad options -----------------------------------------------------------

TEST_F(TlsTest, BadServerOptionsAreInvalid) {
  ASSERT_EQ(0, cp_server_create(&server_, nullptr));
  std::string cert = P("server.pem");
  std::string key = P("server.key");
  std::string key_text = certs_->Read("server.key");
  std::string missing = P("no-such-file.pem");
  std::string dir = P("");
  cp_tls_server_options o;
  int port = -1;

  EXPECT_EQ(CP_EINVAL,
            cp_server_listen_tls(server_, "127.0.0.1:0", nullptr, &port));
  cp_tls_server_options_init(&o);  // nothing given
  EXPECT_EQ(CP_EINVAL, cp_server_listen_tls(server_, "127.0.0.1:0", &o, &port));
  o.cert_chain.path = cert.c_str();  // key missing
  EXPECT_EQ(CP_EINVAL, cp_server_listen_tls(server_, "127.0.0.1:0", &o, &port));
  o.private_key.path = missing.c_str();  // unreadable: no such file
  EXPECT_EQ(CP_EINVAL, cp_server_listen_tls(server_, "127.0.0.1:0", &o, &port));
  o.private_key.path = dir.c_str();  // unreadable: a directory
  EXPECT_EQ(CP_EINVAL, cp_server_listen_tls(server_, "127.0.0.1:0", &o, &port));
  o.private_key.path = "";
  EXPECT_EQ(CP_EINVAL, cp_server_listen_tls(server_, "127.0.0.1:0", &o, &port));
  o.private_key.path = key.c_str();  // both path and pem
  o.private_key.pem = key_text.c_str();
  EXPECT_EQ(CP_EINVAL, cp_server_listen_tls(server_, "127.0.0.1:0", &o, &port));
  o.private_key.pem = nullptr;
  o.cert_chain.path = key.c_str();  // a key where the certificate belongs
  EXPECT_EQ(CP_EINVAL, cp_server_listen_tls(server_, "127.0.0.1:0", &o, &port));
  o.cert_chain.path = cert.c_str();
  o.private_key.path = cert.c_str();  // a certificate where the key belongs
  EXPECT_EQ(CP_EINVAL, cp_server_listen_tls(server_, "127.0.0.1:0", &o, &port));
  o.private_key.path = key.c_str();
  o.require_client_cert = true;  // mutual TLS without a client CA
  EXPECT_EQ(CP_EINVAL, cp_server_listen_tls(server_, "127.0.0.1:0", &o, &port));
  o.client_ca.path = missing.c_str();
  EXPECT_EQ(CP_EINVAL, cp_server_listen_tls(server_, "127.0.0.1:0", &o, &port));
  EXPECT_EQ(CP_EINVAL, cp_server_listen_tls(server_, "", &o, &port));
  EXPECT_EQ(-1, port);
  // Nothing was added: the server has no listener to start.
  EXPECT_EQ(CP_ESTATE, cp_server_start(server_));
  // The same options, corrected, work.
  o.client_ca.path = nullptr;
  o.require_client_cert = false;
  EXPECT_EQ(0, cp_server_listen_tls(server_, "127.0.0.1:0", &o, &port));
  EXPECT_GT(port, 0);
}

TEST_F(TlsTest, BadClientOptionsAreInvalid) {
  std::string ca = P("ca1.pem");
  std::string cert = P("plugin-a.pem");
  std::string key = P("plugin-a.key");
  std::string ca_text = certs_->Read("ca1.pem");
  std::string missing = P("no-such-file.pem");
  cp_tls_client_options o;
  cp_tls_client_options_init(&o);
  o.root_ca.path = ca.c_str();
  o.cert_chain.path = cert.c_str();  // certificate without key
  EXPECT_EQ(CP_EINVAL, Connect(&o, "127.0.0.1:1"));
  EXPECT_EQ(nullptr, client_);
  o.cert_chain.path = nullptr;
  o.private_key.path = key.c_str();  // key without certificate
  EXPECT_EQ(CP_EINVAL, Connect(&o, "127.0.0.1:1"));
  o.private_key.path = nullptr;
  o.root_ca.path = missing.c_str();  // unreadable
  EXPECT_EQ(CP_EINVAL, Connect(&o, "127.0.0.1:1"));
  o.root_ca.path = ca.c_str();  // both path and pem
  o.root_ca.pem = ca_text.c_str();
  EXPECT_EQ(CP_EINVAL, Connect(&o, "127.0.0.1:1"));
  o.root_ca.pem = nullptr;
  o.server_name = "";
  EXPECT_EQ(CP_EINVAL, Connect(&o, "127.0.0.1:1"));
  o.server_name = nullptr;
  EXPECT_EQ(nullptr, client_);
  EXPECT_EQ(0, Connect(&o, "127.0.0.1:1"));
  EXPECT_NE(nullptr, client_);
}

// --- the plaintext warning -------------------------------------------------

TEST_F(TlsTest, PlaintextClientWarnsOnceForARemoteTarget) {
  ScopedEnv env(nullptr);
  cpi_plaintext_warning_reset();
  LogCapture log;
  for (const char *local : {"127.0.0.1:1", "localhost:1", "[::1]:1",
                            "unix:/tmp/cplugin-none.sock"}) {
    ASSERT_EQ(0, Connect(nullptr, local));
  }
  EXPECT_TRUE(log.Warnings().empty());
  // TLS to a remote address is what the warning asks for.
  cp_tls_client_options tls = ClientTls("ca1");
  ASSERT_EQ(0, Connect(&tls, "192.0.2.1:443"));
  EXPECT_TRUE(log.Warnings().empty());

  ASSERT_EQ(0, Connect(nullptr, "192.0.2.1:443"));
  ASSERT_EQ(0, Connect(nullptr, "192.0.2.2:443"));
  std::vector<std::string> w = log.Warnings();
  ASSERT_EQ(1u, w.size());
  EXPECT_NE(std::string::npos,
            w[0].find("plaintext gRPC to a non-loopback address; use TLS"))
      << w[0];
  EXPECT_NE(std::string::npos, w[0].find("192.0.2.1:443")) << w[0];
  EXPECT_NE(std::string::npos, w[0].find("target")) << w[0];
  EXPECT_NE(std::string::npos, w[0].find("WARN")) << w[0];
}

TEST_F(TlsTest, PlaintextWarningCanBeSilenced) {
  cpi_plaintext_warning_reset();
  LogCapture log;
  for (const char *value : {"TRUE", "1", "yes", "Yes", "true"}) {
    ScopedEnv env(value);
    ASSERT_EQ(0, Connect(nullptr, "192.0.2.1:443"));
  }
  EXPECT_TRUE(log.Warnings().empty());
  {
    // Other values do not silence it, and silenced calls did not use up the
    // one warning.
    ScopedEnv env("0");
    ASSERT_EQ(0, Connect(nullptr, "192.0.2.1:443"));
  }
  EXPECT_EQ(1u, log.Warnings().size());
}

TEST_F(TlsTest, PlaintextServerWarnsOnceForANonLoopbackListener) {
  ScopedEnv env(nullptr);
  cpi_plaintext_warning_reset();
  LogCapture log;
  ASSERT_EQ(0, cp_server_create(&server_, nullptr));
  int port = 0;
  ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
  ASSERT_EQ(0, cp_server_listen(server_, "localhost:0", &port));
  cp_tls_server_options tls = ServerTls(false);
  ASSERT_EQ(0, cp_server_listen_tls(server_, "0.0.0.0:0", &tls, &port));
  EXPECT_TRUE(log.Warnings().empty());
  ASSERT_EQ(0, cp_server_listen(server_, "0.0.0.0:0", &port));
  ASSERT_EQ(0, cp_server_listen(server_, "0.0.0.0:0", &port));
  std::vector<std::string> w = log.Warnings();
  ASSERT_EQ(1u, w.size());
  EXPECT_NE(std::string::npos, w[0].find("non-loopback")) << w[0];
  EXPECT_NE(std::string::npos, w[0].find("address")) << w[0];
  EXPECT_NE(std::string::npos, w[0].find("0.0.0.0:0")) << w[0];
  // Clients have their own one-time warning.
  ASSERT_EQ(0, Connect(nullptr, "192.0.2.1:443"));
  EXPECT_EQ(2u, log.Warnings().size());
}

}  // namespace
