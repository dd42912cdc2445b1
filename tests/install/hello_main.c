/* A program built only from an installed cplugin: it serves HelloService on
 * 127.0.0.1:0 and calls itself through the generated client stub. */
#include <stdio.h>
#include <string.h>

#include <cplugin/cplugin.h>

#include "hello/v1/hello.cplugin.h"

static cp_status_code on_hello(cp_call *call,
                               const Hello__V1__HelloRequest *req,
                               Hello__V1__HelloResponse *resp, void *user) {
  (void)user;
  size_t n = strlen(req->name) + sizeof "hello, ";
  char *greeting = cp_call_alloc(call, n);
  if (greeting == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "no memory");
  }
  snprintf(greeting, n, "hello, %s", req->name);
  resp->greeting = greeting;
  return CP_STATUS_OK;
}

int main(void) {
  cp_server *server = NULL;
  cp_hello__v1__hello_service__handlers h = {0};
  h.on_hello = on_hello;
  int port = 0;
  if (cp_server_create(&server, NULL) != 0 ||
      cp_hello__v1__hello_service__register(server, &h, NULL) != 0 ||
      cp_server_listen(server, "127.0.0.1:0", &port) != 0 ||
      cp_server_start(server) != 0) {
    fprintf(stderr, "cannot start server\n");
    return 1;
  }
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  cp_client *client = NULL;
  cp_client_create(&client, target, NULL);
  Hello__V1__HelloRequest req = HELLO__V1__HELLO_REQUEST__INIT;
  req.name = "installed cplugin";
  Hello__V1__HelloResponse *resp = NULL;
  cp_status st;
  int rc =
      cp_hello__v1__hello_service__hello__call(client, &req, &resp, NULL, &st);
  int ok = rc == 0 && strcmp(resp->greeting, "hello, installed cplugin") == 0;
  if (rc == 0) {
    printf("%s (cplugin %s)\n", resp->greeting, cp_version());
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  } else {
    fprintf(stderr, "call failed: %s %s\n", cp_status_code_name(st.code),
            st.message);
  }
  cp_client_destroy(client);
  cp_server_shutdown(server, 1000);
  cp_server_destroy(server);
  return ok ? 0 : 1;
}
