/* The metrics HTTP listener on libmicrohttpd: /metrics, /healthz and
 * /readyz on one internal polling thread, bound to one numeric address. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cplugin/errors.h"
#include "cplugin/metrics_http.h"
#include "metrics/http_conns.h"

enum {
  MAX_CONNECTIONS = HTTP_CONNS_CAP,
  /* Slow or idle connections from one address cannot take every slot and
   * keep a prober (or Prometheus) from /healthz and /metrics. */
  PER_ADDRESS_CONNECTIONS = 4,
  IDLE_TIMEOUT_S = 10,
  CONNECTION_MEMORY = 16 * 1024, /* request line + headers */
  /* A shut-down socket is closed at the daemon's next poll: milliseconds.
   * The bound only keeps a stuck daemon from hanging destroy. */
  DRAIN_TIMEOUT_MS = 2000
};

static const char TEXT_TYPE[] = "text/plain; charset=utf-8";

struct cp_metrics_http {
  struct MHD_Daemon *daemon;
  cp_metrics *metrics;
  http_conns conns;
};

/* Marks a request whose headers were seen: the body (if any) comes next. */
static int headers_seen;

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status,
                               const char *type, char *body, size_t len,
                               enum MHD_ResponseMemoryMode mode) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
  if (r == NULL) {
    if (mode == MHD_RESPMEM_MUST_FREE) {
      cp_metric_text_free(body);
    }
    return MHD_NO; /* MHD closes the connection */
  }
  enum MHD_Result ok = MHD_YES;
  if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) !=
          MHD_YES ||
      MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") !=
          MHD_YES ||
      (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
       MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") !=
           MHD_YES)) {
    ok = MHD_NO;
  }
  if (ok == MHD_YES) {
    ok = MHD_queue_response(conn, status, r);
  }
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result send_static(struct MHD_Connection *conn, unsigned status,
                                   const char *text) {
  /* PERSISTENT: MHD neither copies nor frees the string literal. */
  return respond(conn, status, TEXT_TYPE, (char *)text, strlen(text),
                 MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result send_metrics(struct MHD_Connection *conn,
                                    cp_metrics *metrics) {
  char *text = NULL;
  size_t len = 0;
  if (cp_metrics_render(metrics, &text, &len) != 0) {
    return send_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                       "cannot render metrics\n");
  }
  return respond(conn, MHD_HTTP_OK, CP_METRICS_CONTENT_TYPE, text, len,
                 MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  cp_metrics_http *http = cls;
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
    /* Answered at once, before any body is read; MHD then closes the
     * connection rather than read an upload nobody wants. */
    return send_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                       "method not allowed\n");
  }
  if (*con_cls == NULL) {
    *con_cls = &headers_seen;
    return MHD_YES;
  }
  if (*upload_data_size != 0) {
    *upload_data_size = 0; /* a GET with a body: ignore the body */
    return MHD_YES;
  }
  if (strcmp(url, "/metrics") == 0) {
    return send_metrics(conn, http->metrics);
  }
  if (strcmp(url, "/healthz") == 0) {
    return send_static(conn, MHD_HTTP_OK, "ok\n");
  }
  if (strcmp(url, "/readyz") == 0) {
    return cp_metrics_is_ready(http->metrics)
               ? send_static(conn, MHD_HTTP_OK, "ready\n")
               : send_static(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
  }
  return send_static(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* Runs on the daemon's thread as each connection begins and ends. */
static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode event) {
  cp_metrics_http *http = cls;
  (void)socket_context;
  const union MHD_ConnectionInfo *info =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  int fd = info != NULL ? info->connect_fd : -1;
  if (event == MHD_CONNECTION_NOTIFY_STARTED) {
    cpi_http_conns_opened(&http->conns, fd);
  } else {
    cpi_http_conns_closed(&http->conns, fd);
  }
}

/* Fills `addr` from a numeric address; returns its length or 0. */
static socklen_t parse_address(const char *address, int port,
                               struct sockaddr_storage *addr, bool *ipv6) {
  memset(addr, 0, sizeof *addr);
  struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
  if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *ipv6 = false;
    return sizeof *v4;
  }
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
  if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    *ipv6 = true;
    return sizeof *v6;
  }
  return 0;
}

int cp_metrics_http_start(cp_metrics_http **out, cp_metrics *metrics,
                          const char *address, int port, int *bound_port) {
  if (out != NULL) {
    *out = NULL;
  }
  struct sockaddr_storage addr;
  bool ipv6 = false;
  if (out == NULL || metrics == NULL || address == NULL || port < 0 ||
      port > 65535 || parse_address(address, port, &addr, &ipv6) == 0) {
    return CP_EINVAL;
  }
  cp_metrics_http *http = calloc(1, sizeof *http);
  if (http == NULL) {
    return CP_ENOMEM;
  }
  http->metrics = metrics;
  cpi_http_conns_init(&http->conns);
  /* poll, not epoll: with MHD 0.9.75's epoll mode a client that closes
   * half-way through its headers keeps its slot until the idle timeout, so
   * a few abandoned requests would lock everyone out for 10 s. poll has no
   * FD_SETSIZE limit either (select would fail in a host with many fds).
   * ITC: destroy quiesces the daemon before it drains the connections. */
  unsigned flags =
      MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC | (ipv6 ? MHD_USE_IPv6 : 0);
  http->daemon = MHD_start_daemon(
      flags, (uint16_t)port, NULL, NULL, on_request, http, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned int)MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned int)PER_ADDRESS_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned int)IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)CONNECTION_MEMORY, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
      http, MHD_OPTION_END);
  if (http->daemon == NULL) {
    cpi_http_conns_destroy(&http->conns);
    free(http);
    return CP_EBIND;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
  if (bound_port != NULL) {
    *bound_port = info != NULL ? info->port : port;
  }
  *out = http;
  return 0;
}

void cp_metrics_http_destroy(cp_metrics_http *http) {
  if (http == NULL) {
    return;
  }
  /* Stop accepting, end every connection while the daemon still runs, and
   * only then stop it: nothing is left to race its shutdown (see
   * http_conns.h). After a quiesce the listening socket is ours to close. */
  MHD_socket listening = MHD_quiesce_daemon(http->daemon);
  (void)cpi_http_conns_drain(&http->conns, DRAIN_TIMEOUT_MS);
  MHD_stop_daemon(http->daemon);
  if (listening != MHD_INVALID_SOCKET) {
    close(listening);
  }
  cpi_http_conns_destroy(&http->conns);
  free(http);
}
