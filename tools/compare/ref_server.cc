// ref_server: the gRPC C++ reference server of tools/compare.sh.
//
//   ref_server --listen 127.0.0.1:0 --token TOKEN
//
// Serves /cplugin.load.v1.LoadService/Echo (tools/cpluginctl/proto/cplugin/
// load/v1/load.proto) with gRPC C++ (Debian's libgrpc++ 1.51) and answers
// with the request's payload. Every call must carry
// `authorization: Bearer TOKEN`; the value is compared in constant time
// (OpenSSL's CRYPTO_memcmp over the full expected length), anything else is
// UNAUTHENTICATED. Prints `LISTENING <port>` (flushed) once it serves, runs
// until SIGINT or SIGTERM, then prints `SERVED ok=<n>`: the number of Echo
// calls that finished with status OK. Loopback addresses only.
//
// Why the callback API: it is the fastest of gRPC C++'s three server APIs
// for small unary calls on few cores (no thread hand-off per call as in the
// sync API, no completion-queue loop of our own as in the async API; ~80 k
// req/s at h2load -c4 -m32 on the project's 2-core machines,
// /work/shared/toolchain.md). The reference should be the strongest
// reasonable C++ server, not a strawman.
//
// How the bearer check rejects a call. It is a server interceptor
// (grpcpp/support/server_interceptor.h, experimental in 1.51), as the
// comparison asks. But a 1.51 server interceptor cannot end a call by
// itself: InterceptorBatchMethods::Hijack() is valid on the client only
// (it needs PRE_SEND_INITIAL_METADATA of a client call), ServerRpcInfo
// offers no way to send a status, and ServerContext::TryCancel() would
// answer CANCELLED (RST_STREAM), not UNAUTHENTICATED. So the interceptor
// decides and the handler enforces:
//   1. A ContextAllocator (ServerBuilder::SetContextAllocator) makes every
//      call's CallbackServerContext a VerdictContext, which carries one
//      `authenticated` flag, false until proven otherwise.
//   2. AuthInterceptor, created per call by its factory, checks the
//      `authorization` header at POST_RECV_INITIAL_METADATA, which gRPC
//      runs before the handler, and records the verdict in the context.
//   3. The Echo reactor's first statement reads the verdict and, when it is
//      not set, finishes the call with UNAUTHENTICATED without touching the
//      request or writing a response (a non-OK Finish drops the response).
// The handler never does work for a rejected call, and the check costs what
// a C++ interceptor costs (one interceptor object per call plus the hook
// dispatch). The alternative, grpc::AuthMetadataProcessor, rejects inside
// gRPC but is not an interceptor and is refused by insecure server
// credentials (the comparison runs plaintext, as h2load speaks h2c).
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>
#include <openssl/crypto.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <pthread.h>

#include "cplugin/load/v1/load.grpc.pb.h"

namespace {

using cplugin::load::v1::EchoRequest;
using cplugin::load::v1::EchoResponse;
using cplugin::load::v1::LoadService;
using grpc::experimental::InterceptionHookPoints;

// A call's context with the interceptor's verdict.
class VerdictContext : public grpc::CallbackServerContext {
 public:
  bool authenticated = false;
};

class VerdictContextAllocator : public grpc::ContextAllocator {
 public:
  grpc::CallbackServerContext *NewCallbackServerContext() override {
    return new VerdictContext();
  }
  void Release(grpc::CallbackServerContext *ctx) override { delete ctx; }
};

// `expected` is "Bearer <token>"; its length is public, its bytes are not.
bool BearerMatches(const grpc::string_ref &value, const std::string &expected) {
  if (value.size() != expected.size())
    return false;
  return CRYPTO_memcmp(value.data(), expected.data(), expected.size()) == 0;
}

class AuthInterceptor : public grpc::experimental::Interceptor {
 public:
  AuthInterceptor(VerdictContext *ctx, const std::string *expected)
      : ctx_(ctx), expected_(expected) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods *methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      bool ok = false;
      auto *md = methods->GetRecvInitialMetadata();
      auto range = md->equal_range("authorization");
      // Exactly one authorization header, and it must match.
      if (range.first != range.second &&
          std::next(range.first) == range.second) {
        ok = BearerMatches(range.first->second, *expected_);
      }
      ctx_->authenticated = ok;
    }
    methods->Proceed();
  }

 private:
  VerdictContext *ctx_;
  const std::string *expected_;
};

class AuthInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit AuthInterceptorFactory(std::string expected)
      : expected_(std::move(expected)) {}

  grpc::experimental::Interceptor *CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo *info) override {
    // Every callback call's context comes from VerdictContextAllocator. A
    // context from elsewhere (none today) gets no interceptor, and the
    // handler refuses calls whose context is not a VerdictContext.
    auto *ctx = dynamic_cast<VerdictContext *>(info->server_context());
    if (ctx == nullptr)
      return nullptr;
    return new AuthInterceptor(ctx, &expected_);
  }

 private:
  const std::string expected_;
};

std::atomic<unsigned long long> g_served_ok{0};

class EchoService final : public LoadService::CallbackService {
  grpc::ServerUnaryReactor *Echo(grpc::CallbackServerContext *ctx,
                                 const EchoRequest *request,
                                 EchoResponse *response) override {
    grpc::ServerUnaryReactor *reactor = ctx->DefaultReactor();
    // The interceptor's verdict; a context that is not ours is refused.
    auto *vctx = dynamic_cast<VerdictContext *>(ctx);
    if (vctx == nullptr || !vctx->authenticated) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                   "missing or invalid bearer token"));
      return reactor;
    }
    response->set_payload(request->payload());
    g_served_ok.fetch_add(1, std::memory_order_relaxed);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

[[noreturn]] void Usage(const char *msg) {
  std::fprintf(stderr,
               "ref_server: %s\n"
               "usage: ref_server --listen HOST:PORT --token TOKEN\n"
               "  HOST must be loopback (127.0.0.0/8, [::1], localhost)\n",
               msg);
  std::exit(2);
}

bool IsLoopback(const std::string &addr) {
  std::string host;
  if (!addr.empty() && addr[0] == '[') {
    size_t end = addr.find(']');
    if (end == std::string::npos)
      return false;
    host = addr.substr(1, end - 1);
  } else {
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos)
      return false;
    host = addr.substr(0, colon);
  }
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

int main(int argc, char **argv) {
  std::string listen;
  std::string token;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if ((arg == "--listen" || arg == "--token") && i + 1 < argc) {
      (arg == "--listen" ? listen : token) = argv[++i];
    } else if (arg == "-h" || arg == "--help") {
      Usage("help");
    } else {
      Usage(("unknown argument: " + arg).c_str());
    }
  }
  if (listen.empty())
    Usage("--listen is required");
  if (token.empty())
    Usage("--token is required");
  if (!IsLoopback(listen))
    Usage("the listen address must be loopback");

  // Block the stop signals before gRPC starts its threads (they inherit the
  // mask), so that sigwait() below is the only place they arrive.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  EchoService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.SetContextAllocator(std::make_unique<VerdictContextAllocator>());
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      creators;
  creators.push_back(
      std::make_unique<AuthInterceptorFactory>("Bearer " + token));
  builder.experimental().SetInterceptorCreators(std::move(creators));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "ref_server: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::printf("LISTENING %d\n", port);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  // Calls in flight get a short grace period, then are cancelled.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  std::printf("SERVED ok=%llu\n", g_served_ok.load());
  std::fflush(stdout);
  return 0;
}
