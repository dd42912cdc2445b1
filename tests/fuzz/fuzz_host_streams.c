/* The host's streaming methods (registry WatchService, both health Watch
 * services) through the server's real path, with live streams: the input is
 * a script that opens watch streams, makes unary calls that change what
 * they watch (handshakes, registrations, health reports) and closes
 * streams, as clients coming and going would. Each step is one record:
 *
 *   [op] [length] [length bytes]
 *
 * op % 4: 0 opens a stream (op / 4 picks the method), 1 and 2 make a unary
 * call (op / 4 picks the method), 3 closes an open stream (op / 4 picks
 * which). Bit 7 of the first byte says whether calls carry a valid runtime
 * token. Every stream left open is closed at the end of the input, so the
 * host's watchers come and go with each input while its registrations and
 * health carry over. */
#include <stdlib.h>

#include "fuzz_host.h"
#include "transport/detached_call.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPEN 8

static const char *const stream_paths[] = {
    "/connectplugin.v1.ServiceRegistry/WatchService",
    "/grpc.health.v1.Health/Watch",
    "/connectplugin.health.v1.HealthService/Watch",
};

static const char *const unary_paths[] = {
    "/connectplugin.v1.ServiceRegistry/RegisterService",
    "/connectplugin.v1.ServiceRegistry/UnregisterService",
    "/connectplugin.v1.PluginLifecycle/ReportHealth",
    "/connectplugin.v1.HandshakeService/Handshake",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool wire_status(cp_status_code code) {
  return code >= CP_STATUS_OK && code < CP_STATUS_CODE_COUNT;
}

/* A stream that ended sent a wire status. */
static void check(cp_detached_stream *s) {
  bool ended = false;
  cp_status_code code = CP_STATUS_OK;
  cpi_detached_stream_written(s, &ended, &code);
  if (ended && !wire_status(code)) {
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const cp_metadata *md;
  cp_host *host = fuzz_host(&md);
  if (size < 1) {
    return 0;
  }
  size_t md_count = (data[0] & 0x80) != 0 ? 2 : 0;
  cp_detached_stream *open[MAX_OPEN];
  size_t open_count = 0;
  size_t at = 1;
  while (at + 2 <= size) {
    uint8_t op = data[at];
    size_t len = data[at + 1];
    at += 2;
    if (len > size - at) {
      len = size - at;
    }
    const uint8_t *body = data + at;
    at += len;
    unsigned pick = op / 4u;
    if (op % 4 == 0) {
      if (open_count == MAX_OPEN) {
        check(open[0]);
        cpi_detached_stream_close(open[0]);
        open[0] = open[--open_count];
      }
      cp_detached_stream *s = NULL;
      cp_status_code code = cpi_server_open_detached_stream(
          cp_host_server(host), stream_paths[pick % COUNT(stream_paths)],
          "ipv4:127.0.0.1:40000", md, md_count, body, len, &s);
      if (!wire_status(code)) {
        abort();
      }
      if (s == NULL) {
        if (code == CP_STATUS_OK) {
          abort(); /* only a refusal hands out no stream */
        }
        continue;
      }
      bool ended = false;
      cp_status_code sent = CP_STATUS_OK;
      cpi_detached_stream_written(s, &ended, &sent);
      if ((code != CP_STATUS_OK && !ended) || (ended && sent != code)) {
        abort(); /* a handler's status is the stream's final status */
      }
      open[open_count++] = s;
    } else if (op % 4 == 3) {
      if (open_count > 0) {
        size_t i = pick % open_count;
        check(open[i]);
        cpi_detached_stream_close(open[i]);
        open[i] = open[--open_count];
      }
    } else {
      size_t response = 0;
      cp_status_code code = cpi_server_invoke_detached(
          cp_host_server(host), unary_paths[pick % COUNT(unary_paths)],
          "ipv4:127.0.0.1:40000", md, md_count, body, len, &response);
      if (!wire_status(code) || (code != CP_STATUS_OK && response != 0)) {
        abort();
      }
    }
  }
  while (open_count > 0) {
    check(open[--open_count]);
    cpi_detached_stream_close(open[open_count]);
  }
  return 0;
}
