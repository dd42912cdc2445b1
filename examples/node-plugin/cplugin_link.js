// What a plugin written in Node needs from a cplugin host, with nothing but
// @grpc/grpc-js and the .proto files: the steps of docs/wire.md, in order.
//
//   const link = new HostLink(pb, hostUrl, {
//     selfId: 'kv', selfVersion: '1.0.0',
//     provides: [['kv', '1.0.0', '/kv.v1.KVService/']],
//     baseUrl: '127.0.0.1:5002', watches: ['storage'], onEvent: console.log,
//   });
//   await link.start();   // handshake, register, report health
//   await link.call('logger', Logger.service.Log, {level: 'info', ...});
//   await link.close();   // unregister
//
// A heartbeat loop keeps the identity (renewal at half its lifetime,
// recovery when the host no longer knows it); each watched service type has
// its WatchService stream, opened again whenever it ends.
'use strict';
const grpc = require('@grpc/grpc-js');

const COOKIE_KEY = 'CONNECT_PLUGIN';
const COOKIE_VALUE = 'd3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e';
const HEARTBEAT_MS = 2000;
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 5000;
const CALL_TIMEOUT_MS = 5000;
// Answers to a heartbeat that mean "the host does not know us (any more)".
const LOST = [grpc.status.UNAUTHENTICATED, grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED];
// A renewal that fails this way may still succeed later: the host may still
// know the identity. Anything else: it does not; join with a new one.
const TRANSIENT = [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED];

function deadline(ms) {
  return new Date(Date.now() + ms);
}

// The host's retry-after-ms on RESOURCE_EXHAUSTED, or null.
function retryAfterMs(err) {
  if (!err || err.code !== grpc.status.RESOURCE_EXHAUSTED || !err.metadata) {
    return null;
  }
  const [value] = err.metadata.get('retry-after-ms');
  return value !== undefined && /^\d+$/.test(String(value)) ?
    Number(value) : null;
}

// A sleep that wake() or stop() ends early.
class Alarm {
  constructor() {
    this.wakeFn = null;
  }
  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeFn = null;
        resolve();
      }, ms);
      this.wakeFn = () => {
        clearTimeout(timer);
        this.wakeFn = null;
        resolve();
      };
    });
  }
  wake() {
    if (this.wakeFn) this.wakeFn();
  }
}

// 100 ms doubling to 5 s, each wait jittered to [0.5, 1) of it; the host's
// retry-after-ms wins.
class Backoff {
  constructor() {
    this.next = BACKOFF_FIRST_MS;
  }
  delay(err) {
    const after = retryAfterMs(err);
    const ms = after !== null ? after : this.next * (0.5 + Math.random() / 2);
    this.next = Math.min(this.next * 2, BACKOFF_MAX_MS);
    return ms;
  }
}

function unary(client, method, request, metadata, timeoutMs) {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method.path, method.requestSerialize,
        method.responseDeserialize, request, metadata || new grpc.Metadata(),
        {deadline: deadline(timeoutMs)},
        (err, reply) => (err ? reject(err) : resolve(reply)));
  });
}

class HostLink {
  constructor(pb, hostUrl, opts) {
    this.opts = Object.assign({watches: [], onEvent: () => {},
      log: () => {}}, opts);
    this.client = new grpc.Client(hostUrl, grpc.credentials.createInsecure());
    const v1 = pb.connectplugin.v1;
    this.methods = {
      handshake: v1.HandshakeService.service.Handshake,
      register: v1.ServiceRegistry.service.RegisterService,
      unregister: v1.ServiceRegistry.service.UnregisterService,
      watch: v1.ServiceRegistry.service.WatchService,
      report: v1.PluginLifecycle.service.ReportHealth,
    };
    this.runtimeId = null;
    this.token = null;
    this.renewAt = null;
    this.registrations = [];
    this.streams = new Map(); // service type -> its open WatchService call
    this.stopped = false;
    this.alarm = new Alarm(); // the heartbeat's sleep
    this.reregister = false; // a watch ended: register again at the check
    this.loops = [];
  }

  // The identity metadata every call to the host carries.
  metadata() {
    const md = new grpc.Metadata();
    md.set('x-plugin-runtime-id', this.runtimeId);
    md.set('authorization', 'Bearer ' + this.token);
    return md;
  }

  async handshake(renew) {
    const request = {
      core_protocol_version: 1,
      app_protocol_version: 1,
      magic_cookie_key: COOKIE_KEY,
      magic_cookie_value: COOKIE_VALUE,
      self_id: this.opts.selfId,
      self_version: this.opts.selfVersion,
      client_metadata: renew ? {renew_runtime_id: this.runtimeId} : {},
    };
    const reply = await unary(this.client, this.methods.handshake, request,
        renew ? this.metadata() : null, CALL_TIMEOUT_MS);
    const ttlMs = Number(reply.server_metadata.runtime_token_ttl_ms || 0);
    this.runtimeId = reply.runtime_id;
    this.token = reply.runtime_token;
    // Renew at half the lifetime: the other half is the margin for a slow
    // or retried renewal. No TTL stated: no renewal.
    this.renewAt = ttlMs > 0 ? Date.now() + ttlMs / 2 : null;
  }

  async registerAll() {
    const ids = [];
    for (const [type, version, path] of this.opts.provides) {
      const reply = await unary(this.client, this.methods.register, {
        service_type: type, version, endpoint_path: path,
        metadata: {base_url: this.opts.baseUrl},
      }, this.metadata(), CALL_TIMEOUT_MS);
      ids.push(reply.registration_id);
    }
    this.registrations = ids;
  }

  reportHealth() {
    return unary(this.client, this.methods.report, {state: 1 /* HEALTHY */},
        this.metadata(), CALL_TIMEOUT_MS);
  }

  // A renewal (same ID) or a new identity; then the registrations (the host
  // keeps them per runtime, type and path: repeating one is harmless) and a
  // first health report. Waits for a host that is not up yet.
  async joinPatiently(renewFirst) {
    const backoff = new Backoff();
    let renew = renewFirst;
    while (!this.stopped) {
      try {
        await this.handshake(renew);
        await this.registerAll();
        await this.reportHealth();
        this.opts.log(`joined the host as ${this.runtimeId}`);
        return true;
      } catch (err) {
        this.opts.log(`joining the host: ${err.code} ${err.details}`);
        if (!TRANSIENT.includes(err.code)) renew = false;
        await this.alarm.sleep(backoff.delay(err));
      }
    }
    return false;
  }

  async heartbeat() {
    while (!this.stopped) {
      await this.alarm.sleep(HEARTBEAT_MS);
      if (this.stopped) return;
      try {
        if (this.renewAt !== null && Date.now() >= this.renewAt) {
          await this.handshake(true);
        }
        await this.reportHealth();
        if (this.reregister) {
          // A host that found us gone removed our registrations but may
          // still accept the token: registering again is idempotent, and
          // restores them.
          this.reregister = false;
          await this.registerAll();
        }
      } catch (err) {
        if (LOST.includes(err.code)) {
          this.opts.log(`host link lost (${err.code}); recovering`);
          await this.joinPatiently(true);
        }
      }
    }
  }

  watchOnce(type) {
    return new Promise((resolve) => {
      const stream = this.client.makeServerStreamRequest(
          this.methods.watch.path, this.methods.watch.requestSerialize,
          this.methods.watch.responseDeserialize, {service_type: type},
          this.metadata(), {});
      this.streams.set(type, stream);
      stream.on('data', (event) => this.opts.onEvent(event));
      stream.on('error', (err) => {
        if (!this.stopped) this.opts.log(`watch ${type} ended: ${err.code}`);
      });
      stream.on('close', resolve);
    });
  }

  async watchLoop(type) {
    const backoff = new Backoff();
    while (!this.stopped) {
      const opened = Date.now();
      await this.watchOnce(type);
      if (this.stopped) return;
      // A watch that ends may mean a host that restarted, or one that found
      // us gone: check the identity and the registrations at once, then
      // open the watch again.
      this.reregister = true;
      this.alarm.wake();
      if (Date.now() - opened > BACKOFF_MAX_MS) backoff.next = BACKOFF_FIRST_MS;
      await new Promise((r) => setTimeout(r, backoff.delay(null)));
    }
  }

  // Joins the host (waiting for it); then the heartbeat and the watches
  // run until close(). Resolves false if close() came first.
  async start() {
    if (!(await this.joinPatiently(false))) return false;
    this.loops.push(this.heartbeat());
    for (const type of this.opts.watches) this.loops.push(this.watchLoop(type));
    return true;
  }

  // Stops the loops, unregisters (best effort) and closes the channel.
  async close() {
    this.stopped = true;
    this.alarm.wake();
    for (const stream of this.streams.values()) stream.cancel();
    await Promise.all(this.loops);
    for (const id of this.registrations) {
      try {
        await unary(this.client, this.methods.unregister,
            {registration_id: id}, this.metadata(), 2000);
      } catch (err) {
        // A host that is gone forgets us anyway.
      }
    }
    this.client.close();
  }

  // A unary call to a provider of `type` through the host's router (the
  // routing-metadata form); `method` is a loaded method definition, e.g.
  // pb.capability.logger.v1.Logger.service.Log.
  call(type, method, request, timeoutMs = CALL_TIMEOUT_MS) {
    const md = this.metadata();
    md.set('x-cplugin-service-type', type);
    return unary(this.client, method, request, md, timeoutMs).catch((err) => {
      if (err.code === grpc.status.UNAUTHENTICATED) this.alarm.wake();
      throw err;
    });
  }
}

module.exports = {HostLink, COOKIE_KEY, COOKIE_VALUE};
