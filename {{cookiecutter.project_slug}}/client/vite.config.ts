import { defineConfig } from "vite";

// Django, as compose publishes it: the dev server forwards these paths there, so the page and
// /electric/token/ share an origin and the session cookie (sign in at /admin/).
const django = "http://localhost:{{ cookiecutter.django_port }}";

export default defineConfig({
  // Only ELECTRIC_SERVICE reaches the browser: .env also holds the proxy password.
  envPrefix: "ELECTRIC_SERVICE",
  server: {
    proxy: { "/electric/": django, "/admin/": django, "/static/": django },
  },
  // PGlite loads its WebAssembly itself; Vite's pre-bundling would break that.
  optimizeDeps: { exclude: ["@electric-sql/pglite"] },
});
