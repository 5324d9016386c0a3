// Bundles src/main.ts for scripts/build_app.py (which inlines the result); the bundle goes to stdout.
import { build } from "esbuild";
import { dirname, join } from "node:path";

// zod re-exports all of its ~50 message locales as `z.locales`; nothing the view runs reads them (zod
// itself configures English), and they were 264 kB of the document. Only English stays.
const englishOnly = {
  name: "zod-english-only",
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](core|classic)$/.test(args.resolveDir)
        ? { path: join(dirname(args.resolveDir), "locales", "en.js"), namespace: "zod-en" }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "zod-en" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: dirname(args.path),
      loader: "js",
    }));
  },
};

const result = await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  platform: "browser",
  legalComments: "none",
  charset: "utf8",
  write: false,
  plugins: [englishOnly],
});
process.stdout.write(result.outputFiles[0].text);
