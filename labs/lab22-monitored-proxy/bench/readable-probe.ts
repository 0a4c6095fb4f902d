// Why the steering test asks `readable` only while no receive is pending: a ROUTER with a receive
// pending, a DEALER sending it one message, and the same process asking `readable` (ZMQ_EVENTS) in a
// loop meanwhile. Counts the rounds whose receive never completes within 500 ms.
// Run: node --import tsx bench/readable-probe.ts [rounds]
import { setTimeout as sleep } from "node:timers/promises";
import { Dealer, Router } from "zeromq";

const rounds = Number(process.argv[2] ?? 200);
let hung = 0;
for (let round = 0; round < rounds; round++) {
  const router = new Router({ linger: 0 });
  await router.bind("tcp://127.0.0.1:*");
  const dealer = new Dealer({ linger: 0 });
  dealer.connect(router.lastEndpoint as string);
  let received = false;
  const pending = router.receive().then(
    () => {
      received = true;
    },
    () => undefined,
  );
  let asking = true;
  const ask = () => {
    if (!asking) return;
    void router.readable;
    setImmediate(ask);
  };
  ask();
  await dealer.send("one");
  for (let waited = 0; !received && waited < 500; waited += 5) await sleep(5);
  asking = false;
  if (!received) hung += 1;
  router.close();
  dealer.close();
  await pending;
}
console.log(`${hung} of ${rounds} receives never completed while readable was asked`);
