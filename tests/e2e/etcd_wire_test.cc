// proto/etcd against a real etcd (Debian's etcd-server, on loopback): the
// subset of etcd's v3 API that host replicas will share state through
// (issue 16), spoken with cplugin's own client and generated stubs. A wrong
// package, service name or field number shows here as UNIMPLEMENTED, a
// missing value or a decode error.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "cplugin/client.h"
#include "cplugin/errors.h"
#include "etcd/etcdserverpb/rpc.cplugin.h"
#include "etcd_server.h"
#include "wait.h"

namespace {

// Borrows the bytes of `s`, which must outlive the message (a named string
// or a literal: a temporary std::string would dangle).
ProtobufCBinaryData Bytes(const std::string &s) {
  ProtobufCBinaryData b;
  b.len = s.size();
  b.data = reinterpret_cast<uint8_t *>(const_cast<char *>(s.data()));
  return b;
}

ProtobufCBinaryData Bytes(const char *literal) {
  ProtobufCBinaryData b;
  b.len = strlen(literal);
  b.data = reinterpret_cast<uint8_t *>(const_cast<char *>(literal));
  return b;
}

std::string Str(const ProtobufCBinaryData &b) {
  return std::string(reinterpret_cast<const char *>(b.data), b.len);
}

template <typename T>
void Free(T *msg) {
  if (msg != nullptr) {
    protobuf_c_message_free_unpacked(reinterpret_cast<ProtobufCMessage *>(msg),
                                     nullptr);
  }
}

class EtcdWireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(0, test_etcd_start_fresh(&etcd_, "cplugin-etcd"))
        << "etcd did not start (is etcd-server installed? "
           "tools/install-deps.sh)";
    ASSERT_EQ(0, cp_client_create(&client_, etcd_.target, nullptr));
  }

  void TearDown() override {
    cp_client_destroy(client_);
    test_etcd_remove(&etcd_);
  }

  int64_t Put(const std::string &key, const std::string &value,
              int64_t lease = 0) {
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    req.key = Bytes(key);
    req.value = Bytes(value);
    req.lease = lease;
    Etcdserverpb__PutResponse *resp = nullptr;
    cp_status st;
    int rc = cp_etcdserverpb__kv__put__call(client_, &req, &resp, nullptr, &st);
    EXPECT_EQ(0, rc) << st.message;
    int64_t rev = resp != nullptr && resp->header != nullptr
                      ? resp->header->revision
                      : -1;
    Free(resp);
    return rev;
  }

  // The values under `prefix`, "k=v;" each, in key order.
  std::string List(const std::string &prefix) {
    std::string end = prefix;
    end.back()++;  // [prefix, prefix+1): every key that starts with it
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key = Bytes(prefix);
    req.range_end = Bytes(end);
    Etcdserverpb__RangeResponse *resp = nullptr;
    cp_status st;
    int rc =
        cp_etcdserverpb__kv__range__call(client_, &req, &resp, nullptr, &st);
    EXPECT_EQ(0, rc) << st.message;
    std::string out;
    for (size_t i = 0; resp != nullptr && i < resp->n_kvs; i++) {
      out += Str(resp->kvs[i]->key) + "=" + Str(resp->kvs[i]->value) + ";";
    }
    if (resp != nullptr) {
      EXPECT_EQ((int64_t)resp->n_kvs, resp->count);
    }
    Free(resp);
    return out;
  }

  // Creates `key` only if it does not exist (a Txn comparing its
  // create_revision with 0): how a registration claims its name.
  bool Create(const std::string &key, const std::string &value) {
    Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
    cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
    cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
    cmp.key = Bytes(key);
    cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
    cmp.create_revision = 0;
    Etcdserverpb__Compare *cmps[] = {&cmp};
    Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
    put.key = Bytes(key);
    put.value = Bytes(value);
    Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT;
    op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    op.request_put = &put;
    Etcdserverpb__RequestOp *ops[] = {&op};
    Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
    req.n_compare = 1;
    req.compare = cmps;
    req.n_success = 1;
    req.success = ops;
    Etcdserverpb__TxnResponse *resp = nullptr;
    cp_status st;
    int rc = cp_etcdserverpb__kv__txn__call(client_, &req, &resp, nullptr, &st);
    EXPECT_EQ(0, rc) << st.message;
    bool created = resp != nullptr && resp->succeeded;
    if (created) {
      EXPECT_EQ(1u, resp->n_responses);
      EXPECT_EQ(ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT,
                resp->responses[0]->response_case);
    }
    Free(resp);
    return created;
  }

  test_etcd etcd_{};
  cp_client *client_ = nullptr;
};

TEST_F(EtcdWireTest, PutRangeAndDeleteRoundTrip) {
  int64_t r1 = Put("/cplugin/reg/b", "beta");
  int64_t r2 = Put("/cplugin/reg/a", "alpha");
  EXPECT_GT(r2, r1);
  Put("/cplugin/other", "x");
  EXPECT_EQ("/cplugin/reg/a=alpha;/cplugin/reg/b=beta;", List("/cplugin/reg/"));

  Etcdserverpb__DeleteRangeRequest del =
      ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
  del.key = Bytes("/cplugin/reg/a");
  del.prev_kv = 1;
  Etcdserverpb__DeleteRangeResponse *resp = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_etcdserverpb__kv__delete_range__call(client_, &del, &resp,
                                                       nullptr, &st))
      << st.message;
  EXPECT_EQ(1, resp->deleted);
  ASSERT_EQ(1u, resp->n_prev_kvs);
  EXPECT_EQ("alpha", Str(resp->prev_kvs[0]->value));
  Free(resp);
  EXPECT_EQ("/cplugin/reg/b=beta;", List("/cplugin/reg/"));
}

TEST_F(EtcdWireTest, ATxnCreatesAKeyOnlyOnce) {
  EXPECT_TRUE(Create("/cplugin/owner/kv", "runtime-1"));
  EXPECT_FALSE(Create("/cplugin/owner/kv", "runtime-2"));
  EXPECT_EQ("/cplugin/owner/kv=runtime-1;", List("/cplugin/owner/"));
}

TEST_F(EtcdWireTest, ALeaseKeepsItsKeysAndTheirRevocationRemovesThem) {
  Etcdserverpb__LeaseGrantRequest grant =
      ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
  grant.ttl = 30;
  Etcdserverpb__LeaseGrantResponse *granted = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_etcdserverpb__lease__lease_grant__call(
                   client_, &grant, &granted, nullptr, &st))
      << st.message;
  int64_t id = granted->id;
  EXPECT_NE(0, id);
  EXPECT_EQ(30, granted->ttl);
  EXPECT_STREQ("", granted->error);
  Free(granted);
  Put("/cplugin/token/rt-1", "identity", id);

  // One keep-alive over the bidirectional stream renews the full TTL.
  cp_client_stream *ka = nullptr;
  ASSERT_EQ(0, cp_etcdserverpb__lease__lease_keep_alive__open(client_, nullptr,
                                                              &ka, &st))
      << st.message;
  Etcdserverpb__LeaseKeepAliveRequest ping =
      ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
  ping.id = id;
  ASSERT_EQ(0, cp_etcdserverpb__lease__lease_keep_alive__send(ka, &ping));
  Etcdserverpb__LeaseKeepAliveResponse *pong = nullptr;
  ASSERT_EQ(0, cp_etcdserverpb__lease__lease_keep_alive__next(ka, &pong, &st))
      << st.message;
  EXPECT_EQ(id, pong->id);
  EXPECT_EQ(30, pong->ttl);
  Free(pong);
  cp_client_stream_destroy(ka);

  Etcdserverpb__LeaseTimeToLiveRequest ttl_req =
      ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
  ttl_req.id = id;
  ttl_req.keys = 1;
  Etcdserverpb__LeaseTimeToLiveResponse *ttl = nullptr;
  ASSERT_EQ(0, cp_etcdserverpb__lease__lease_time_to_live__call(
                   client_, &ttl_req, &ttl, nullptr, &st))
      << st.message;
  EXPECT_EQ(30, ttl->grantedttl);
  EXPECT_GT(ttl->ttl, 0);
  ASSERT_EQ(1u, ttl->n_keys);
  EXPECT_EQ("/cplugin/token/rt-1", Str(ttl->keys[0]));
  Free(ttl);

  Etcdserverpb__LeaseRevokeRequest revoke =
      ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
  revoke.id = id;
  Etcdserverpb__LeaseRevokeResponse *revoked = nullptr;
  ASSERT_EQ(0, cp_etcdserverpb__lease__lease_revoke__call(
                   client_, &revoke, &revoked, nullptr, &st))
      << st.message;
  Free(revoked);
  EXPECT_EQ("", List("/cplugin/token/"));

  // A revoked lease is gone: etcd answers NOT_FOUND for it.
  revoked = nullptr;
  EXPECT_EQ(CP_ERPC, cp_etcdserverpb__lease__lease_revoke__call(
                         client_, &revoke, &revoked, nullptr, &st));
  EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code) << st.message;
}

TEST_F(EtcdWireTest, AWatchSeesPutsAndDeletesUnderItsPrefix) {
  cp_client_stream *w = nullptr;
  cp_status st;
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = test_wait_ms();  // a lost event fails, not hangs
  ASSERT_EQ(0, cp_etcdserverpb__watch__watch__open(client_, &o, &w, &st))
      << st.message;
  std::string prefix = "/cplugin/reg/";
  std::string end = "/cplugin/reg0";  // '/' + 1
  Etcdserverpb__WatchCreateRequest create =
      ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
  create.key = Bytes(prefix);
  create.range_end = Bytes(end);
  create.prev_kv = 1;
  Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
  req.request_union_case =
      ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
  req.create_request = &create;
  ASSERT_EQ(0, cp_etcdserverpb__watch__watch__send(w, &req));

  Etcdserverpb__WatchResponse *resp = nullptr;
  ASSERT_EQ(0, cp_etcdserverpb__watch__watch__next(w, &resp, &st))
      << st.message;
  EXPECT_TRUE(resp->created);
  EXPECT_EQ(0u, resp->n_events);
  int64_t watch_id = resp->watch_id;
  Free(resp);

  Put("/cplugin/other", "not watched");
  Put("/cplugin/reg/kv", "v1");
  Etcdserverpb__DeleteRangeRequest del =
      ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
  del.key = Bytes("/cplugin/reg/kv");
  Etcdserverpb__DeleteRangeResponse *deleted = nullptr;
  ASSERT_EQ(0, cp_etcdserverpb__kv__delete_range__call(client_, &del, &deleted,
                                                       nullptr, &st));
  Free(deleted);

  // Two events, possibly in one response or in two.
  std::string seen;
  while (seen.size() < 2) {
    resp = nullptr;
    ASSERT_EQ(0, cp_etcdserverpb__watch__watch__next(w, &resp, &st))
        << st.message;
    EXPECT_EQ(watch_id, resp->watch_id);
    for (size_t i = 0; i < resp->n_events; i++) {
      const Mvccpb__Event *ev = resp->events[i];
      EXPECT_EQ("/cplugin/reg/kv", Str(ev->kv->key));
      if (ev->type == MVCCPB__EVENT__EVENT_TYPE__PUT) {
        seen += "P";
        EXPECT_EQ("v1", Str(ev->kv->value));
      } else {
        seen += "D";
        ASSERT_NE(nullptr, ev->prev_kv);
        EXPECT_EQ("v1", Str(ev->prev_kv->value));
      }
    }
    Free(resp);
  }
  EXPECT_EQ("PD", seen);
  cp_client_stream_cancel(w);
  cp_client_stream_destroy(w);
}

}  // namespace
