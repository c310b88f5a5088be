// Validates an OpenAPI document (a file, or stdin when the path is "-")
// with @apidevtools/swagger-parser, an implementation independent of the
// service: the OpenAPI 3.0 JSON Schema, then $ref resolution and the
// parser's own checks (unique operationIds, path parameters declared, ...).
// Prints "valid" and exits 0, or prints the problem and exits 1.
"use strict";
const fs = require("fs");
const SwaggerParser = require("@apidevtools/swagger-parser");

async function main() {
  const path = process.argv[2];
  const text = fs.readFileSync(path === "-" || !path ? 0 : path, "utf8");
  const doc = JSON.parse(text);
  await SwaggerParser.validate(doc);
  console.log("valid");
}

main().catch((err) => {
  console.log(String(err && err.message ? err.message : err));
  process.exit(1);
});
