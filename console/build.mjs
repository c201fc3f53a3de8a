// Bundles the console: src/main.js (with d3-geo, topojson-client, the Natural Earth
// countries of world-atlas, uPlot) into console.js, src/console.css (with uPlot's) into
// console.css, and copies src/index.html. service/build.rs runs it at every cargo build
// that changed console/; by hand: `npm ci && npm run build` writes dist/.
//
//   node build.mjs [--node-modules DIR] [--outdir DIR]
import { createRequire } from "node:module";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? resolve(process.argv[i + 1]) : fallback;
};
const nodeModules = arg("--node-modules", join(here, "node_modules"));
const outdir = arg("--outdir", join(here, "dist"));
const esbuild = createRequire(join(nodeModules, "index.js"))("esbuild");

mkdirSync(outdir, { recursive: true });
const common = {
  bundle: true,
  minify: true,
  nodePaths: [nodeModules],
  legalComments: "none",
  logLevel: "warning",
};
await esbuild.build({
  ...common,
  entryPoints: [join(here, "src/main.js")],
  outfile: join(outdir, "console.js"),
  format: "iife",
  target: "es2020",
});
await esbuild.build({
  ...common,
  entryPoints: [join(here, "src/console.css")],
  outfile: join(outdir, "console.css"),
});
copyFileSync(join(here, "src/index.html"), join(outdir, "index.html"));
