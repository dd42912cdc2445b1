/* cplugin — the gRPC client: a channel to one target, unary calls (blocking
 * or asynchronous), server-streaming, client-streaming and bidirectional
 * calls, client interceptors.
 *
 * Thread safety: a cp_client is safe to share: any number of threads may issue
 * calls on it at once over its one channel. A cp_client_stream is used by one
 * thread, except cp_client_stream_cancel which any thread may call, and the
 * sending and reading sides of a client-streaming or bidirectional stream
 * (below).
 */
#ifndef CPLUGIN_CLIENT_H
#define CPLUGIN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "cplugin/export.h"
#include "cplugin/service.h"
#include "cplugin/status.h"
#include "cplugin/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cp_client cp_client;
typedef struct cp_client_stream cp_client_stream;
typedef struct cp_client_loop cp_client_loop; /* see below */

typedef struct cp_client_options {
  /* Largest response message in bytes (default 4 MiB). */
  size_t max_message_bytes;
  /* Timeout used when a call sets none; 0 = no deadline (default 0). */
  int64_t default_timeout_ms;
  /* TLS or mutual TLS; NULL = plaintext (default). Copied (and PEM files
   * read) by cp_client_create. */
  const cp_tls_client_options *tls;
  /* true: this client's channel opens a connection of its own, never shared
   * with other clients of the same target. By default (false) gRPC lets
   * channels with identical settings share one connection; a load generator
   * that simulates many peers wants one connection each. */
  bool dedicated_connection;
  /* Longest wait between attempts to reconnect after the connection was
   * lost (gRPC's backoff grows from 1 s); 0 = gRPC's default (120 s). A
   * client of a host that may restart keeps it short, so calls work again
   * soon after the host is back (cp_plugin_runtime uses 2 s). */
  int64_t max_reconnect_backoff_ms;
  /* false (default): a thread blocked in this client's calls or stream
   * operations waits on the network for the whole process. true: it sleeps
   * until gRPC reports its completion from another thread, and the
   * connection is read and written by the threads that do wait on the
   * network, which the process must have: a running cp_server's (not a
   * non_polling one); without them the blocking calls of this client end
   * only by their deadline or cancellation. For a client inside a server
   * process that keeps a call waiting (a host's watch on etcd): gRPC passes
   * the network wait between all waiting threads, so each such thread
   * costs every call of the server a hand-off between threads (measured:
   * two watches made each call cost about 40 % more server CPU; see
   * docs/performance.md). Asynchronous calls and streams are not affected.
   * Ignored, as for servers, when gRPC does not use its one-epoll-set
   * poller. */
  bool non_polling;
  /* The completion thread this client's asynchronous calls and streams
   * share with other clients (cp_client_loop_create, below); not owned, it
   * must outlive the client. NULL (default): the client starts a thread of
   * its own with its first asynchronous call. */
  cp_client_loop *loop;
} cp_client_options;

CP_API void cp_client_options_init(cp_client_options *opts);

/* --- a completion thread shared by many clients -----------------------------
 * Each client otherwise waits for the completions of its asynchronous calls
 * and streams on a thread of its own, and gRPC passes the wait on the network
 * from thread to thread: a process with thousands of such clients (a load
 * generator standing in for a fleet of plugins, a host that dials many
 * providers) spends its time handing that wait around (measured with 5 000
 * clients: 37 % of the process's CPU in futex wake-ups, and a load
 * generator a third behind its schedule; see docs/performance.md). A loop is one completion queue and one thread that
 * any number of clients share (cp_client_options.loop).
 *
 * What changes for those clients: the callbacks of asynchronous unary calls
 * of clients without interceptors run on the loop's thread, so callbacks of
 * all the loop's clients run one at a time and a slow one delays all of
 * them. Deliveries of asynchronous streams and the continuations of calls
 * through interceptors still run on each client's callback thread. Every
 * other rule of the asynchronous API stays: exactly-once callbacks, and
 * cp_client_close / cp_client_destroy end and wait for the client's own
 * calls and streams only.
 *
 * Thread safety: create and destroy from any one thread; clients use the
 * loop from any thread. */

/* Starts the loop's thread. Returns 0 and *out, CP_EINVAL (NULL out),
 * CP_ENOMEM or CP_ESYS. */
CP_API int cp_client_loop_create(cp_client_loop **out);

/* Stops the thread and frees the loop. Returns 0 (NULL allowed) or, while
 * a client created with it has not been destroyed, CP_ESTATE and changes
 * nothing. Not from the loop's own thread (a callback). */
CP_API int cp_client_loop_destroy(cp_client_loop *loop);

/* The trailing metadata a call ended with, e.g. "retry-after-ms" beside
 * RESOURCE_EXHAUSTED from a cplugin server's rate limiter. The caller
 * creates, owns and may reuse one, and passes it in cp_call_options; the
 * call replaces its contents when it ends (with an interceptor that retries,
 * the last attempt's). Read it only once the call ended: after a blocking
 * call returned, in or after an asynchronous call's callback, after
 * cp_client_stream_next returned CP_EEND or CP_ERPC. Not thread-safe. */
typedef struct cp_trailers cp_trailers;

/* Returns 0 with an empty *out, CP_EINVAL or CP_ENOMEM. */
CP_API int cp_trailers_create(cp_trailers **out);
/* NULL allowed. */
CP_API void cp_trailers_destroy(cp_trailers *t);
CP_API size_t cp_trailers_count(const cp_trailers *t);
/* Entry i (< count), in arrival order: its key (lower case) and value, with
 * the value's length. Binary ("-bin") values may hold any byte, NUL
 * included; every value is also NUL-terminated. Pointers stay valid until
 * the next call that fills `t`, or its destruction. Returns 0 or
 * CP_EINVAL. */
CP_API int cp_trailers_at(const cp_trailers *t, size_t i, const char **key,
                          const char **value, size_t *len);
/* The value of the first entry named `key`, and its length (len may be
 * NULL); NULL when there is none. */
CP_API const char *cp_trailers_get(const cp_trailers *t, const char *key,
                                   size_t *len);

/* Per-call options. Everything but `trailers` is copied for the call's
 * duration. */
typedef struct cp_call_options {
  /* Relative deadline; 0 = the client's default. */
  int64_t timeout_ms;
  const cp_metadata *metadata;
  size_t metadata_count;
  /* Filled with the call's trailing metadata when it ends (emptied when it
   * starts); NULL = not wanted. Must stay alive until the call ended (a
   * stream: until it returned its end or was destroyed). */
  cp_trailers *trailers;
} cp_call_options;

CP_API void cp_call_options_init(cp_call_options *opts);

/* Creates a client for `target` ("127.0.0.1:port", "localhost:port",
 * "unix:/path"). The connection is made lazily on the first call. `opts` may
 * be NULL. A plaintext client for a target that is not a loopback address or
 * a Unix socket logs a one-time warning (see CP_TLS_WARNING_ENV). Returns 0
 * and sets *out, CP_EINVAL (also for unreadable TLS files) or CP_ENOMEM. */
CP_API int cp_client_create(cp_client **out, const char *target,
                            const cp_client_options *opts);

/* A client over one already-connected AF_UNIX stream socket `fd` (the
 * other end served by a cp_server, see cp_server_add_connection), for a
 * host talking to an in-process plugin without a listener. It works as a
 * client from cp_client_create: same calls, streams, interceptors, default
 * timeout and message limit, and the same thread safety. Only plaintext
 * (opts->tls must be NULL); dedicated_connection and
 * max_reconnect_backoff_ms have no effect.
 *
 * It cannot reconnect: once the connection ends (the server shut down or
 * closed it for its idle or age limit, the other end was closed) every
 * call, new or in flight, fails UNAVAILABLE; make a new client with a new
 * connection.
 *
 * Takes ownership of `fd` in every case: the client closes it when
 * destroyed; on failure it is closed before this returns. The descriptor
 * is made non-blocking and close-on-exec. Returns 0 and sets *out, CP_EINVAL (NULL out, bad
 * options, TLS, `fd` not a connected AF_UNIX stream socket) or CP_ENOMEM. */
CP_API int cp_client_create_from_connection(cp_client **out, int fd,
                                            const cp_client_options *opts);

/* Makes a connection for a dialing client: stores in *fd the client's end
 * of a new connected AF_UNIX stream socket whose other end a server serves
 * (cp_server_socketpair does both) and returns 0, or returns a CP_E* code.
 * Called from cp_client_create_dialing and from the thread opening a call,
 * with the client's dial lock held: it must not use the client. */
typedef int (*cp_client_dial_fn)(int *fd, void *user);

/* A client over connections it makes itself with `dial`, for a peer that
 * is reached without a listener and may close idle connections (the host
 * of an in-process plugin). It works as a client from
 * cp_client_create_from_connection, with one difference: before each call
 * opens, the client checks whether the server has closed the connection
 * (its idle or age limit, a shutdown) and, if so, dials a new one and
 * sends the call there. Calls in flight on a connection that ends fail
 * UNAVAILABLE, as on any connection; so may a call that opens in the
 * instant the server closes one. A failed dial leaves the closed
 * connection in place (that call fails UNAVAILABLE) and the next call dials
 * again.
 *
 * The first connection is dialled here. `dial` and `user` must stay valid
 * until cp_client_destroy. Returns 0 and sets *out; CP_EINVAL (NULL out or
 * dial, bad options, TLS, a descriptor that is not a connected AF_UNIX
 * stream socket); the dial's error; CP_ESYS; CP_ENOMEM. Thread safety: as
 * any client; calls opening at once are serialised only while they open. */
CP_API int cp_client_create_dialing(cp_client **out, cp_client_dial_fn dial,
                                    void *user, const cp_client_options *opts);

/* Connects a new client to the running `server` without a listener: makes
 * socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC), serves one end with
 * cp_server_add_connection and wraps the other with
 * cp_client_create_from_connection (`opts` as there; NULL for the
 * defaults). Returns 0 and sets *client_out (destroy it with
 * cp_client_destroy, before or after the server shuts down); CP_EINVAL;
 * CP_ESTATE when the server is not running; CP_ESYS when socketpair fails
 * (out of descriptors); CP_ENOMEM. On failure no descriptor is left open
 * and *client_out is NULL. Thread safety: as cp_server_add_connection. */
struct cp_server;
CP_API int cp_connection_pair(struct cp_server *server, cp_client **client_out,
                              const cp_client_options *opts);

/* Closes the client: later calls fail with CP_ECLOSED, open streams are
 * cancelled, and asynchronous calls in flight are cancelled (each one's
 * callback still runs, once, with CANCELLED "client is closed"; a call
 * waiting for a retry backoff stops waiting). Idempotent.
 * Safe from any thread, also from an asynchronous call's callback. Does not
 * wait for those callbacks. */
CP_API void cp_client_close(cp_client *client);

/* Closes and frees the client: waits until the callback of every
 * asynchronous call started on it has returned (an asynchronous interceptor
 * that has not decided yet is waited for), then joins the client's
 * completion and callback threads. No blocking call or cp_client_unary_async may be running
 * on the client from another thread, and it must not be called from one of
 * the client's own callbacks (it would wait for itself). NULL allowed. */
CP_API void cp_client_destroy(cp_client *client);

/* Unary call. On return `status` (never NULL) holds the outcome. Returns 0
 * when the call succeeded and *resp holds the response (free it with
 * protobuf_c_message_free_unpacked(*resp, NULL)); CP_ERPC when the call ended
 * with a non-OK status (*resp NULL); CP_EINVAL for bad arguments; CP_ECLOSED
 * after cp_client_close. `opts` may be NULL. */
CP_API int cp_client_unary(cp_client *client, const cp_method_desc *method,
                           const ProtobufCMessage *req, ProtobufCMessage **resp,
                           const cp_call_options *opts, cp_status *status);

/* --- asynchronous unary calls -----------------------------------------------
 * cp_client_unary_async starts a unary call and returns without waiting for
 * it. The outcome is delivered to a callback on the client's completion
 * thread: one thread per client, started by the first asynchronous call and
 * joined by cp_client_destroy. Callbacks of one client therefore never run
 * concurrently with each other; callbacks of different clients may.
 *
 * Exactly once: when cp_client_unary_async returns 0, `done` runs exactly
 * once — after the response and status arrived (of the last attempt, with a
 * retrying interceptor), the deadline passed, the server failed, an
 * interceptor ended the call (an open breaker), or cp_client_close cancelled
 * it, also while it waited for a retry backoff — and never inside
 * cp_client_unary_async itself. When it returns an error, `done` never runs.
 *
 * Interceptors: the call runs through the client's interceptors when each
 * of them has an asynchronous form (cp_client_add_interceptor_async; the
 * resilience interceptors and the plugin runtime's clients have one). The
 * first interceptor's async form is entered on the calling thread; every
 * later step — transport attempts ending, retry backoff timers,
 * interceptor continuations, and `done` — runs on the client's callback
 * thread, never blocking it for a wait. A client with an interceptor added
 * by plain cp_client_add_interceptor (blocking only) refuses asynchronous
 * calls with CP_ESTATE rather than skip it silently.
 *
 * Threads: a client has a completion thread (gRPC's completions; the
 * loop's when it shares one, see cp_client_loop) and, once a call through
 * interceptors was made, a callback thread; both are started by the first
 * asynchronous call and joined by cp_client_destroy. `done` runs on the
 * completion thread for a client without interceptors and on the callback
 * thread otherwise: either way on one thread at a time, so callbacks of
 * one client never run concurrently with each other.
 */

/* The outcome of an asynchronous unary call. `status` is valid during the
 * callback only. On OK, `resp` is the decoded response and belongs to the
 * callback (free it with protobuf_c_message_free_unpacked(resp, NULL));
 * otherwise it is NULL. A response that does not decode as the method's
 * response type is INTERNAL "response does not decode as <type>", as in
 * cp_client_unary. The callback runs on the client's completion thread and
 * must not block: every other completion of the client waits for it. It may
 * start more asynchronous calls (on this client or others) and may call
 * cp_client_close, but not cp_client_destroy on its own client. */
typedef void (*cp_unary_done_fn)(const cp_status *status,
                                 ProtobufCMessage *resp, void *user);

/* Starts a unary call. `req` is serialised and `opts` (metadata, timeout)
 * copied before it returns, so the caller may free both at once; `user` is
 * passed to `done` untouched. Returns 0 (done will run exactly once);
 * CP_EINVAL for bad arguments (including a NULL `done`); CP_ETOOBIG when the
 * request exceeds max_message_bytes; CP_ECLOSED after cp_client_close;
 * CP_ESTATE when an interceptor of the client has no asynchronous form;
 * CP_ENOMEM; CP_ESYS when a thread cannot be started. Failures decided by
 * an interceptor (an open circuit breaker) are not errors here: they reach
 * `done`, like any status. Thread safety: any thread, any number
 * at once, including the client's own callbacks. */
CP_API int cp_client_unary_async(cp_client *client,
                                 const cp_method_desc *method,
                                 const ProtobufCMessage *req,
                                 const cp_call_options *opts,
                                 cp_unary_done_fn done, void *user);

/* For generated typed stubs (cp_P__<m>__call_async): an asynchronous
 * unary call whose callback is a typed function pointer stored as `done`
 * (any function pointer type converts to and from cp_generic_fn) and called
 * through the stub's `invoke`, which converts it back. The response is lent
 * to the callback: the runtime frees it when `invoke` returned. Returns as
 * cp_client_unary_async (CP_EINVAL also for a NULL invoke or done). */
typedef void (*cp_unary_invoke_fn)(cp_generic_fn done, const cp_status *status,
                                   const ProtobufCMessage *resp, void *user);

CP_API int cp_client_unary_async_typed(cp_client *client,
                                       const cp_method_desc *method,
                                       const ProtobufCMessage *req,
                                       const cp_call_options *opts,
                                       cp_unary_invoke_fn invoke,
                                       cp_generic_fn done, void *user);

/* Starts a server-streaming call. Returns 0 and *out (destroy with
 * cp_client_stream_destroy), or a negative code with `status` filled. */
CP_API int cp_client_stream_start(cp_client *client,
                                  const cp_method_desc *method,
                                  const ProtobufCMessage *req,
                                  const cp_call_options *opts,
                                  cp_client_stream **out, cp_status *status);

/* Waits for the next message. Returns 0 with *msg set (free with
 * protobuf_c_message_free_unpacked); CP_EEND when the stream ended with OK
 * (status holds it); CP_ERPC when it ended with an error status (status
 * holds it); CP_EINVAL or CP_ESTATE (an asynchronous stream) otherwise.
 * After the end, further calls return the same result:
 *
 *   while ((rc = cp_client_stream_next(s, &msg, &st)) == 0) { ... }
 *   if (rc != CP_EEND) { ... st.code, st.message ... } */
CP_API int cp_client_stream_next(cp_client_stream *stream,
                                 ProtobufCMessage **msg, cp_status *status);

/* Cancels the stream; a blocked cp_client_stream_next returns with
 * CANCELLED. Any thread. */
CP_API void cp_client_stream_cancel(cp_client_stream *stream);

/* Cancels if still open and frees the stream. NULL allowed. */
CP_API void cp_client_stream_destroy(cp_client_stream *stream);

/* --- client-streaming and bidirectional calls -------------------------------
 * cp_client_stream_open starts a call of a client-streaming or bidirectional
 * method without a request; the caller sends messages with
 * cp_client_stream_send, says it is done with cp_client_stream_close_send
 * and reads the responses with cp_client_stream_next (a client-streaming
 * method answers with one message, then its status). The stream is used by
 * one thread at a time (cp_client_stream_cancel: any thread), except that
 * sending (cp_client_stream_send, _close_send) and reading
 * (cp_client_stream_next) may happen on two threads at once (a duplex
 * protocol); concurrent calls on the same side wait for each other.
 * cp_client_stream_destroy needs both sides idle.
 *
 * Interceptors wrap cp_client_stream_open as they wrap a stream start
 * (metadata they add is sent with the call); they see no request, and sends
 * are not intercepted. An interceptor that proceeds again (retry) can only
 * repeat the open: no message can be sent before cp_client_stream_open
 * returned, and everything after it (a failed send, an error status) reaches
 * the caller and is never replayed. cp_client_close cancels open streams of
 * these kinds too. */

/* Starts the call: sends its metadata and waits until it left (bounded by
 * the deadline). Returns 0 and *out (destroy with
 * cp_client_stream_destroy); CP_EINVAL (also for a unary or
 * server-streaming method); CP_ECLOSED after cp_client_close; CP_ERPC when
 * the call failed before anything was sent (e.g. UNAVAILABLE: target
 * unreachable); or another negative code; `status` says why. */
CP_API int cp_client_stream_open(cp_client *client,
                                 const cp_method_desc *method,
                                 const cp_call_options *opts,
                                 cp_client_stream **out, cp_status *status);

/* Sends `msg` (the method's request type; serialised before it returns, so
 * the caller keeps its memory). One message is in flight at a time: this
 * blocks while HTTP/2 flow control holds the previous message back, so a
 * slow server slows its sender; bounded by the call's deadline and
 * cp_client_stream_cancel. Returns 0 once gRPC took the message; a message
 * that then cannot leave because the call ended is reported by the next
 * send or close_send. Returns CP_ECLOSED when the call already ended
 * (cp_client_stream_next tells how); CP_ESTATE after
 * cp_client_stream_close_send (also once the call ended); CP_ETOOBIG over
 * max_message_bytes (nothing sent, the stream goes on); CP_EINVAL for a NULL
 * argument, a message of the wrong type or a stream of another kind. */
CP_API int cp_client_stream_send(cp_client_stream *stream,
                                 const ProtobufCMessage *msg);

/* Half-closes: the server learns that no more messages come. Waits, as a
 * send does, for the last message to leave. Returns 0, CP_ESTATE when
 * already half-closed, CP_ECLOSED when the call ended (also when the last
 * message could not leave), or CP_EINVAL for a NULL stream or one of
 * another kind. */
CP_API int cp_client_stream_close_send(cp_client_stream *stream);

/* For a client-streaming call: half-closes, then waits for the server's one
 * response and its status. Returns 0 with *resp set (free it with
 * protobuf_c_message_free_unpacked(*resp, NULL); resp may be NULL to
 * discard it) when the call ended OK with one message; CP_ERPC when it
 * ended with an error status (*resp NULL, `status` says which; also
 * INTERNAL when the server ended OK without exactly one message, which
 * gRPC forbids); CP_EINVAL for a stream of another kind; CP_ECLOSED after
 * cp_client_close. */
CP_API int cp_client_stream_finish(cp_client_stream *stream,
                                   ProtobufCMessage **resp, cp_status *status);

/* --- asynchronous streams ---------------------------------------------------
 * cp_client_stream_start_async and cp_client_stream_open_async start a
 * stream without blocking the caller at all, and hand its responses to a
 * callback instead of cp_client_stream_next: a deferred server handler can
 * relay a stream without holding a thread while it waits for messages.
 * (cp_client_stream_start and _open block: the start until the request
 * left, which waits for the connection, and a retrying interceptor until
 * the first message came.)
 *
 * A stream is asynchronous from its start: gRPC binds a call to one
 * completion queue when it is created, and a blocking stream's queue is
 * drained only by a thread waiting in cp_client_stream_next. So there is no
 * switching: on an asynchronous stream cp_client_stream_next and
 * cp_client_stream_finish return CP_ESTATE.
 *
 * Delivery: on the client's callback thread (the thread of asynchronous
 * calls through interceptors, cp_client_unary_async), one message at a
 * time, in order: on_message(OK, msg, user) for each message, then exactly
 * once on_message(final status, NULL, user) — after the server ended the
 * stream, the deadline passed, an interceptor failed the start (an open
 * breaker), cp_client_stream_cancel, cp_client_stream_destroy or
 * cp_client_close ended it (CANCELLED), or a response did not decode
 * (INTERNAL). The next message is received only once the callback
 * returned, so a slow callback slows its server (HTTP/2 flow control). The
 * callback may run before the start function returned to its caller (never
 * inside it), and it never runs when the start returned an error.
 *
 * A client-streaming method answers once: its callback runs exactly once,
 * with (OK, the response) or (the failure, NULL); an OK end without exactly
 * one response is INTERNAL, as in cp_client_stream_finish.
 *
 * Messages are lent: `msg` and `status` are valid during the callback
 * only; the runtime frees the message when it returned (copy what you
 * keep). The callback must not block for long: every callback of the
 * client waits for it. It may call cp_client_stream_send/_close_send on its
 * stream (they wait for HTTP/2 flow control only), cancel or destroy any
 * stream, and start calls.
 *
 * Interceptors: the start runs through the client's asynchronous
 * interceptors as cp_client_unary_async does (metadata they add is sent,
 * they see no request for duplex kinds); a client with a blocking-only
 * interceptor refuses with CP_ESTATE. An attempt is decided — and the
 * interceptor's continuation runs — when a server-streaming call delivered
 * its first message or ended, or when a duplex call's metadata left or its
 * call failed. An attempt that failed before anything was delivered may be
 * retried (cp_invocation_proceed_async again); a started one cannot
 * (CP_ESTATE). Messages reach the callback only after the outermost
 * interceptor completed with 0.
 *
 * Sending (client-streaming, bidirectional): cp_client_stream_send and
 * _close_send work as on a blocking stream; before the start went through
 * the interceptors they wait for it (CP_ECLOSED when the stream ended
 * instead; CP_ESTATE on the client's callback thread, which the start
 * needs). Sends and the callback may run at the same time.
 *
 * Ending: cp_client_stream_destroy cancels the stream if it has not ended;
 * its final callback still runs, once. Called on another thread it waits
 * until that callback returned (so it must not hold anything the callback
 * needs); called on the client's callback thread — from this stream's own
 * callback, say — it returns at once and the stream is freed after its
 * final callback. Destroy every stream before its client; cp_client_destroy
 * waits for the final callbacks of streams still open. */

/* The callback of an asynchronous stream (see above). */
typedef void (*cp_client_message_fn)(const cp_status *status,
                                     const ProtobufCMessage *msg, void *user);

/* Starts a server-streaming call: `req` is serialised and `opts` copied
 * (opts->trailers is kept: filled when the stream ends) before it returns.
 * Returns 0 with *out set (destroy with cp_client_stream_destroy), and
 * on_message then runs as described above; CP_EINVAL for bad arguments
 * (also a NULL on_message or out, or a method of another kind); CP_ETOOBIG
 * when the request exceeds max_message_bytes; CP_ECLOSED after
 * cp_client_close; CP_ESTATE when an interceptor has no asynchronous form;
 * CP_ENOMEM; CP_ESYS when a thread cannot be started. Any thread, also the
 * client's own callbacks. */
CP_API int cp_client_stream_start_async(cp_client *client,
                                        const cp_method_desc *method,
                                        const ProtobufCMessage *req,
                                        const cp_call_options *opts,
                                        cp_client_message_fn on_message,
                                        void *user, cp_client_stream **out);

/* Opens a client-streaming or bidirectional call without waiting, its
 * responses delivered to on_message. Returns as
 * cp_client_stream_start_async. */
CP_API int cp_client_stream_open_async(cp_client *client,
                                       const cp_method_desc *method,
                                       const cp_call_options *opts,
                                       cp_client_message_fn on_message,
                                       void *user, cp_client_stream **out);

/* For generated typed stubs (cp_P__<m>__start_async, __open_async): the
 * typed callback travels as `fn` and is called through `invoke` (the
 * invoker shape of cp_client_unary_async_typed), with the same lending
 * rules. Return as the untyped forms (CP_EINVAL also for a NULL invoke). */
CP_API int cp_client_stream_start_async_typed(cp_client *client,
                                              const cp_method_desc *method,
                                              const ProtobufCMessage *req,
                                              const cp_call_options *opts,
                                              cp_unary_invoke_fn invoke,
                                              cp_generic_fn fn, void *user,
                                              cp_client_stream **out);
CP_API int cp_client_stream_open_async_typed(cp_client *client,
                                             const cp_method_desc *method,
                                             const cp_call_options *opts,
                                             cp_unary_invoke_fn invoke,
                                             cp_generic_fn fn, void *user,
                                             cp_client_stream **out);

/* --- client interceptors ----------------------------------------------------
 * An interceptor wraps each invocation (unary call or stream start). It may add
 * metadata, then call cp_invocation_proceed to run the rest of the chain and
 * the transport — once (observe), several times (retry) or not at all
 * (short-circuit: set the status with cp_invocation_fail). It returns what the
 * last proceed returned, or the code it chose.
 */
typedef struct cp_invocation cp_invocation;

typedef int (*cp_client_interceptor_fn)(cp_invocation *inv, void *user);

/* Adds an interceptor; the first added runs outermost. Must be called before
 * the first call. Returns 0, CP_ENOMEM or CP_ESTATE. */
CP_API int cp_client_add_interceptor(cp_client *client,
                                     cp_client_interceptor_fn fn, void *user);

/* --- asynchronous interceptors ----------------------------------------------
 * The async form of an interceptor wraps cp_client_unary_async calls. It is
 * continuation-based: entered with the invocation, it owns it until it
 * either
 *   - calls cp_invocation_proceed_async(inv, then, arg): the inner layers
 *     run, and when they ended `then(inv, rc, arg)` runs with their outcome
 *     (rc as cp_invocation_proceed returns; status, trailers and response
 *     readable as usual). From `then` it may proceed again (retry), wait
 *     with cp_invocation_resume_after, or complete; or
 *   - calls cp_invocation_complete(inv, rc): its layer ends with `rc` and the
 *     current status (set one first with cp_invocation_fail to
 *     short-circuit), and the layer outside it resumes.
 * Every entry and every continuation must end in exactly one of
 * proceed_async, resume_after or complete; after that call the interceptor
 * no longer touches `inv` in that path. An entry may return before it
 * decided and decide later from any thread (say after fetching a token);
 * the invocation and the call stay pending until it does, and
 * cp_client_destroy waits for it.
 *
 * Threads: an entry runs on the thread that proceeded (the caller's for the
 * outermost, the callback thread for a retry); continuations and timers run
 * on the client's callback thread, one at a time, never inside
 * proceed_async or complete. Nothing may block: a wait is a timer.
 *
 * The blocking form `fn` keeps serving cp_client_unary and stream starts;
 * cp_invocation_proceed on an asynchronous invocation returns CP_ESTATE.
 * Returns as cp_client_add_interceptor; async_fn may be NULL (the client
 * then refuses asynchronous calls). */
typedef void (*cp_client_async_interceptor_fn)(cp_invocation *inv, void *user);

/* A continuation: `rc` is what the inner layers (or the timer) ended with. */
typedef void (*cp_invocation_resume_fn)(cp_invocation *inv, int rc, void *user);

CP_API int cp_client_add_interceptor_async(
    cp_client *client, cp_client_interceptor_fn fn,
    cp_client_async_interceptor_fn async_fn, void *user);

/* Whether `inv` is an asynchronous invocation (from cp_client_unary_async),
 * so its interceptor uses the async calls below. */
CP_API bool cp_invocation_is_async(const cp_invocation *inv);

/* Runs the inner layers; `then` (NULL: pass their outcome on outwards, as
 * if it called cp_invocation_complete with it) runs once they ended. A
 * repeated proceed discards the previous attempt's response. Returns 0;
 * CP_ESTATE when `inv` is not asynchronous or already ended (then nothing
 * happened); CP_EINVAL for a NULL `inv`. */
CP_API int cp_invocation_proceed_async(cp_invocation *inv,
                                       cp_invocation_resume_fn then,
                                       void *user);

/* Ends the calling layer with `rc` (0 only with an OK status and a
 * response from a proceed). Any thread. Returns 0, or CP_ESTATE when `inv`
 * is not asynchronous or already ended. */
CP_API int cp_invocation_complete(cp_invocation *inv, int rc);

/* Runs `fn(inv, 0, user)` on the callback thread after `delay_ns` (>= 0,
 * nanoseconds on CLOCK_MONOTONIC) without blocking any thread. When the
 * client is closed first, `fn` runs at once with CP_ECLOSED and the status
 * set to CANCELLED "client is closed". Returns 0, CP_EINVAL or
 * CP_ESTATE. */
CP_API int cp_invocation_resume_after(cp_invocation *inv, int64_t delay_ns,
                                      cp_invocation_resume_fn fn, void *user);

/* `size` zeroed bytes that live as long as the invocation, for an
 * interceptor's per-call state (retry counts, a breaker ticket). Blocking
 * or asynchronous invocations. NULL when out of memory or size is 0. */
CP_API void *cp_invocation_alloc(cp_invocation *inv, size_t size);

CP_API const cp_method_desc *cp_invocation_method(const cp_invocation *inv);

/* Adds (copies) one metadata entry for this invocation. */
CP_API int cp_invocation_add_metadata(cp_invocation *inv, const char *key,
                                      const char *value);

/* Runs the rest of the chain. Returns as cp_client_unary; the status is
 * readable with cp_invocation_status. A repeated proceed discards the previous
 * attempt's response. */
CP_API int cp_invocation_proceed(cp_invocation *inv);

/* The status of the latest attempt. */
CP_API const cp_status *cp_invocation_status(const cp_invocation *inv);

/* Ends the invocation without (further) transport attempts. Returns CP_ERPC. */
CP_API int cp_invocation_fail(cp_invocation *inv, cp_status_code code,
                              const char *message);

/* The invocation's deadline on the cp_clock_system() scale (nanoseconds), or
 * INT64_MAX when the call has none. Every attempt shares it. */
CP_API int64_t cp_invocation_deadline_ns(const cp_invocation *inv);

/* The value of the text trailing metadata entry `key` (lower case) that came
 * with the latest attempt's status, e.g. the rate limiter's
 * "retry-after-ms"; NULL when there is none (or it was binary). Valid until
 * the next proceed or the end of the invocation. */
CP_API const char *cp_invocation_trailer(const cp_invocation *inv,
                                         const char *key);

/* Stream starts only, after a proceed that returned 0. A started stream has
 * only sent its request: a server that refuses it (rate limit, a handler
 * that fails at once) says so with the stream's first receive. This waits
 * until the stream delivers its first message, which is kept for the first
 * cp_client_stream_next, or ends, bounded by the call's deadline;
 * cp_client_close ends the wait too. Returns 0 when a message is waiting or
 * the stream ended with OK; CP_ERPC when it ended with an error before any
 * message: the status and trailers are that end's, and the stream is
 * discarded, so the interceptor may proceed again (nothing was delivered).
 * CP_EINVAL when there is no started stream.
 *
 * A client-streaming or bidirectional stream returns 0 at once: its server
 * may answer only after messages the caller can send only once the open
 * returned, so waiting could only run into the deadline. */
CP_API int cp_invocation_await_first_message(cp_invocation *inv);

/* --- forwarding -------------------------------------------------------------
 * Forwards the current call of a server fallback (cplugin/server.h) to `path`
 * on `target`: its request message travels as raw bytes, never decoded, and
 * every response message and the final status (with its trailers, binary
 * ones included) come back the same way. Only `metadata` (copied) is sent to
 * the target — the caller's own metadata, credentials included, is never
 * passed on. The caller's deadline and cancellation propagate to the target
 * call, and a target that fails or disappears ends the call with
 * UNAVAILABLE. Nothing blocks: the work is driven by the server's completion
 * queues.
 *
 * Returns 0 (the call now belongs to the forward), CP_EINVAL,
 * CP_ESTATE (not called from a fallback, or called twice) or CP_ECLOSED
 * (target closed). The forward holds its own reference to `target`, so the
 * client may be destroyed while forwarded calls are still in flight. */
CP_API int cp_call_forward(cp_call *call, cp_client *target, const char *path,
                           const cp_metadata *metadata, size_t metadata_count);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_CLIENT_H */
