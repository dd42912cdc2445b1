/* cplugin — the gRPC server: listeners, handlers, interceptors, streams.
 *
 * Lifecycle: cp_server_create → cp_server_listen (one or more) →
 * register methods and interceptors → cp_server_start → ... →
 * cp_server_shutdown → cp_server_destroy.
 *
 * Thread model: the server runs `threads` completion-queue threads. Handlers
 * and interceptors run on them and must not block for long. A handler that
 * waits for something keeps its call and answers later, from any thread: a
 * unary handler with cp_call_defer, a streaming handler with
 * cp_stream_keep. Handlers that must block (a database call, a file read, a
 * blocking client call such as cp_client_unary) are marked with
 * cp_server_run_blocking: they then run on a worker pool of their own and
 * never on a completion-queue thread (interceptors still do).
 * docs/handlers.md says which style to pick when.
 *
 * Thread safety: configuration functions (listen, add_*) must be called before
 * cp_server_start from one thread. cp_server_shutdown and the cp_stream
 * functions are safe from any thread.
 */
#ifndef CPLUGIN_SERVER_H
#define CPLUGIN_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "cplugin/export.h"
#include "cplugin/call.h"
#include "cplugin/service.h"
#include "cplugin/status.h"
#include "cplugin/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cp_server cp_server;

typedef struct cp_server_options {
  /* Completion-queue threads; 0 = half the online CPUs, at least one. gRPC
   * hands polling from thread to thread at every wake-up, so on a small
   * machine shared with the host's plugins one thread per process is far
   * cheaper than one per CPU (on 2 vCPUs: a unary call 24 against 57 us of
   * CPU, 36 against 63 us of latency, the same calls/s at 4x32; see
   * docs/performance.md). Raise it for a server that has cores to itself
   * and saturates its threads. */
  unsigned threads;
  /* Busy polling (default 0 = off): after each event a completion-queue
   * thread keeps polling the network without sleeping for this many
   * microseconds (at most 10 000) before it blocks. Trades CPU for latency
   * where a wake-up is dear: a thread whose calls arrive less than
   * busy_poll_us apart never sleeps, and each quiet spell costs up to
   * busy_poll_us of CPU. On the 2-vCPU VM of docs/performance.md, 300 on a
   * host cut the mean latency of a routed call at one call in flight by a
   * third (348 to 235 us) for 23 % more host CPU per call, and left
   * throughput at 4x32 as it was. Ignored by a non_polling server. */
  unsigned busy_poll_us;
  /* Largest request and response message in bytes (default 4 MiB). Larger
   * requests fail with RESOURCE_EXHAUSTED. */
  size_t max_message_bytes;
  /* Per server stream: how many messages (default 256) and bytes (default
   * 8 MiB) may wait for a slow reader before cp_stream_send returns
   * CP_EAGAIN. */
  size_t stream_queue_messages;
  size_t stream_queue_bytes;

  /* HTTP/2 and connection limits, per client connection (what one peer can
   * make the server hold or do). 0 is not allowed where a default is given
   * unless it says "0 = off". */
  /* Calls open at once on one connection (default 1000); a client queues
   * the calls past it until one ends. */
  unsigned max_concurrent_streams;
  /* Request metadata (headers) of one call, in bytes (default 16 KiB);
   * larger header blocks fail the call. */
  size_t max_metadata_bytes;
  /* Keepalive policy: a peer that pings more often than every
   * min_ping_interval_ms without data (default 5 min, gRPC's) gets a strike;
   * after max_ping_strikes (default 2) the connection is closed (GOAWAY
   * "too_many_pings"). */
  int64_t min_ping_interval_ms;
  unsigned max_ping_strikes;
  /* A connection with no call open for this long is closed (default
   * 30 min; 0 = off). Clients reconnect when they next call. */
  int64_t max_connection_idle_ms;
  /* Connections older than this are asked to go away (GOAWAY; default 0 =
   * off); calls still open get max_connection_age_grace_ms to finish
   * (default 0 = as long as they need). */
  int64_t max_connection_age_ms;
  int64_t max_connection_age_grace_ms;
  /* Request bytes one call may have buffered before the server reads its
   * request: the HTTP/2 stream window it advertises (default 0 = gRPC's
   * adaptive window, which grows with the measured bandwidth-delay product
   * to megabytes on loopback). Set it, with cp_server_limit_anonymous_reads,
   * to bound what calls waiting to be read can make the server hold; at
   * least 1024. Reads in progress open the window as they need. */
  size_t stream_window_bytes;
  /* false (default): cp_server_start refuses a server without a listener,
   * which is nearly always a forgotten cp_server_listen. true: such a server
   * starts and is reached only through connections handed to it with
   * cp_server_add_connection (an in-process plugin: no port, no socket
   * file). */
  bool allow_no_listener;
  /* false (default): the server's threads also wait on the network for the
   * whole process. true: they run this server's handlers and completions
   * only, and its connections are read and written by the threads that do
   * wait on the network: another server's, or any thread in a blocking
   * client call. For a listener-less server beside a main one (the host's
   * capabilities): gRPC passes the network wait from one waiting thread to
   * the next at every wake-up, so each extra waiting thread in a process
   * costs every call of every server a hand-off between threads (a routed
   * call through the host: 6 futex calls and 2 eventfd wake-ups more; see
   * docs/performance.md). Needs allow_no_listener and no listener
   * (cp_server_start returns CP_ESTATE otherwise). Its shutdown waits on the
   * network itself, so it completes with no other server left. When gRPC
   * does not use its one-epoll-set poller (GRPC_POLL_STRATEGY names
   * another), connections are polled only by the threads of their own
   * server, and this option is ignored. */
  bool non_polling;
} cp_server_options;

/* Fills `opts` with the defaults. */
CP_API void cp_server_options_init(cp_server_options *opts);

/* Creates a server. `opts` may be NULL for the defaults; it is copied.
 * Returns 0 and sets *out, or CP_EINVAL / CP_ENOMEM. Destroy with
 * cp_server_destroy. */
CP_API int cp_server_create(cp_server **out, const cp_server_options *opts);

/* Adds a plaintext listener. `address` is "host:port" (port 0 picks a free
 * port), "unix:/path" or "unix-abstract:name". On success *bound_port (if not
 * NULL) receives the TCP port (0 for Unix sockets). Returns 0, CP_EINVAL,
 * CP_ESTATE after start, or CP_EBIND when the address cannot be bound.
 * Unix sockets are accepted on a thread of the server's own (from
 * cp_server_start until shutdown), so that callers can be told apart by
 * user (SO_PEERCRED); the socket file is replaced if stale and removed at
 * shutdown, as gRPC does. */
CP_API int cp_server_listen(cp_server *server, const char *address,
                            int *bound_port);

/* As cp_server_listen, with TLS (or mutual TLS when
 * tls->require_client_cert). PEM files are read now. Returns 0, CP_EINVAL
 * for missing or unreadable certificates/keys, CP_ESTATE after start, or
 * CP_EBIND. */
CP_API int cp_server_listen_tls(cp_server *server, const char *address,
                                const cp_tls_server_options *tls,
                                int *bound_port);

/* Registers `handler` for `method` (the handler's real type must match the
 * method descriptor's invoker; generated *__register functions do this).
 * Returns 0, CP_EINVAL, CP_EEXIST for a path registered twice, or CP_ESTATE
 * after start.
 *
 * The request a handler receives, and every string and array in it, is
 * valid until the handler returns (also when it kept its call with
 * cp_call_defer or cp_stream_keep): copy what you keep. A request larger than the
 * method's cap (below), or one whose decoding would allocate more than 16x
 * its wire size plus 64 KiB, is answered RESOURCE_EXHAUSTED before the
 * handler runs; one that does not decode, INVALID_ARGUMENT. */
CP_API int cp_server_add_method(cp_server *server, const cp_method_desc *method,
                                cp_generic_fn handler, void *user);

/* One method of a cp_server_add_methods batch. */
typedef struct cp_method_entry {
  const cp_method_desc *method;
  cp_generic_fn handler;
  void *user;
} cp_method_entry;

/* Registers `count` methods as cp_server_add_method does, all or none: on
 * any error (a bad entry, a path registered before or twice in the batch,
 * no memory) nothing of the batch is registered. Generated *__register
 * functions add a whole service this way. `entries` is read during the
 * call only. Returns 0 (also for count 0), CP_EINVAL, CP_EEXIST, CP_ENOMEM
 * or CP_ESTATE after start. */
CP_API int cp_server_add_methods(cp_server *server,
                                 const cp_method_entry *entries, size_t count);

/* Caps the request size of the methods registered so far whose path starts
 * with `path_prefix` ("/pkg.Service/" for a service, a full path for one
 * method) at `max_bytes` (at most max_message_bytes). The length is checked
 * before anything is decoded. Returns 0, CP_ENOTFOUND when no method
 * matched, CP_EINVAL, or CP_ESTATE after start. */
CP_API int cp_server_limit_requests(cp_server *server, const char *path_prefix,
                                    size_t max_bytes);

/* --- worker pools for blocking handlers -------------------------------------
 * A method marked with cp_server_run_blocking has its handler run on a pool
 * of worker threads. Its interceptors run on a completion-queue thread as
 * usual; once its request was read, the call waits in the pool's queue and a
 * pool thread decodes the request, runs the handler and sends the reply
 * (unary), or runs the handler on a stream (server-streaming; the stream
 * works as for any handler, cp_stream_keep included).
 *
 * - A call that finds the pool full (`threads` handlers running and
 *   `queue_length` calls waiting) is answered RESOURCE_EXHAUSTED ("worker
 *   pool queue full") at once; its handler never runs.
 * - A call whose deadline passes while it waits is answered
 *   DEADLINE_EXCEEDED without its handler. A handler that outlives its
 *   deadline may still reply: the client already got DEADLINE_EXCEEDED from
 *   gRPC and the late reply is dropped. A waiting call whose client
 *   cancelled still runs: as on completion-queue threads, a unary handler's
 *   cp_call_is_cancelled reports the deadline and forced shutdown, and a
 *   stream's also the client's cancellation.
 * - cp_server_shutdown: during the grace period the pools keep running the
 *   calls already received (gRPC accepts no new ones). When the grace period
 *   ends, calls still waiting are answered UNAVAILABLE without their handler
 *   (they never ran, so a client may retry them elsewhere), running handlers
 *   see cp_call_is_cancelled() become true, and shutdown waits for them to
 *   return, then joins the pool threads, all before it returns. The
 *   completion-queue threads stop only after that, so a pool handler may
 *   still complete work that needs them (its reply, a client call).
 *   A handler that never returns holds cp_server_shutdown forever.
 * - Pool threads are server threads: a handler must not call
 *   cp_server_shutdown, cp_server_wait or cp_server_destroy.
 */
typedef struct cp_worker_pool_options {
  /* Handlers running at once: 1..1024 (default 8). */
  unsigned threads;
  /* Calls waiting for a thread: 0..1048576 (default 64; 0 = a call is
   * refused unless a thread is free). A thread is busy until its handler's
   * answer is handed to gRPC, which can be a moment after the client read
   * it: with 0, a client's next call may still be refused. Each waiting
   * call holds its request bytes (up to the method's request cap). */
  size_t queue_length;
} cp_worker_pool_options;

/* Fills `opts` with the defaults (8 threads, 64 queued). */
CP_API void cp_worker_pool_options_init(cp_worker_pool_options *opts);

/* Runs the handlers of the methods registered so far whose path starts with
 * `path_prefix` ("/pkg.Service/" for a service, a full path for one method)
 * on one new worker pool with `opts` (copied; NULL for the defaults). Each
 * call makes one pool, shared by the methods it matched; a method matched by
 * a later call moves to that call's pool. Its threads start with
 * cp_server_start and are joined by cp_server_shutdown. Generated code
 * registers a whole service with cp_P__register: mark it afterwards with its
 * "/pkg.Service/" prefix, or single methods with their full paths.
 * Returns 0, CP_ENOTFOUND when no method matched, CP_EINVAL (NULL server or
 * prefix, prefix not starting with '/', options out of range), CP_ENOMEM,
 * or CP_ESTATE after start. Same thread rules as the other configuration
 * functions. */
CP_API int cp_server_run_blocking(cp_server *server, const char *path_prefix,
                                  const cp_worker_pool_options *opts);

/* --- reading anonymous requests ---------------------------------------------
 * gRPC receives a request message whole before the server can check its
 * size, so reading a 4 MiB request costs 4 MiB even when the method's cap is
 * 64 KiB. A server can bound that for calls nobody vouched for: the request
 * of a call that the interceptors admitted without recording an identity
 * (cp_call_set_identity) is read only while one of `total` read slots, and
 * one of `per_peer` slots of its peer key, is free. Waiting calls hold no
 * more than the stream window (stream_window_bytes) each and are read in
 * arrival order. While calls wait, a read that has held its slot for
 * `stall_ms` is cancelled with RESOURCE_EXHAUSTED, so a peer that trickles
 * its request cannot keep others waiting. Calls with an identity are read
 * at once. Off unless set. */
enum { CP_SERVER_PEER_KEY_MAX = 128 };

/* Writes the key under which `peer` (cp_call_peer) is counted, NUL-ended,
 * into `out`. Called on completion-queue threads; must not block. */
typedef void (*cp_server_peer_key_fn)(const char *peer,
                                      char out[CP_SERVER_PEER_KEY_MAX],
                                      void *user);

typedef struct cp_anonymous_read_limits {
  size_t total;    /* read slots for anonymous calls (≥ 1) */
  size_t per_peer; /* of which one peer key may hold (1 ≤ per_peer ≤ total) */
  int64_t stall_ms;               /* > 0 */
  cp_server_peer_key_fn peer_key; /* NULL: the peer without its port */
  void *peer_key_user;
} cp_anonymous_read_limits;

/* Sets the limits (copied). Returns 0, CP_EINVAL, or CP_ESTATE after
 * start. */
CP_API int cp_server_limit_anonymous_reads(
    cp_server *server, const cp_anonymous_read_limits *limits);

/* Adds an application's services to `server` (before it starts): the shape
 * of the hooks through which cplugin asks for them (a capability's, an
 * in-process plugin's). Returns 0 or a CP_E* code. */
typedef int (*cp_register_services_fn)(cp_server *server, void *user);

/* A server interceptor runs before the handler. It sees the method,
 * metadata, peer and deadline and may record an identity; the request
 * message is not read yet (see above). Return CP_STATUS_OK to continue; any
 * other code rejects the call with that code (set a message with
 * cp_call_error) and neither later interceptors nor the handler run.
 * Interceptors also run for unknown methods (cp_call_method is then NULL)
 * before the UNIMPLEMENTED answer. */
typedef cp_status_code (*cp_server_interceptor_fn)(cp_call *call, void *user);

/* Where an interceptor runs. Every interceptor of an earlier phase runs
 * before any of a later one, whatever order they were added in; within a
 * phase they run in the order added. So a check that reads the caller's
 * identity (a policy) can never run before the interceptor that records it,
 * however a server is assembled. */
typedef enum cp_intercept_phase {
  /* Who is calling: verifies credentials and records the identity
   * (cp_auth_register adds its interceptor here). */
  CP_PHASE_AUTHENTICATION = 0,
  /* What the identity may do: rate limits, authorization
   * (cp_rate_policy_register adds its interceptor here). */
  CP_PHASE_POLICY = 1,
  /* Everything else: the application's own checks, tracing, logging. */
  CP_PHASE_APPLICATION = 2,
} cp_intercept_phase;

/* Adds an interceptor in `phase`. Returns 0; CP_EINVAL for a NULL server or
 * fn or an unknown phase; CP_ESTATE after cp_server_start; CP_ENOMEM. */
CP_API int cp_server_add_interceptor(cp_server *server,
                                     cp_intercept_phase phase,
                                     cp_server_interceptor_fn fn, void *user);

/* A post-call hook runs once per call after its final status is known, with
 * the status code and the duration from arrival to completion. */
typedef void (*cp_server_post_hook_fn)(const cp_call *call, cp_status_code code,
                                       int64_t duration_ns, void *user);

CP_API int cp_server_add_post_hook(cp_server *server, cp_server_post_hook_fn fn,
                                   void *user);

/* --- fallback and forwarding ------------------------------------------------
 * The fallback handles calls to methods that have no registered handler,
 * after the interceptors ran. It answers with a status, or forwards the call
 * with cp_call_forward (the call then belongs to the forward and the value
 * the fallback returns is not used). Without a fallback such calls get
 * UNIMPLEMENTED. Set before cp_server_start. */
typedef cp_status_code (*cp_server_fallback_fn)(cp_call *call, void *user);

CP_API int cp_server_set_fallback(cp_server *server, cp_server_fallback_fn fn,
                                  void *user);

/* Starts serving. Returns 0, CP_ESTATE if already started, if no listener
 * was added (unless opts.allow_no_listener) or if one was added to a
 * non_polling server, or CP_EBIND. */
CP_API int cp_server_start(cp_server *server);

/* --- connections handed over by descriptor ----------------------------------
 * An in-process plugin is served over one end of a socketpair(2) instead of
 * a listener: cp_server_add_connection serves a connected stream socket as
 * one plaintext HTTP/2 connection of this server, with its methods,
 * interceptors, limits and worker pools, as if a listener had accepted it.
 * cp_connection_pair (client.h) makes the pair and both ends at once.
 *
 * Calls on such a connection report the peer (cp_call_peer)
 * "inproc:<n>", n numbering the connections handed over in this process
 * from 1: per-peer limits (anonymous reads, rate limits, identities per
 * address) count each connection as one address of its own. No TLS: the
 * bytes never leave the process, so authentication is by token (the
 * interceptors), as for any plaintext listener.
 *
 * The connection limits of cp_server_options apply as to any connection,
 * and the client at the other end cannot reconnect: after
 * max_connection_idle_ms without a call (default 30 min) or
 * max_connection_age_ms the connection is closed and that client's calls
 * fail UNAVAILABLE for good. A server reached only this way usually sets
 * both to 0 (off); otherwise its user makes a new pair when calls fail
 * UNAVAILABLE. */

/* Serves the connected stream socket `fd` (AF_UNIX, e.g. one end of
 * socketpair(AF_UNIX, SOCK_STREAM)) until the peer closes it or the server
 * shuts down. Takes ownership of `fd` in every case: on success gRPC closes
 * it with the connection; on failure it is closed before this returns.
 * The descriptor is made non-blocking and close-on-exec (a plugin process
 * the host starts later must not inherit it). Returns 0; CP_EINVAL for a NULL
 * server or an `fd` that is not a connected AF_UNIX stream socket;
 * CP_ESTATE before cp_server_start or once cp_server_shutdown began; CP_ENOMEM.
 * Thread safety: any thread, also concurrently with cp_server_shutdown (one
 * of them wins: the connection is served and then shut down with the
 * others, or refused with CP_ESTATE). */
CP_API int cp_server_add_connection(cp_server *server, int fd);

/* A new connection to the running `server` without a listener: makes
 * socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC), serves one end with
 * cp_server_add_connection and stores the other, which the caller owns, in
 * *fd (for cp_client_create_from_connection, or returned by a
 * cp_client_dial_fn). Returns 0; CP_EINVAL (NULL argument); CP_ESTATE as
 * cp_server_add_connection; CP_ESYS when socketpair fails (out of
 * descriptors). On failure *fd is -1 and no descriptor is left open.
 * Thread safety: as cp_server_add_connection. */
CP_API int cp_server_socketpair(cp_server *server, int *fd);

/* Stops accepting calls, lets in-flight calls finish for up to `grace_ms`
 * milliseconds, then cancels the rest (open streams see their done callback,
 * cp_call_is_cancelled becomes true, calls waiting for a worker pool are
 * answered UNAVAILABLE) and waits for the handlers on worker pools and for
 * the threads to finish. Idempotent; safe from any thread except a server
 * thread (completion-queue or worker pool). Returns 0 or CP_ESTATE if never
 * started. */
CP_API int cp_server_shutdown(cp_server *server, int64_t grace_ms);

/* Blocks until the server has shut down (another thread called
 * cp_server_shutdown). Returns 0, or CP_ESTATE if never started. */
CP_API int cp_server_wait(cp_server *server);

/* Shuts down (grace 0) if still running and frees the server. NULL is
 * allowed. Open streams must have been finished by their owners. */
CP_API void cp_server_destroy(cp_server *server);

/* Bytes of messages queued on the server's streams (cp_stream_send and
 * deferred replies) and not yet handed to gRPC: what slow readers make the
 * server hold. Thread-safe; 0 for NULL. */
CP_API size_t cp_server_queued_bytes(const cp_server *server);

/* --- deferred unary replies -------------------------------------------------
 * A unary handler answers by filling its `resp` and returning a status. One
 * that must wait (for an asynchronous client call, a timer, another thread's
 * work) defers instead: it takes the call's reply with cp_call_defer and
 * returns; the holder answers later, from any thread, with exactly one of
 * cp_unary_reply_send (generated code: cp_P__<m>__reply, typed) or
 * cp_unary_reply_fail. Only the holder of a cp_unary_reply can answer, so a
 * handler that returned a status has nothing left to finish the call with.
 *
 * While deferred, the call and its per-call memory (cp_call_alloc, the
 * handler's `resp`) stay valid; the request does not (copy what you keep).
 * Cancellation by the client, the deadline and a forced server shutdown
 * are seen by the holder: cp_unary_reply_is_cancelled turns true and the
 * cancel callback runs; the holder must still answer (nothing is sent then)
 * to release the reply.
 */
typedef struct cp_unary_reply cp_unary_reply;

/* Takes the reply of the unary call whose handler is running on this
 * thread. Afterwards the value the handler returns is not used. Returns the
 * reply, or NULL when `call` is not a unary call inside its handler, was
 * already deferred, is a detached (fuzzing) call, or memory ran out; the
 * handler then answers by returning a status as usual. */
CP_API cp_unary_reply *cp_call_defer(cp_call *call);

/* Answers OK with `resp` (serialised now; the caller keeps its memory) and
 * releases the reply: `reply` must not be used afterwards. Returns 0;
 * CP_ECLOSED when the call was cancelled or ended (nothing is sent);
 * CP_EINVAL for a message that is not the method's response type (the call
 * is answered INTERNAL); CP_ETOOBIG for one over the size limit (answered
 * RESOURCE_EXHAUSTED); CP_ESTATE when the reply was already answered and is
 * still held by the runtime (a second answer is otherwise a use after
 * free, as a second free() is). Never blocks. Any thread. */
CP_API int cp_unary_reply_send(cp_unary_reply *reply,
                               const ProtobufCMessage *resp);

/* Answers with `code` and a printf-style message (fmt may be NULL) and
 * releases the reply. CP_STATUS_OK, which needs a response message, and
 * codes outside 0..16 are answered INTERNAL. Returns 0, CP_ECLOSED (the call
 * had ended) or CP_ESTATE, as cp_unary_reply_send. */
CP_API int cp_unary_reply_fail(cp_unary_reply *reply, cp_status_code code,
                               const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Called once, on a server thread, when the call ends before the holder
 * answered: client cancellation, deadline, forced shutdown. It may answer
 * (nothing is sent, the reply is released) or leave that to the holder.
 * Set it from the handler, after cp_call_defer; when the call already
 * ended, it runs at once on this thread. */
typedef void (*cp_unary_cancel_fn)(cp_unary_reply *reply, void *user);
CP_API void cp_unary_reply_on_cancel(cp_unary_reply *reply,
                                     cp_unary_cancel_fn fn, void *user);

/* True once the call was cancelled, its deadline passed or the server began a
 * forced shutdown. Any thread. */
CP_API bool cp_unary_reply_is_cancelled(const cp_unary_reply *reply);

/* The deferred call: for metadata, cp_call_alloc, cp_call_add_trailer
 * (before answering). Valid until the reply is answered; used by one thread
 * at a time. */
CP_API cp_call *cp_unary_reply_call(cp_unary_reply *reply);

/* --- server streams ---------------------------------------------------------
 * A server-streaming handler receives a cp_stream. It may send messages and
 * return a final status, or keep the stream with cp_stream_keep: the holder
 * may then send from any thread and must end the stream with
 * cp_stream_finish exactly once (also after it was cancelled), and the value
 * the handler returns is not used. A handler that did not keep its stream
 * must not use it after returning.
 */

/* Keeps the stream of the handler running on this thread open after the
 * handler returns. Call it before handing the stream to another thread.
 * Returns 0, or CP_ESTATE when the handler already returned or kept it. */
CP_API int cp_stream_keep(cp_stream *stream);

/* Queues `msg` (serialised immediately, so the caller keeps its memory).
 * Returns 0; CP_EAGAIN when the queue for this stream is full (the slow-reader
 * policy: nothing is dropped silently, the caller decides to retry later, to
 * coalesce or to finish the stream); CP_ECLOSED when the stream was finished
 * or cancelled; CP_ETOOBIG for a message over the size limit; CP_EINVAL for a
 * message of the wrong type. Never blocks. */
CP_API int cp_stream_send(cp_stream *stream, const ProtobufCMessage *msg);

/* Ends the stream after the queued messages with `code` and a printf-style
 * message (fmt may be NULL). From the holder of a kept stream it releases
 * the stream: `stream` must not be used afterwards. A handler may also end
 * its stream this way before returning (its return value is then not
 * used). Safe after cancellation (then nothing is sent). Returns 0, or
 * CP_ESTATE when the stream was already finished and is still held by the
 * runtime (finishing twice is otherwise a use after free, as a second
 * free() is). */
CP_API int cp_stream_finish(cp_stream *stream, cp_status_code code,
                            const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Tells the holder of a kept stream that the stream ended without its
 * cp_stream_finish: the client cancelled, the deadline passed, the server
 * shut down or a write failed. It runs once, on a server thread, and never
 * after the holder's own cp_stream_finish. The stream is then over (nothing
 * more reaches the client), but the holder still owns it and releases it
 * with cp_stream_finish, here or later from any thread: on an ended stream
 * that sends nothing and never blocks. Set it before handing the stream to
 * another thread. */
typedef void (*cp_stream_done_fn)(cp_stream *stream, void *user);
CP_API void cp_stream_on_done(cp_stream *stream, cp_stream_done_fn fn,
                              void *user);

/* True once the stream can no longer deliver messages. Any thread. */
CP_API bool cp_stream_is_closed(const cp_stream *stream);

/* --- client-streaming and bidirectional handlers ----------------------------
 * Their handler gets a cp_stream and no request: it keeps the stream
 * (cp_stream_keep) and reads the client's messages with cp_stream_read
 * (generated code: cp_P__<m>__read, typed). The callback runs once per
 * message, in order, on a server thread, never twice at once for one
 * stream; the next message is read only after it returned, so a slow
 * reader slows the client through HTTP/2 flow control and nothing queues
 * without bound. The message is valid during the callback only. Reading
 * ends with one more call with `msg` NULL, always: after the client's last
 * message (it half-closed), or once the call ended (answered, a message
 * refused, cancelled: cp_stream_is_closed is then true, except that a
 * cancellation gRPC reports as the end of the messages looks like a
 * half-close; an answer then goes nowhere and the call ends CANCELLED), so
 * the callback can release what it holds there. A message over the
 * method's request cap, or one that does not decode, cancels the call
 * (RESOURCE_EXHAUSTED, INVALID_ARGUMENT) and the stream's done callback runs,
 * as for any other end not caused by the holder. The stream stays valid
 * during the callback even when the holder finished it meanwhile. Reading
 * pauses while the stream's send queue is full (a bidirectional peer that
 * does not read what it is sent) and resumes as it drains.
 *
 * A client-streaming handler answers once: cp_stream_reply (typed:
 * cp_P__<m>__reply) or cp_stream_finish with an error. A bidirectional one
 * writes with cp_stream_send (typed: cp_P__<m>__write) while it reads, and
 * ends with cp_stream_finish. Either may answer before the client's last
 * message; the call then ends and later messages are not delivered. */
typedef void (*cp_stream_message_fn)(cp_stream *stream,
                                     const ProtobufCMessage *msg, void *user);

/* Starts delivering the client's messages to `fn`. Call it once, from the
 * handler or the holder. When the call already ended, `fn` runs at once, on
 * this thread, with NULL. Returns 0; CP_EINVAL for a NULL argument or a
 * stream of a unary or server-streaming method; CP_ESTATE when reading
 * already started. */
CP_API int cp_stream_read(cp_stream *stream, cp_stream_message_fn fn,
                          void *user);

/* As cp_stream_read with a callback of the method's own type (generated
 * code), called through `method`'s message_invoke; CP_EINVAL unless the
 * stream belongs to `method`. */
CP_API int cp_stream_read_typed(cp_stream *stream, const cp_method_desc *method,
                                cp_generic_fn fn, void *user);

/* Answers a client-streaming call with `resp` and OK, and releases the
 * stream as cp_stream_finish does. Returns as cp_unary_reply_send: 0,
 * CP_ECLOSED, CP_EINVAL (wrong type: answered INTERNAL), CP_ETOOBIG
 * (answered RESOURCE_EXHAUSTED) or CP_ESTATE. */
CP_API int cp_stream_reply(cp_stream *stream, const ProtobufCMessage *resp);

/* The call the stream belongs to: valid until cp_stream_finish. Only the
 * read-only accessors of call.h may be used on it from other threads. */
CP_API cp_call *cp_stream_call(cp_stream *stream);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_SERVER_H */
