#!/usr/bin/env node
// kv-plugin, in Node: provides the "kv" service (kv.v1.KVService, every
// call kind: unary Get/Put/Delete, server-streaming Watch, client-streaming
// BatchPut, bidirectional Session) in memory, with the same answers as the C
// kv-plugin, and logs each change to the "logger" provider (the C
// logger-plugin) through the host's router.
//
//   HOST_URL=127.0.0.1:PORT node kv_plugin.js [--listen ADDRESS]
//
// It serves on ADDRESS (default 127.0.0.1:0, a free port), prints
// "LISTENING <address>", joins the host (waiting for it if it is not up
// yet), prints "WATCH <type> <state> <provider>" for each event of the
// services it watches (storage and logger), and runs until SIGINT or SIGTERM
// (or the host's PluginControl/Shutdown), then unregisters. After a host
// restart it joins again by itself.
'use strict';
const grpc = require('@grpc/grpc-js');
const {HostLink} = require('./cplugin_link');
const protos = require('./protos');

const MAX_KEY_BYTES = 4096; // as the C kv-plugin
const MAX_KEYS = 100000;
const MAX_WATCHERS = 1024;
const WATCH_STARTED_KEY = '_watch_started';
const EVENT = {STARTED: 0, PUT: 1, DELETE: 2};

function fail(code, details) {
  return {code, details};
}

function keyError(key) {
  if (!key) return fail(grpc.status.INVALID_ARGUMENT, 'key must not be empty');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
    return fail(grpc.status.INVALID_ARGUMENT,
        `key longer than ${MAX_KEY_BYTES} bytes`);
  }
  return null;
}

class Store {
  constructor(log) {
    this.data = new Map();
    this.watchers = new Set(); // {prefix, call}
    this.log = log; // (message, key) => void, fire and forget
  }

  put(key, value) {
    const err = keyError(key);
    if (err) return err;
    if (!this.data.has(key) && this.data.size >= MAX_KEYS) {
      return fail(grpc.status.RESOURCE_EXHAUSTED, 'store full');
    }
    this.data.set(key, Buffer.from(value));
    this.notify({type: EVENT.PUT, key, value});
    this.log('put', key);
    return null;
  }

  remove(key) {
    const err = keyError(key);
    if (err) return {err};
    const found = this.data.delete(key);
    if (found) {
      this.notify({type: EVENT.DELETE, key, value: Buffer.alloc(0)});
      this.log('delete', key);
    }
    return {found};
  }

  notify(event) {
    for (const w of this.watchers) {
      if (w.prefix !== null && event.key.startsWith(w.prefix)) {
        w.call.write(event);
      }
    }
  }

  // Ends every watch (UNAVAILABLE, as the C store) so the server can stop.
  close() {
    for (const w of this.watchers) {
      w.call.emit('error', fail(grpc.status.UNAVAILABLE, 'store closed'));
    }
    this.watchers.clear();
  }

  // Adds a watcher of `call` (prefix null until the session names it).
  watch(call, prefix) {
    if (this.watchers.size >= MAX_WATCHERS) {
      return fail(grpc.status.RESOURCE_EXHAUSTED,
          `too many watchers (${MAX_WATCHERS})`);
    }
    const w = {prefix, call};
    this.watchers.add(w);
    call.on('cancelled', () => this.watchers.delete(w));
    call.on('finish', () => this.watchers.delete(w));
    return w;
  }
}

function service(store) {
  return {
    Get(call, done) {
      const err = keyError(call.request.key);
      if (err) return done(err);
      const value = store.data.get(call.request.key);
      done(null, {value: value || Buffer.alloc(0), found: value !== undefined});
    },
    Put(call, done) {
      const err = store.put(call.request.key, call.request.value);
      done(err, err ? undefined : {});
    },
    Delete(call, done) {
      const {err, found} = store.remove(call.request.key);
      done(err || null, err ? undefined : {found});
    },
    Watch(call) {
      const prefix = call.request.prefix;
      if (Buffer.byteLength(prefix) > MAX_KEY_BYTES) {
        return call.emit('error', fail(grpc.status.INVALID_ARGUMENT,
            `prefix longer than ${MAX_KEY_BYTES} bytes`));
      }
      const w = store.watch(call, prefix);
      if (w.code) return call.emit('error', w);
      // First event: the watch is in place; changes after it are seen.
      call.write({type: EVENT.STARTED, key: WATCH_STARTED_KEY});
    },
    BatchPut(call, done) {
      let stored = 0;
      let failed = null;
      call.on('data', (pair) => {
        if (failed) return;
        failed = store.put(pair.key, pair.value);
        if (!failed) stored++;
      });
      call.on('end', () => (failed ? done(failed) : done(null, {stored})));
    },
    Session(call) {
      let w = null;
      call.on('data', (op) => {
        let err = null;
        if (op.op === 'watch') {
          if (w && w.prefix !== null) {
            err = fail(grpc.status.FAILED_PRECONDITION,
                'the session already watches a prefix');
          } else {
            w = w || store.watch(call, null);
            if (w.code) {
              err = w;
            } else {
              w.prefix = op.watch;
              call.write({type: EVENT.STARTED, key: WATCH_STARTED_KEY});
            }
          }
        } else if (op.op === 'put') {
          err = store.put(op.put.key, op.put.value);
        } else if (op.op === 'remove') {
          err = store.remove(op.remove.key).err || null;
        } else {
          err = fail(grpc.status.INVALID_ARGUMENT, 'session request names no op');
        }
        if (err) call.emit('error', err);
      });
      // The caller is done sending: the session ends, OK.
      call.on('end', () => call.end());
    },
  };
}

function control(stop) {
  return {
    GetHealth(call, done) {
      done(null, {state: 1 /* HEALTHY */, reason: '',
        unavailable_dependencies: []});
    },
    Shutdown(call, done) {
      console.log(`shutdown asked by the host: ${call.request.reason}`);
      done(null, {acknowledged: true});
      setImmediate(stop);
    },
  };
}

// grpc.health.v1: the host probes silent providers with Check.
const health = {
  Check(call, done) {
    done(null, {status: 1 /* SERVING */});
  },
  Watch(call) {
    call.write({status: 1});
  },
};

function parseArgs(argv) {
  const args = {listen: '127.0.0.1:0'};
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--listen' && i + 1 < argv.length) {
      args.listen = argv[i + 1];
    } else {
      console.error('usage: kv_plugin.js [--listen ADDRESS]');
      process.exit(2);
    }
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const hostUrl = process.env.HOST_URL;
  if (!hostUrl) {
    console.error('kv_plugin.js: set HOST_URL to the host\'s address');
    process.exit(2);
  }
  const pb = protos.load();
  const server = new grpc.Server();
  const port = await new Promise((resolve, reject) =>
    server.bindAsync(args.listen, grpc.ServerCredentials.createInsecure(),
        (err, p) => (err ? reject(err) : resolve(p))));
  const address = `${args.listen.slice(0, args.listen.lastIndexOf(':'))}:${port}`;

  const link = new HostLink(pb, hostUrl, {
    selfId: 'kv',
    selfVersion: '1.0.0',
    provides: [['kv', '1.0.0', '/kv.v1.KVService/']],
    baseUrl: address,
    watches: ['storage', 'logger'],
    onEvent: (e) => console.log(`WATCH ${e.service_type} ${
      ['UNSPECIFIED', 'AVAILABLE', 'UNAVAILABLE', 'DEGRADED'][e.state]} ${
      (e.endpoint && e.endpoint.provider_id) || '-'}`),
    log: (m) => console.error(`kv: ${m}`),
  });
  const Log = pb.capability.logger.v1.Logger.service.Log;
  const store = new Store((message, key) => {
    // Fire and forget: a missing logger is not the caller's problem.
    link.call('logger', Log, {level: 'info', message, fields: {key}}, 2000)
        .catch(() => {});
  });

  let stopping = null;
  const stop = () => {
    stopping = stopping || (async () => {
      await link.close();
      store.close();
      const force = setTimeout(() => server.forceShutdown(), 2000);
      await new Promise((resolve) => server.tryShutdown(resolve));
      clearTimeout(force);
    })();
    return stopping;
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  server.addService(pb.kv.v1.KVService.service, service(store));
  server.addService(pb.connectplugin.v1.PluginControl.service, control(stop));
  server.addService(pb.grpc.health.v1.Health.service, health);
  console.log(`LISTENING ${address}`);
  link.start(); // waits for the host in the background
}

main().catch((err) => {
  console.error(`kv_plugin.js: ${err.message}`);
  process.exit(1);
});
