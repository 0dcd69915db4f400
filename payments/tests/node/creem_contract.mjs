// Run by payments/tests/creem_contract.rs: Creem's official SDK (npm
// `creem`, strict schemas) talks to uni1's Creem fake and reads what it
// answers and sends; the SDK also checks signatures made by uni1.
import { Creem } from "creem";
import { constructWebhookEventEntity, verifyWebhookSignature } from "creem/webhooks.js";
import { createHmac } from "node:crypto";

const { FAKE, KEY, SECRET, SIGNED_PAYLOAD, SIGNATURE, REFUND } = process.env;
const creem = new Creem({ apiKey: KEY, serverURL: FAKE });
const seen = [];

const checkout = await creem.checkouts.create({
  productId: "prod_plan",
  requestId: "0193a1c2-0000-7000-8000-000000000001",
  customer: { email: "contract@example.com" },
  successUrl: "http://127.0.0.1:9/billing/return?order=1",
  metadata: { uni1_order_id: "0193a1c2-0000-7000-8000-000000000001" },
});
if (!checkout.checkoutUrl?.startsWith(FAKE)) throw new Error(`checkout URL ${checkout.checkoutUrl}`);
seen.push(`checkout ${checkout.status}`);

const paid = await fetch(`${checkout.checkoutUrl}/pay`, { method: "POST", redirect: "manual" });
if (paid.status !== 303 && paid.status !== 302) throw new Error(`pay: ${paid.status}`);

const events = (await (await fetch(`${FAKE}/_fake/events`)).json()).filter((e) => e.eventType);
let subscriptionId;
for (const e of events) {
  const body = JSON.stringify(e);
  const sig = createHmac("sha256", SECRET).update(body).digest("hex");
  const entity = await constructWebhookEventEntity(body, { "creem-signature": sig }, SECRET);
  if (entity.eventType === "subscription.paid") subscriptionId = entity.object.id;
  seen.push(entity.eventType);
}

const sub = await creem.subscriptions.get(subscriptionId);
seen.push(`subscription ${sub.status}`);
const links = await creem.customers.generateBillingLinks({ customerId: "cust_contract" });
if (!links.customerPortalLink) throw new Error("no portal link");
seen.push("portal");

const refund = await constructWebhookEventEntity(
  REFUND,
  { "creem-signature": createHmac("sha256", SECRET).update(REFUND).digest("hex") },
  SECRET,
);
seen.push(refund.eventType);

// A signature made by uni1 (Rust) passes the SDK's check; a changed body does not.
await verifyWebhookSignature(SIGNED_PAYLOAD, { "creem-signature": SIGNATURE }, SECRET);
let refused = false;
try {
  await verifyWebhookSignature(SIGNED_PAYLOAD + " ", { "creem-signature": SIGNATURE }, SECRET);
} catch {
  refused = true;
}
if (!refused) throw new Error("a changed body passed");
seen.push("signature");
process.stdout.write(seen.join("\n"));
