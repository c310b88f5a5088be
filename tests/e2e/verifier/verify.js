// Verifies real deliveries with the reference libraries: the Standard
// Webhooks package (`standardwebhooks`) and Svix's (`svix`, which reads
// svix-* headers first). Usage: node verify.js <file>, where <file> holds a
// JSON array of {"secret", "headers": {name: value}, "body"}. Prints one JSON
// line per delivery: {"standardwebhooks": "ok" | error, "svix": "ok" | error}.
"use strict";
const fs = require("fs");
const { Webhook } = require("standardwebhooks");
const svix = require("svix");

function check(make, d) {
  try {
    make(d.secret).verify(d.body, d.headers);
    return "ok";
  } catch (e) {
    return String(e && e.message ? e.message : e);
  }
}

const deliveries = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
for (const d of deliveries) {
  console.log(
    JSON.stringify({
      standardwebhooks: check((s) => new Webhook(s), d),
      svix: check((s) => new svix.Webhook(s), d),
    })
  );
}
