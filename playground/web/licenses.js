// Writes ../static/THIRD_PARTY_LICENSES.txt: the licence of every npm
// package bundled into editor.js (the runtime dependencies in
// package-lock.json; esbuild is a build tool and is not bundled), and
// ../static/editor.js.inputs: the SHA-256 of the bundle's inputs, which a
// Go test compares so a changed source without a rebuilt bundle fails CI.
const fs = require("fs");
const crypto = require("crypto");
const lock = require("./package-lock.json");
let out = "Third-party code bundled into editor.js (built by `make playground-bundle`)\n\n";
for (const [path, p] of Object.entries(lock.packages)) {
  if (!path || p.dev) continue;
  const dir = path;
  const lic = fs.readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  out += "=".repeat(78) + `\n${path.replace(/^node_modules\//, "")} ${p.version} — ${p.license}\n` + "=".repeat(78) + "\n";
  out += lic ? fs.readFileSync(dir + "/" + lic, "utf8").trim() + "\n\n" : `(no licence file in the package; licence field: ${p.license})\n\n`;
}
fs.writeFileSync("../static/THIRD_PARTY_LICENSES.txt", out);
const sum = (f) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
fs.writeFileSync("../static/editor.js.inputs", ["src/editor.js", "package.json", "package-lock.json"].map((f) => `${sum(f)}  ${f}\n`).join(""));
