// The KV example's streaming methods, through a real server and client:
// BatchPut (client-streaming) and Session (bidirectional: puts and removes
// in, the watched changes out, its own and other clients').
#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "cplugin/cplugin.h"
// protoc-c names a member of its KVService descriptor `delete`, a C++
// keyword; renaming the token for this file changes no layout.
#define delete delete_
#include "kv_store.h"
#undef delete
}
#include "wait.h"

namespace {

class KvStreamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kv_store_limits limits;
    kv_store_limits_init(&limits);
    limits.max_watchers = 2;
    store_ = kv_store_create(&limits);
    ASSERT_NE(nullptr, store_);
    ASSERT_EQ(0, cp_server_create(&server_, nullptr));
    cp_kv__v1__kvservice__handlers h;
    kv_store_handlers(&h);
    ASSERT_EQ(0, cp_kv__v1__kvservice__register(server_, &h, store_));
    int port = 0;
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port));
    ASSERT_EQ(0, cp_server_start(server_));
    std::string target = "127.0.0.1:" + std::to_string(port);
    ASSERT_EQ(0, cp_client_create(&client_, target.c_str(), nullptr));
    cp_call_options_init(&opts_);
    opts_.timeout_ms = 30000;  // a hang guard
  }

  void TearDown() override {
    cp_client_destroy(client_);
    cp_server_shutdown(server_, 1000);
    cp_server_destroy(server_);
    kv_store_destroy(store_);
  }

  static Kv__V1__PutRequest Pair(const char *key, const char *value) {
    Kv__V1__PutRequest p = KV__V1__PUT_REQUEST__INIT;
    p.key = const_cast<char *>(key);
    p.value.data = reinterpret_cast<uint8_t *>(const_cast<char *>(value));
    p.value.len = strlen(value);
    return p;
  }

  std::string Get(const char *key) {
    Kv__V1__GetRequest req = KV__V1__GET_REQUEST__INIT;
    req.key = const_cast<char *>(key);
    Kv__V1__GetResponse *resp = nullptr;
    cp_status st;
    if (cp_kv__v1__kvservice__get__call(client_, &req, &resp, &opts_, &st) !=
        0) {
      return "<error>";
    }
    std::string v =
        resp->found ? std::string(reinterpret_cast<char *>(resp->value.data),
                                  resp->value.len)
                    : "<none>";
    protobuf_c_message_free_unpacked(&resp->base, nullptr);
    return v;
  }

  // The next event of a session as "TYPE key=value", or the end.
  std::string Next(cp_client_stream *s) {
    Kv__V1__WatchEvent *ev = nullptr;
    cp_status st;
    int rc = cp_kv__v1__kvservice__session__next(s, &ev, &st);
    if (rc != 0) {
      return std::string("end ") + cp_status_code_name(st.code);
    }
    std::string out = ev->type == KV__V1__EVENT_TYPE__EVENT_TYPE_PUT ? "PUT "
                      : ev->type == KV__V1__EVENT_TYPE__EVENT_TYPE_DELETE
                          ? "DELETE "
                          : "MARK ";
    out += ev->key;
    if (ev->value.len > 0) {
      out += "=" + std::string(reinterpret_cast<char *>(ev->value.data),
                               ev->value.len);
    }
    protobuf_c_message_free_unpacked(&ev->base, nullptr);
    return out;
  }

  int Send(cp_client_stream *s, Kv__V1__SessionRequest *op) {
    return cp_kv__v1__kvservice__session__send(s, op);
  }

  kv_store *store_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  cp_call_options opts_;
};

TEST_F(KvStreamsTest, BatchPutStoresEveryPairAndCountsThem) {
  cp_client_stream *s = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_kv__v1__kvservice__batch_put__open(client_, &opts_, &s, &st));
  for (int i = 0; i < 100; i++) {
    std::string key = "k" + std::to_string(i);
    std::string value = "v" + std::to_string(i);
    Kv__V1__PutRequest p = Pair(key.c_str(), value.c_str());
    ASSERT_EQ(0, cp_kv__v1__kvservice__batch_put__send(s, &p));
  }
  Kv__V1__BatchPutResponse *resp = nullptr;
  ASSERT_EQ(0, cp_kv__v1__kvservice__batch_put__finish(s, &resp, &st))
      << st.message;
  EXPECT_EQ(100, resp->stored);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  cp_client_stream_destroy(s);
  EXPECT_EQ("v0", Get("k0"));
  EXPECT_EQ("v99", Get("k99"));
}

TEST_F(KvStreamsTest, BatchPutStopsAtTheFirstRefusedPair) {
  cp_client_stream *s = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_kv__v1__kvservice__batch_put__open(client_, &opts_, &s, &st));
  Kv__V1__PutRequest a = Pair("a", "1");
  Kv__V1__PutRequest bad = Pair("", "no key");
  Kv__V1__PutRequest c = Pair("c", "3");
  ASSERT_EQ(0, cp_kv__v1__kvservice__batch_put__send(s, &a));
  ASSERT_EQ(0, cp_kv__v1__kvservice__batch_put__send(s, &bad));
  // The call may already have ended: a later send is refused, not lost.
  int rc = cp_kv__v1__kvservice__batch_put__send(s, &c);
  EXPECT_TRUE(rc == 0 || rc == CP_ECLOSED) << cp_strerror(rc);
  Kv__V1__BatchPutResponse *resp = nullptr;
  EXPECT_EQ(CP_ERPC, cp_kv__v1__kvservice__batch_put__finish(s, &resp, &st));
  EXPECT_EQ(nullptr, resp);
  EXPECT_EQ(CP_STATUS_INVALID_ARGUMENT, st.code);
  EXPECT_NE(nullptr, strstr(st.message, "pair 1")) << st.message;
  cp_client_stream_destroy(s);
  EXPECT_EQ("1", Get("a"));
  EXPECT_EQ("<none>", Get("c"));
}

TEST_F(KvStreamsTest, EmptyBatchStoresNothing) {
  cp_client_stream *s = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_kv__v1__kvservice__batch_put__open(client_, &opts_, &s, &st));
  Kv__V1__BatchPutResponse *resp = nullptr;
  ASSERT_EQ(0, cp_kv__v1__kvservice__batch_put__finish(s, &resp, &st));
  EXPECT_EQ(0, resp->stored);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  cp_client_stream_destroy(s);
}

TEST_F(KvStreamsTest, SessionSeesItsOwnAndOtherClientsChanges) {
  cp_client_stream *s = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_kv__v1__kvservice__session__open(client_, &opts_, &s, &st));
  Kv__V1__SessionRequest watch = KV__V1__SESSION_REQUEST__INIT;
  watch.op_case = KV__V1__SESSION_REQUEST__OP_WATCH;
  watch.watch = const_cast<char *>("s/");
  ASSERT_EQ(0, Send(s, &watch));
  EXPECT_EQ(std::string("MARK ") + KV_WATCH_STARTED_KEY, Next(s));

  Kv__V1__PutRequest own = Pair("s/1", "mine");
  Kv__V1__SessionRequest put = KV__V1__SESSION_REQUEST__INIT;
  put.op_case = KV__V1__SESSION_REQUEST__OP_PUT;
  put.put = &own;
  ASSERT_EQ(0, Send(s, &put));
  EXPECT_EQ("PUT s/1=mine", Next(s));

  // Another client's change under the prefix, and one outside it.
  Kv__V1__PutRequest outside = Pair("t/1", "x");
  Kv__V1__PutResponse *pr = nullptr;
  ASSERT_EQ(
      0, cp_kv__v1__kvservice__put__call(client_, &outside, &pr, &opts_, &st));
  protobuf_c_message_free_unpacked(&pr->base, nullptr);
  Kv__V1__PutRequest other = Pair("s/2", "theirs");
  ASSERT_EQ(0,
            cp_kv__v1__kvservice__put__call(client_, &other, &pr, &opts_, &st));
  protobuf_c_message_free_unpacked(&pr->base, nullptr);
  EXPECT_EQ("PUT s/2=theirs", Next(s));

  Kv__V1__DeleteRequest del = KV__V1__DELETE_REQUEST__INIT;
  del.key = const_cast<char *>("s/1");
  Kv__V1__SessionRequest remove = KV__V1__SESSION_REQUEST__INIT;
  remove.op_case = KV__V1__SESSION_REQUEST__OP_REMOVE;
  remove.remove = &del;
  ASSERT_EQ(0, Send(s, &remove));
  EXPECT_EQ("DELETE s/1", Next(s));

  ASSERT_EQ(0, cp_client_stream_close_send(s));
  EXPECT_EQ("end OK", Next(s));
  cp_client_stream_destroy(s);
  EXPECT_EQ("<none>", Get("s/1"));
  EXPECT_EQ("theirs", Get("s/2"));
}

TEST_F(KvStreamsTest, BadSessionMessagesEndTheSessionWithAClearStatus) {
  cp_status st;
  cp_client_stream *s = nullptr;
  ASSERT_EQ(0, cp_kv__v1__kvservice__session__open(client_, &opts_, &s, &st));
  Kv__V1__SessionRequest empty = KV__V1__SESSION_REQUEST__INIT;
  ASSERT_EQ(0, Send(s, &empty));
  EXPECT_EQ("end INVALID_ARGUMENT", Next(s));
  cp_client_stream_destroy(s);

  ASSERT_EQ(0, cp_kv__v1__kvservice__session__open(client_, &opts_, &s, &st));
  Kv__V1__SessionRequest watch = KV__V1__SESSION_REQUEST__INIT;
  watch.op_case = KV__V1__SESSION_REQUEST__OP_WATCH;
  watch.watch = const_cast<char *>("");
  ASSERT_EQ(0, Send(s, &watch));
  EXPECT_EQ(std::string("MARK ") + KV_WATCH_STARTED_KEY, Next(s));
  ASSERT_EQ(0, Send(s, &watch));
  EXPECT_EQ("end FAILED_PRECONDITION", Next(s));
  cp_client_stream_destroy(s);
}

TEST_F(KvStreamsTest, SessionsCountAgainstTheWatcherLimit) {
  cp_status st;
  cp_client_stream *a = nullptr, *b = nullptr, *c = nullptr;
  Kv__V1__SessionRequest watch = KV__V1__SESSION_REQUEST__INIT;
  watch.op_case = KV__V1__SESSION_REQUEST__OP_WATCH;
  watch.watch = const_cast<char *>("x");
  ASSERT_EQ(0, cp_kv__v1__kvservice__session__open(client_, &opts_, &a, &st));
  ASSERT_EQ(0, Send(a, &watch));
  EXPECT_EQ(std::string("MARK ") + KV_WATCH_STARTED_KEY, Next(a));
  ASSERT_EQ(0, cp_kv__v1__kvservice__session__open(client_, &opts_, &b, &st));
  ASSERT_EQ(0, Send(b, &watch));
  EXPECT_EQ(std::string("MARK ") + KV_WATCH_STARTED_KEY, Next(b));
  // The limit is 2: the third session is refused at its start.
  ASSERT_EQ(0, cp_kv__v1__kvservice__session__open(client_, &opts_, &c, &st));
  EXPECT_EQ("end RESOURCE_EXHAUSTED", Next(c));
  cp_client_stream_destroy(c);
  // A cancelled session frees its place.
  cp_client_stream_destroy(a);
  EXPECT_TRUE(cp_test::WaitFor("a place freed by the cancelled session", [&] {
    if (cp_kv__v1__kvservice__session__open(client_, &opts_, &c, &st) != 0) {
      return false;
    }
    bool admitted = Send(c, &watch) == 0 &&
                    Next(c) == std::string("MARK ") + KV_WATCH_STARTED_KEY;
    cp_client_stream_destroy(c);
    return admitted;
  }));
  cp_client_stream_destroy(b);
}

}  // namespace
