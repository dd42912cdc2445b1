/* greeter: the Bazel consumer example.
 *
 * Starts a cp_server on 127.0.0.1:0 with the handler table generated for
 * greeter.v1.Greeter, calls it through the generated client stub, checks the
 * replies (one success, one error status) and the plugin version set in BUILD
 * (version = "1.2.0"), and exits 0, or 1 on any failure. */
#include <stdio.h>
#include <string.h>

#include "cplugin/cplugin.h"
#include "greeter/v1/greeter.cplugin.h"
#include "greeter/v1/greeter.pb-c.h"

static char greeting[] = "Hello";

static cp_status_code on_hello(cp_call *call,
                               const Greeter__V1__HelloRequest *req,
                               Greeter__V1__HelloResponse *resp, void *user) {
  const char *word = user;
  if (req->name == NULL || req->name[0] == '\0') {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT, "name is empty");
  }
  size_t size = strlen(word) + strlen(req->name) + sizeof ", !";
  char *message = cp_call_alloc(call, size); /* freed with the call */
  if (message == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  snprintf(message, size, "%s, %s!", word, req->name);
  resp->message = message;
  return CP_STATUS_OK;
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "greeter: %s: %s\n", what, cp_strerror(rc));
  return 1;
}

/* Calls Hello(name); returns 0 when the outcome is the expected one. */
static int check_hello(cp_client *client, const char *name,
                       cp_status_code want_code, const char *want_message) {
  Greeter__V1__HelloRequest req = GREETER__V1__HELLO_REQUEST__INIT;
  req.name = (char *)name;
  Greeter__V1__HelloResponse *resp = NULL;
  cp_call_options opts;
  cp_call_options_init(&opts);
  opts.timeout_ms = 5000;
  cp_status st;
  int rc =
      cp_greeter__v1__greeter__hello__call(client, &req, &resp, &opts, &st);
  int bad = 0;
  if (st.code != want_code) {
    fprintf(stderr, "greeter: Hello(\"%s\") -> %s (%s), want %s\n", name,
            cp_status_code_name(st.code), st.message,
            cp_status_code_name(want_code));
    bad = 1;
  } else if (want_code == CP_STATUS_OK &&
             (rc != 0 || resp == NULL || resp->message == NULL ||
              strcmp(resp->message, want_message) != 0)) {
    fprintf(stderr, "greeter: Hello(\"%s\") -> rc %d, \"%s\", want \"%s\"\n",
            name, rc, resp != NULL && resp->message ? resp->message : "(null)",
            want_message);
    bad = 1;
  } else if (want_code != CP_STATUS_OK && rc != CP_ERPC) {
    fprintf(stderr, "greeter: Hello(\"%s\") -> rc %d, want CP_ERPC\n", name,
            rc);
    bad = 1;
  } else {
    printf("greeter: Hello(\"%s\") -> %s%s%s\n", name,
           cp_status_code_name(st.code), resp != NULL ? " " : "",
           resp != NULL ? resp->message : "");
  }
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  return bad;
}

int main(void) {
  const cp_plugin_desc *plugin = &cp_greeter__v1__greeter__plugin;
  if (strcmp(plugin->version, "1.2.0") != 0) {
    fprintf(stderr, "greeter: plugin %s has version %s, want 1.2.0\n",
            plugin->name, plugin->version);
    return 1;
  }
  cp_server *server = NULL;
  int rc = cp_server_create(&server, NULL);
  if (rc != 0) {
    return fail("cp_server_create", rc);
  }
  cp_greeter__v1__greeter__handlers handlers;
  memset(&handlers, 0, sizeof handlers);
  handlers.on_hello = on_hello;
  int port = 0;
  rc = cp_greeter__v1__greeter__register(server, &handlers, greeting);
  if (rc == 0) {
    rc = cp_server_listen(server, "127.0.0.1:0", &port);
  }
  if (rc == 0) {
    rc = cp_server_start(server);
  }
  if (rc != 0) {
    cp_server_destroy(server);
    return fail("cannot serve on 127.0.0.1:0", rc);
  }

  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  cp_client *client = NULL;
  rc = cp_client_create(&client, target, NULL);
  if (rc != 0) {
    cp_server_destroy(server);
    return fail("cp_client_create", rc);
  }

  int bad = 0;
  bad |= check_hello(client, "bazel", CP_STATUS_OK, "Hello, bazel!");
  bad |= check_hello(client, "", CP_STATUS_INVALID_ARGUMENT, NULL);

  cp_client_destroy(client);
  cp_server_shutdown(server, 1000);
  cp_server_destroy(server);
  if (bad) {
    fprintf(stderr, "greeter: FAILED\n");
    return 1;
  }
  printf("greeter: OK (plugin %s %s, served and called on %s)\n", plugin->name,
         plugin->version, target);
  return 0;
}
