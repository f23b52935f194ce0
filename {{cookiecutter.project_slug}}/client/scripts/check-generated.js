// Run by `npm run build` first (the prebuild script): src/main.ts imports the typed client that
// `npm run generate` writes from Electric's schema, and without it the build fails with a stack
// trace. This says what to do instead, in one line.
import { existsSync } from "node:fs";

if (!existsSync(new URL("../src/generated/client/index.ts", import.meta.url))) {
  console.error(
    "client/src/generated/client is missing: start Electric (docker compose up -d) and run " +
      "`npm run generate` first",
  );
  process.exit(1);
}
