/* url-client: the URL shortener's command line.
 *   url-client --api ADDRESS shorten URL
 *   url-client --api ADDRESS resolve CODE
 * Prints the code or the URL; exits 1 with the status on failure. */
#include <stdio.h>
#include <string.h>

#include "api/v1/api.cplugin.h"
#include "cplugin/cplugin.h"

static int usage(void) {
  fprintf(stderr,
          "usage: url-client --api ADDRESS shorten URL\n"
          "       url-client --api ADDRESS resolve CODE\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc != 5 || strcmp(argv[1], "--api") != 0) {
    return usage();
  }
  const char *api = argv[2];
  const char *verb = argv[3];
  const char *arg = argv[4];
  cp_client *c = NULL;
  if (cp_client_create(&c, api, NULL) != 0) {
    fprintf(stderr, "url-client: bad address %s\n", api);
    return 2;
  }
  cp_call_options o;
  cp_call_options_init(&o);
  o.timeout_ms = 10000;
  cp_status st;
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
    cp_client_destroy(c);
    return usage();
  }
  cp_client_destroy(c);
  if (rc != 0) {
    fprintf(stderr, "url-client: %s: %s\n", cp_status_code_name(st.code),
            st.message);
    return 1;
  }
  return 0;
}
