// zeromq.js's built-in Proxy (libzmq's zmq_proxy_steerable in a worker thread), ROUTER-DEALER,
// as its own process, for the bench to compare against: node --import tsx bench/builtin-proxy.ts FRONT BACK
import { Dealer, Router, Proxy as ZmqProxy } from "zeromq";

const [front, back] = process.argv.slice(2);
const proxy = new ZmqProxy(new Router({ linger: 0 }), new Dealer({ linger: 0 }));
await proxy.frontEnd.bind(front as string);
await proxy.backEnd.bind(back as string);
const done = proxy.run();
process.on("SIGTERM", () => proxy.terminate());
console.log("ready");
await done;
