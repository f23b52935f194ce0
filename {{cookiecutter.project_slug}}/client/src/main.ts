// The `items` table, synced from Postgres by Electric into a local Postgres in the browser
// (PGlite), shown live. Run `npx electric-sql generate` first: it writes ./generated/client.
import { PGlite } from "@electric-sql/pglite";
import { electrify } from "electric-sql/pglite";

import { schema } from "./generated/client";

const status = document.querySelector<HTMLParagraphElement>("#status")!;
const list = document.querySelector<HTMLUListElement>("#items")!;

// The signed-in user's token from Django (GET /electric/token/, with the session cookie). Each
// is good until its expires_at: fetch a new one whenever you connect again.
async function electricToken(): Promise<string> {
  const response = await fetch("/electric/token/", { credentials: "same-origin" });
  if (response.status === 401) {
    throw new Error("Sign in first (/admin/), then reload.");
  }
  if (!response.ok) {
    throw new Error(`No Electric token: HTTP ${response.status}`);
  }
  const { token } = await response.json();
  return token;
}

async function main() {
  const db = new PGlite("idb://{{ cookiecutter.project_slug }}");
  const electric = await electrify(db, schema, { url: import.meta.env.ELECTRIC_SERVICE });
  await electric.connect(await electricToken());

  // Ask Electric for the rows of `items`; `synced` resolves once the first copy has arrived.
  const shape = await electric.db.items.sync();
  await shape.synced;
  status.textContent = "Synced: changes made in Django appear here, and here first when offline.";

  electric.db.items.liveMany({ orderBy: { created_at: "asc" } }).subscribe(({ results }) => {
    list.replaceChildren(
      ...(results ?? []).map((item) => {
        const row = document.createElement("li");
        row.textContent = item.done ? `${item.title} (done)` : item.title;
        return row;
      }),
    );
  });
}

main().catch((error) => {
  status.textContent = String(error);
});
