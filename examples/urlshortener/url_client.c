/* url-client: the URL shortener's command line.
 *   url-client --api ADDRESS shorten URL     (calls the api plugin directly)
 *   url-client --host URL resolve CODE       (through the host's router)
 * Prints the code or the URL; exits 1 with the status on failure. Through
 * the host it joins as a caller named "url-client" (cplugin/host_caller.h)
 * and the host picks the api provider. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "api/v1/api.cplugin.h"
#include "cplugin/cplugin.h"

static int usage(void) {
  fprintf(stderr,
          "usage: url-client (--api ADDRESS | --host URL) shorten URL\n"
          "       url-client (--api ADDRESS | --host URL) resolve CODE\n");
  return 2;
}

int main(int argc, char **argv) {
  bool via_host = argc == 5 && strcmp(argv[1], "--host") == 0;
  if (argc != 5 || (!via_host && strcmp(argv[1], "--api") != 0)) {
    return usage();
  }
  const char *address = argv[2];
  const char *verb = argv[3];
  const char *arg = argv[4];
  cp_client *c = NULL;
  cp_host_caller *caller = NULL;
  cp_status st;
  if (via_host) {
    cp_host_caller_options ho;
    cp_host_caller_options_init(&ho);
    ho.host_url = address;
    ho.self_id = "url-client";
    if (cp_host_caller_create(&caller, &ho, &st) != 0 ||
        cp_host_caller_route(caller, "api", &c) != 0) {
      fprintf(stderr, "url-client: cannot join the host at %s: %s: %s\n",
              address, cp_status_code_name(st.code), st.message);
      cp_host_caller_destroy(caller);
      return 1;
    }
  } else if (cp_client_create(&c, address, NULL) != 0) {
    fprintf(stderr, "url-client: bad address %s\n", address);
    return 2;
  }
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = 10000;
  int rc = 0;
  if (strcmp(verb, "shorten") == 0) {
    Api__V1__ShortenRequest req = API__V1__SHORTEN_REQUEST__INIT;
    req.url = (char *)arg;
    Api__V1__ShortenResponse *resp = NULL;
    rc = cp_api__v1__api__shorten__call(c, &req, &resp, &o, &st);
    if (rc == 0) {
      printf("%s\n", resp->code);
      protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
  } else if (strcmp(verb, "resolve") == 0) {
    Api__V1__ResolveRequest req = API__V1__RESOLVE_REQUEST__INIT;
    req.code = (char *)arg;
    Api__V1__ResolveResponse *resp = NULL;
    rc = cp_api__v1__api__resolve__call(c, &req, &resp, &o, &st);
    if (rc == 0) {
      printf("%s\n", resp->url);
      protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
  } else {
    rc = -1;
  }
  /* A routed client belongs to its caller. */
  if (caller != NULL) {
    cp_host_caller_destroy(caller);
  } else {
    cp_client_destroy(c);
  }
  if (rc == -1) {
    return usage();
  }
  if (rc != 0) {
    fprintf(stderr, "url-client: %s: %s\n", cp_status_code_name(st.code),
            st.message);
    return 1;
  }
  return 0;
}
