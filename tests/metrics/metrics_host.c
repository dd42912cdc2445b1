/* metrics-host: a cplugin server with the standard metrics wired in, for the
 * Prometheus scrape test. It serves EchoService on 127.0.0.1:0 behind a
 * stand-in rate limiter (calls with metadata x-test-deny are rejected with
 * RESOURCE_EXHAUSTED and counted as denials), serves /metrics, /healthz and
 * /readyz on 127.0.0.1:0, and prints
 *   METRICS 127.0.0.1:<port>
 * Then, for each line "traffic" on stdin, it calls itself (5 OK, 2 failing,
 * 1 unknown method, 2 rate-limited), validates a runtime token 200 times,
 * waits until the post hooks counted every call, and prints
 *   EXPECT <PromQL selector> <value>   (running totals)
 *   BATCH <n>
 * At end of input (or "quit") it reports not-ready, stops and exits 0. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "wait.h"

enum {
  OK_CALLS = 5,
  FAILED_CALLS = 2,
  UNKNOWN_CALLS = 1,
  DENIED_CALLS = 2,
  VALIDATIONS = 200,
  CALLS_PER_BATCH = OK_CALLS + FAILED_CALLS + UNKNOWN_CALLS + DENIED_CALLS
};

#define ECHO_PATH "/cplugintest.v1.EchoService/Echo"

typedef struct host {
  cp_metrics *metrics;
  cp_token_store *tokens;
  cp_handshake_service *handshake;
  echo_stats *stats;
  cp_server *server;
  cp_client *client;
  cp_metrics_http *http;
  atomic_int completed; /* calls whose post hooks ran */
  char runtime_id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
} host;

/* The stand-in for the rate limiter's deny path. */
static cp_status_code deny_marked(cp_call *call, void *user) {
  host *h = user;
  cp_str v;
  if (!cp_call_metadata(call, "x-test-deny", &v)) {
    return CP_STATUS_OK;
  }
  cp_metrics_count_rate_limit_denial(h->metrics, cp_call_method(call));
  return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "rate limited");
}

/* Added after the metrics hook, so a call counted here is in the metrics. */
static void count_completed(const cp_call *call, cp_status_code code,
                            int64_t duration_ns, void *user) {
  host *h = user;
  atomic_fetch_add(&h->completed, 1);
}

static int64_t one_bucket(void *user) {
  return 1;
}

static int call_echo(host *h, const cp_method_desc *method, int fail_code,
                     int deny) {
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = "metrics";
  req.fail_code = fail_code;
  cp_metadata md = {"x-test-deny", "1"};
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.timeout_ms = 5000;
  if (deny) {
    opts.metadata = &md;
    opts.metadata_count = 1;
  }
  ProtobufCMessage *resp = NULL;
  cp_status st;
  int rc = cp_client_unary(h->client, method, &req.base, &resp, &opts, &st);
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(resp, NULL);
  }
  return rc == 0 ? CP_STATUS_OK : (int)st.code;
}

typedef struct waiting_for {
  host *h;
  int calls;
} waiting_for;

static int batch_counted(void *arg) {
  const waiting_for *w = arg;
  return atomic_load(&w->h->completed) >= w->calls;
}

static int run_batch(host *h, int batch) {
  cp_method_desc unknown = cp_cplugintest__v1__echo_service__echo__method;
  unknown.path = "/cplugintest.v1.EchoService/NoSuchMethod";
  const cp_method_desc *echo = &cp_cplugintest__v1__echo_service__echo__method;
  int bad = 0;
  for (int i = 0; i < OK_CALLS; i++) {
    bad += call_echo(h, echo, 0, 0) != CP_STATUS_OK;
  }
  for (int i = 0; i < FAILED_CALLS; i++) {
    bad += call_echo(h, echo, CP_STATUS_NOT_FOUND, 0) != CP_STATUS_NOT_FOUND;
  }
  for (int i = 0; i < UNKNOWN_CALLS; i++) {
    bad += call_echo(h, &unknown, 0, 0) != CP_STATUS_UNIMPLEMENTED;
  }
  for (int i = 0; i < DENIED_CALLS; i++) {
    bad += call_echo(h, echo, 0, 1) != CP_STATUS_RESOURCE_EXHAUSTED;
  }
  size_t id_len = strlen(h->runtime_id);
  for (int i = 0; i < VALIDATIONS; i++) {
    bad += !cp_metrics_validate_token(h->metrics, h->tokens, h->runtime_id,
                                      id_len, h->token, CP_TOKEN_LEN);
  }
  /* Post hooks run after the client has its answer; wait (bounded). */
  int want = batch * CALLS_PER_BATCH;
  waiting_for w = {h, want};
  /* Half the shared deadline: the scrape test reads each line with the whole
   * one, so a failure here is reported (with what was counted) before the
   * script gives up on the silence. */
  test_wait_until(batch_counted, &w, test_wait_ms() / 2);
  if (bad != 0 || atomic_load(&h->completed) != want) {
    fprintf(stderr,
            "metrics-host: batch %d: %d unexpected results, %d/%d "
            "calls counted\n",
            batch, bad, atomic_load(&h->completed), want);
    return -1;
  }
  printf("EXPECT cplugin_requests_total{method=\"%s\",code=\"OK\"} %d\n",
         ECHO_PATH, batch * OK_CALLS);
  printf(
      "EXPECT cplugin_requests_total{method=\"%s\",code=\"NOT_FOUND\"} "
      "%d\n",
      ECHO_PATH, batch * FAILED_CALLS);
  printf(
      "EXPECT cplugin_requests_total{method=\"other\","
      "code=\"UNIMPLEMENTED\"} %d\n",
      batch * UNKNOWN_CALLS);
  printf(
      "EXPECT cplugin_requests_total{method=\"%s\","
      "code=\"RESOURCE_EXHAUSTED\"} %d\n",
      ECHO_PATH, batch * DENIED_CALLS);
  printf("EXPECT sum(cplugin_requests_total) %d\n", want);
  printf("EXPECT cplugin_rate_limit_denials_total{method=\"%s\"} %d\n",
         ECHO_PATH, batch * DENIED_CALLS);
  printf("EXPECT cplugin_request_duration_seconds_count{method=\"%s\"} %d\n",
         ECHO_PATH, batch * (OK_CALLS + FAILED_CALLS + DENIED_CALLS));
  printf("EXPECT cplugin_token_validation_duration_seconds_count %d\n",
         batch * VALIDATIONS);
  printf("EXPECT cplugin_tokens_active 1\n");
  printf("EXPECT cplugin_rate_limit_buckets_active 1\n");
  printf("BATCH %d\n", batch);
  fflush(stdout);
  return 0;
}

static int start(host *h) {
  cp_metrics_options mo;
  cp_metrics_options_init(&mo);
  mo.token_sample_every = 1; /* every validation, so counts are exact */
  int port = 0;
  int metrics_port = 0;
  int rc = cp_metrics_create(&h->metrics, &mo);
  if (rc == 0) {
    rc = cp_token_store_create(&h->tokens, NULL);
  }
  if (rc == 0) {
    rc = cp_token_store_issue(h->tokens, "scrape-test", h->runtime_id,
                              sizeof h->runtime_id, h->token);
  }
  cp_handshake_service_options ho;
  cp_handshake_service_options_init(&ho);
  ho.tokens = h->tokens;
  if (rc == 0) {
    rc = cp_handshake_service_create(&h->handshake, &ho);
  }
  h->stats = echo_stats_create();
  if (rc == 0 && h->stats == NULL) {
    rc = CP_ENOMEM;
  }
  if (rc == 0) {
    rc = cp_server_create(&h->server, NULL);
  }
  if (rc == 0) {
    rc = cp_server_add_interceptor(h->server, CP_PHASE_APPLICATION, deny_marked,
                                   h);
  }
  if (rc == 0) {
    rc = cp_metrics_register(h->metrics, h->server);
  }
  if (rc == 0) {
    rc = cp_server_add_post_hook(h->server, count_completed, h);
  }
  if (rc == 0) {
    rc = cp_metrics_attach_token_store(h->metrics, h->tokens);
  }
  if (rc == 0) {
    rc = cp_metrics_attach_handshake(h->metrics, h->handshake);
  }
  if (rc == 0) {
    rc = cp_metrics_attach_rate_limit_buckets(h->metrics, one_bucket, NULL);
  }
  if (rc == 0) {
    rc = cp_handshake_service_register(h->handshake, h->server);
  }
  if (rc == 0) {
    rc = echo_service_register(h->server, h->stats);
  }
  if (rc == 0) {
    rc = cp_server_listen(h->server, "127.0.0.1:0", &port);
  }
  if (rc == 0) {
    rc = cp_server_start(h->server);
  }
  if (rc == 0) {
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    rc = cp_client_create(&h->client, target, NULL);
  }
  if (rc == 0) {
    rc = cp_metrics_http_start(&h->http, h->metrics, "127.0.0.1", 0,
                               &metrics_port);
  }
  if (rc == 0) {
    cp_metrics_set_ready(h->metrics, true);
    printf("METRICS 127.0.0.1:%d\n", metrics_port);
    fflush(stdout);
  }
  return rc;
}

/* Shutdown order: not ready, listener, server, then what the metrics read,
 * then the metrics. */
static void stop(host *h) {
  cp_metrics_set_ready(h->metrics, false);
  cp_metrics_http_destroy(h->http);
  cp_client_destroy(h->client);
  if (h->server != NULL) {
    cp_server_shutdown(h->server, 1000);
  }
  cp_server_destroy(h->server);
  cp_handshake_service_destroy(h->handshake);
  cp_token_store_destroy(h->tokens);
  echo_stats_destroy(h->stats);
  cp_metrics_destroy(h->metrics);
}

int main(void) {
  static host h;
  atomic_init(&h.completed, 0);
  int rc = start(&h);
  if (rc != 0) {
    fprintf(stderr, "metrics-host: %s\n", cp_strerror(rc));
  }
  char line[64];
  int batch = 0;
  while (rc == 0 && fgets(line, sizeof line, stdin) != NULL) {
    if (strcmp(line, "traffic\n") == 0) {
      rc = run_batch(&h, ++batch);
    } else if (strcmp(line, "quit\n") == 0) {
      break;
    }
  }
  stop(&h);
  return rc == 0 ? 0 : 1;
}
